// The HTTP transport every vendor client shares: undici with one keep-alive pool per origin and a
// timeout. It knows no URLs, auth or status meanings (those live in each vendor's client) and it
// never retries: retries and pacing belong to providers/shared/calls.ts, which decides from the
// error's kind. What it does decide is what a failure to get an answer means: a request that
// surely never reached the server (connection refused, unknown host) was not processed; any other
// lost answer may have been, which matters for a POST that creates a key.
import { Agent, request } from "undici";
import { clock } from "./clock.ts";
import { VendorError } from "./errors.ts";
import { atShutdown } from "./shutdown.ts";

let agent: Agent | undefined;

/** The process's keep-alive pool, made on first use; closeConnections() ends it (the next call makes another). */
function dispatcher(): Agent {
    if (!agent) {
        const made = (agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 }));
        const unregister = atShutdown(async () => {
            unregister();
            if (agent === made) agent = undefined;
            await made.close();
        });
    }
    return agent;
}

/**
 * The largest answer read, unless a request says otherwise. A key API answers a few kilobytes and an
 * admin panel page of thousands of keys a few megabytes; a body past this is a broken or hostile
 * endpoint, and reading it whole (and then retrying) once took 2.4 GB for a 700 MB answer.
 */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface WireRequest {
    method: "GET" | "POST" | "PUT" | "DELETE";
    url: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
    /** Close the connection after the answer (`Connection: close`, no keep-alive). */
    close?: boolean;
    /** The largest answer body read (bytes); default MAX_ANSWER_BYTES. */
    maxBytes?: number;
}

export interface WireResponse {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
}

/** Errors that mean the request never left or never arrived. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

export async function send(req: WireRequest): Promise<WireResponse> {
    const origin = new URL(req.url).origin;
    try {
        const res = await request(req.url, {
            method: req.method,
            headers: req.close ? { ...req.headers, connection: "close" } : req.headers,
            reset: req.close === true,
            body: req.body,
            dispatcher: dispatcher(),
            headersTimeout: req.timeoutMs ?? 30_000,
            bodyTimeout: req.timeoutMs ?? 30_000,
        });
        observeDate(origin, res.headers.date);
        return { status: res.statusCode, headers: res.headers, text: await readCapped(res.body, res.headers, req.maxBytes ?? MAX_ANSWER_BYTES, origin) };
    } catch (err) {
        if (err instanceof VendorError) throw err;
        const code = (err as { code?: string }).code ?? (err as Error).name;
        // The origin only: the path may carry a key id, which for some vendors is the key.
        const sent = !NOT_SENT.has(code);
        throw new VendorError(sent ? "outcomeUnknown" : "unavailable", sent ? `no answer from ${origin} (${code})` : `cannot reach ${origin} (${code})`, { notProcessed: !sent });
    }
}

function tooLarge(origin: string, max: number): VendorError {
    const size = max >= 1024 * 1024 ? `${Math.round(max / 1024 / 1024)} MiB` : `${Math.round(max / 1024)} KiB`;
    return new VendorError("invalidAnswer", `the answer from ${origin} is larger than ${size}, more than any answer of this API; keyfleet stopped reading it`, {
        hint: "check that the URL points at the product's API and not at another service (a proxy or a file server)",
    });
}

/**
 * The body as text, refused (and the connection dropped) once it passes `max` bytes, or at once when
 * its Content-Length says it will. Decoded as undici's text() does (UTF-8, a leading BOM dropped:
 * PHP and IIS front ends send one).
 */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(err?: Error): void }, headers: WireResponse["headers"], max: number, origin: string): Promise<string> {
    const declared = Number(headers["content-length"]);
    if (Number.isFinite(declared) && declared > max) {
        body.destroy();
        throw tooLarge(origin, max);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
        size += chunk.length;
        if (size > max) {
            body.destroy();
            throw tooLarge(origin, max);
        }
        chunks.push(chunk);
    }
    return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Retry-After in milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfterMs(headers: WireResponse["headers"], now = Date.now()): number | undefined {
    const raw = headers["retry-after"];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (!value) return undefined;
    if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
    const at = Date.parse(value);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Per origin: how far its clock is ahead of keyfleet's (ms), from the Date header of its latest answer. */
const serverClocks = new Map<string, number>();

function observeDate(origin: string, raw: string | string[] | undefined) {
    const value = Array.isArray(raw) ? raw[0] : raw;
    const at = value ? Date.parse(value) : Number.NaN;
    // The header counts whole seconds (RFC 9110 §5.6.7), sent when the answer was made: the offset
    // is at most a second (plus the answer's transit) behind the truth, which a lookup window absorbs.
    if (!Number.isNaN(at)) serverClocks.set(origin, at - clock.now());
}

/**
 * How far the clock of the server at `url` is ahead of keyfleet's (ms, negative when behind), from
 * the HTTP Date header of its latest answer (every origin server with a clock sends one, RFC 9110
 * §6.6.1); undefined when none of its answers carried one.
 */
export function serverClockOffset(url: string): number | undefined {
    return serverClocks.get(new URL(url).origin);
}
