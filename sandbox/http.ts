// Small pieces every vendor sandbox needs on top of node:http: bodies, replies, call counting and
// a listener that reports its real address (tests listen on port 0).
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> | void;

export async function readBody(req: http.IncomingMessage, limit = 1 << 20): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > limit) throw new HttpError(413, { error: "payload_too_large", message: "request body too large" });
        chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString("utf8");
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json;charset=UTF-8", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
}

/**
 * How a garbled success reads: a proxy's or load balancer's HTML page, JSON cut off mid-way (a
 * connection closed early behind a proxy that had already sent the status), or JSON of another shape.
 */
export type Garble = "html" | "truncated" | "shape";

/** Answers `status` (a success: the work is done) with a body nobody can read as `body`, as `how` says. */
export function sendGarbled(res: http.ServerResponse, status: number, body: unknown, how: Garble) {
    const json = JSON.stringify(body);
    const text =
        how === "html"
            ? "<!DOCTYPE html><html><head><title>502 Proxy Error</title></head><body><h1>Proxy Error</h1><p>The proxy server received an invalid response from an upstream server.</p></body></html>"
            : how === "truncated"
              ? json.slice(0, Math.floor(json.length / 3))
              : JSON.stringify({ result: "ok" });
    res.writeHead(status, { "content-type": how === "html" ? "text/html; charset=UTF-8" : "application/json;charset=UTF-8", "content-length": Buffer.byteLength(text) });
    res.end(text);
}

/** An error a handler throws to answer with a vendor-shaped body. */
export class HttpError extends Error {
    readonly status: number;
    readonly body: unknown;
    readonly headers: Record<string, string>;
    constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
        super(`HTTP ${status}`);
        this.status = status;
        this.body = body;
        this.headers = headers;
    }
}

/** Counts vendor calls by route template (never by raw path: paths can hold key values). */
export class CallStats {
    total = 0;
    byRoute: Record<string, number> = {};
    tokensIssued = 0;
    count(route: string) {
        this.total++;
        this.byRoute[route] = (this.byRoute[route] ?? 0) + 1;
    }
    reset() {
        this.total = 0;
        this.byRoute = {};
        this.tokensIssued = 0;
    }
    snapshot() {
        return { total: this.total, byRoute: { ...this.byRoute }, tokensIssued: this.tokensIssued };
    }
}

export interface Listening {
    server: http.Server;
    url: string;
    close(): Promise<void>;
}

/** Serves `handler`, turning HttpError into replies and anything else into a 500 without details. */
export async function listen(handler: Handler, port: number, host = "127.0.0.1"): Promise<Listening> {
    const server = http.createServer(async (req, res) => {
        const url = new URL(req.url ?? "/", "http://sandbox");
        try {
            await handler(req, res, url);
        } catch (err) {
            if (err instanceof HttpError) {
                sendJson(res, err.status, err.body, err.headers);
            } else {
                console.error(`sandbox: internal error on ${req.method}: ${(err as Error).message}`);
                sendJson(res, 500, { status: 500, message: "internal server error" });
            }
        }
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return {
        server,
        url: `http://${host}:${address.port}`,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/**
 * A sandbox's records file (`--data`): it holds key values, so it is readable by its owner only,
 * written whole through a temporary file so a crash never leaves half of it, and tightened to 0600
 * when loaded, even if an older keyfleet wrote it readable.
 */
export const records = {
    load<T>(file: string | undefined): T | undefined {
        if (!file || !fs.existsSync(file)) return undefined;
        fs.chmodSync(file, 0o600);
        return JSON.parse(fs.readFileSync(file, "utf8")) as T;
    },
    save(file: string | undefined, data: unknown) {
        if (!file) return;
        const tmp = `${file}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(data, null, 1), { mode: 0o600 });
        fs.chmodSync(tmp, 0o600);
        fs.renameSync(tmp, file);
    },
};
