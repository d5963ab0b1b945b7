// The transport every vendor client shares: undici with one keep-alive pool per origin, a timeout,
// and retries for idempotent calls only (a retried POST could create a second key). It knows no
// URLs, auth or status meanings; those live in each vendor's client.
import { Agent, request } from "undici";
import { VendorError } from "./errors.ts";

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

export interface WireRequest {
    method: "GET" | "POST" | "PUT" | "DELETE";
    url: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
}

export interface WireResponse {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

export async function send(req: WireRequest, attempts = req.method === "POST" ? 1 : 3): Promise<WireResponse> {
    const origin = new URL(req.url).origin;
    for (let attempt = 1; ; attempt++) {
        try {
            const res = await request(req.url, {
                method: req.method,
                headers: req.headers,
                body: req.body,
                dispatcher: agent,
                headersTimeout: req.timeoutMs ?? 30_000,
                bodyTimeout: req.timeoutMs ?? 30_000,
            });
            const text = await res.body.text();
            if (RETRYABLE_STATUS.has(res.statusCode) && attempt < attempts) {
                await sleep(200 * attempt);
                continue;
            }
            return { status: res.statusCode, headers: res.headers, text };
        } catch (err) {
            if (attempt < attempts) {
                await sleep(200 * attempt);
                continue;
            }
            const code = (err as { code?: string }).code ?? (err as Error).name;
            // The origin only: the path may carry a key id, which for some vendors is the key.
            throw new VendorError(0, `cannot reach ${origin} (${code})`);
        }
    }
}

function sleep(ms: number) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
