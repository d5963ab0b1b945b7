// Fault profiles for any sandbox, as a proxy in front of it (issue 17's campaign): the same faults
// for every vendor, without teaching each sandbox a random mode. What a real network and a real
// vendor do, each at a seeded, repeatable rate:
// - HTTP: an outage answer (503) or a rate-limit answer (429 with Retry-After) without passing the
//   request on; latency before the vendor sees the request, or after it did the work (an answer
//   that comes late: a client killed meanwhile never learns of it); a reset before the request reaches the vendor; a lost answer (the vendor
//   did the work, then the connection is reset before the answer); an unreadable success (the
//   vendor's 2xx replaced by a proxy's HTML page).
// - MySQL: a connection refused at connect; a connection dropped just before a statement that
//   writes (INSERT, UPDATE, DELETE, COMMIT, or a prepared statement's execution) reaches the
//   server, or just after the server ran it and before its answer comes back.
// Counts what it forwards, per proxy, so a campaign can print vendor calls.
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export type HttpFault = "503" | "429" | "slow" | "late" | "reset" | "lost" | "garbled";
export const HTTP_FAULTS: readonly HttpFault[] = ["503", "429", "slow", "late", "reset", "lost", "garbled"];

export interface FaultProfile {
    /** Share of requests (0 to 1) that meet a fault. */
    rate: number;
    /** Faults to pick from, evenly (default all). */
    kinds?: readonly HttpFault[];
}

/** A seeded generator (mulberry32): the same seed gives the same faults in the same order. */
export function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export interface FaultProxy {
    url: string;
    /** The profile in force; change it between runs (rate 0: the vendor has recovered). */
    profile: FaultProfile;
    /** Requests that reached the proxy, and faults injected by kind. */
    stats: { requests: number; forwarded: number; faults: Record<string, number> };
    close(): Promise<void>;
}

const PROXY_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream server.</p></body></html>";

/** An HTTP proxy in front of `target` (http://host:port) that injects `profile`'s faults. */
export async function startHttpFaultProxy(target: string, profile: FaultProfile, random: () => number): Promise<FaultProxy> {
    const upstream = new URL(target);
    const stats = { requests: 0, forwarded: 0, faults: {} as Record<string, number> };
    const state: FaultProxy = { url: "", profile, stats, close: async () => undefined };
    const pick = (): HttpFault | undefined => {
        if (random() >= state.profile.rate) return undefined;
        const kinds = state.profile.kinds ?? HTTP_FAULTS;
        return kinds[Math.floor(random() * kinds.length)];
    };
    const server = http.createServer(async (req, res) => {
        stats.requests++;
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        const fault = pick();
        if (fault) stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
        if (fault === "503") {
            res.writeHead(503, { "content-type": "text/html", connection: "close" });
            return res.end("<html><body><h1>503 Service Unavailable</h1></body></html>");
        }
        if (fault === "429") {
            res.writeHead(429, { "retry-after": "1", "content-type": "text/plain", connection: "close" });
            return res.end("Too Many Requests");
        }
        if (fault === "reset") return req.socket.destroy();
        if (fault === "slow") await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 1200)));
        const headers = { ...req.headers, host: upstream.host };
        const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | undefined>((resolve) => {
            const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, async (r) => {
                const parts: Buffer[] = [];
                for await (const c of r) parts.push(c as Buffer);
                resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(parts) });
            });
            out.on("error", () => resolve(undefined));
            out.end(body);
        });
        stats.forwarded++;
        if (!answer) {
            res.writeHead(502, { connection: "close" });
            return res.end();
        }
        // The vendor has done the work: the answer goes missing, comes late, or arrives as a page nobody can read.
        if (fault === "lost") return req.socket.destroy();
        if (fault === "late") await new Promise((r) => setTimeout(r, 1000 + Math.floor(random() * 2000)));
        if (fault === "garbled" && answer.status >= 200 && answer.status < 300) {
            const { "content-length": _l, "content-type": _t, "transfer-encoding": _e, ...rest } = answer.headers;
            res.writeHead(answer.status, { ...rest, "content-type": "text/html; charset=UTF-8", "content-length": Buffer.byteLength(PROXY_PAGE) });
            return res.end(PROXY_PAGE);
        }
        const { "transfer-encoding": _e, "content-length": _l, ...rest } = answer.headers;
        res.writeHead(answer.status, { ...rest, "content-length": answer.body.length });
        res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    state.close = () =>
        new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        });
    return state;
}

/** MySQL command bytes: COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE. */
const COM_QUERY = 0x03;
const COM_STMT_EXECUTE = 0x17;
const WRITES = /^\s*(INSERT|UPDATE|DELETE|REPLACE|COMMIT)\b/i;

/** Whether a client packet (4-byte header, then the command) asks the server to write. */
function writes(chunk: Buffer): boolean {
    if (chunk.length < 5) return false;
    const command = chunk[4];
    if (command === COM_STMT_EXECUTE) return true;
    return command === COM_QUERY && WRITES.test(chunk.subarray(5, 64).toString("latin1"));
}

/**
 * A TCP relay in front of host:port on a loopback port of its own: each connection is piped both
 * ways through `hooks` (each returns false to stop the chunk), and ends on either side's error or
 * close. `accept` may refuse a connection before it reaches the server.
 */
async function tcpRelay(
    host: string,
    port: number,
    hooks: () => { accept?(): boolean; toServer(chunk: Buffer, end: () => void): boolean; toClient(chunk: Buffer, end: () => void): boolean },
): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        sockets.add(client);
        const h = hooks();
        if (h.accept && !h.accept()) return client.destroy();
        const upstream = net.connect(port, host);
        sockets.add(upstream);
        const end = () => {
            client.destroy();
            upstream.destroy();
        };
        client.on("data", (chunk: Buffer) => void (h.toServer(chunk, end) && upstream.write(chunk)));
        upstream.on("data", (chunk: Buffer) => void (h.toClient(chunk, end) && client.write(chunk)));
        client.on("error", end).on("close", end);
        upstream.on("error", end).on("close", end);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as AddressInfo).port,
        close: () =>
            new Promise<void>((resolve) => {
                for (const s of sockets) s.destroy();
                server.close(() => resolve());
            }),
    };
}

/** A TCP proxy in front of a MySQL/MariaDB server that drops connections around writes. */
export async function startMysqlFaultProxy(host: string, port: number, profile: FaultProfile, random: () => number): Promise<FaultProxy & { port: number }> {
    const stats = { requests: 0, forwarded: 0, faults: {} as Record<string, number> };
    const count = (k: string) => (stats.faults[k] = (stats.faults[k] ?? 0) + 1);
    const state = { url: "", port: 0, profile, stats, close: async () => undefined } as FaultProxy & { port: number };
    const relay = await tcpRelay(host, port, () => {
        let dropAfter = false;
        return {
            accept: () => {
                if (random() >= state.profile.rate / 4) return true;
                count("refused");
                return false;
            },
            toServer(chunk, end) {
                stats.requests++;
                if (writes(chunk) && random() < state.profile.rate) {
                    if (random() < 0.5) {
                        count("before-write");
                        end();
                        return false;
                    }
                    count("after-write");
                    dropAfter = true;
                }
                stats.forwarded++;
                return true;
            },
            toClient(_chunk, end) {
                // The server ran the statement; its answer never arrives.
                if (!dropAfter) return true;
                end();
                return false;
            },
        };
    });
    state.port = relay.port;
    state.url = `mysql://127.0.0.1:${relay.port}`;
    state.close = relay.close;
    return state;
}

/** A TCP proxy in front of a MySQL/MariaDB server that can withhold the answer to a COMMIT. */
export interface MysqlHoldProxy {
    port: number;
    /**
     * Holds the server's answer to the next COMMIT: the server commits, the client never hears of
     * it (the connection stays open until the client goes away), as a server that stalls after its
     * commit does. Resolves once the server has answered, i.e. the transaction is committed.
     */
    holdNextCommit(): Promise<void>;
    close(): Promise<void>;
}

const COMMIT = /^\s*COMMIT\b/i;

export async function startMysqlHoldProxy(host: string, port: number): Promise<MysqlHoldProxy> {
    let armed: (() => void) | undefined;
    const relay = await tcpRelay(host, port, () => {
        let held: (() => void) | undefined;
        return {
            toServer(chunk) {
                if (armed && chunk.length > 5 && chunk[4] === COM_QUERY && COMMIT.test(chunk.subarray(5, 32).toString("latin1"))) {
                    held = armed;
                    armed = undefined;
                }
                return true;
            },
            toClient() {
                // The server committed; its answer is withheld, and so is everything after it.
                if (!held) return true;
                held();
                held = () => undefined;
                return false;
            },
        };
    });
    return { port: relay.port, holdNextCommit: () => new Promise<void>((resolve) => (armed = resolve)), close: relay.close };
}

/** What a counting relay saw: statements sent (COM_QUERY, COM_STMT_EXECUTE) and connections (each one a login). */
export interface MysqlCounter {
    port: number;
    counts: { statements: number; connections: number };
    reset(): void;
    close(): Promise<void>;
}

/**
 * A TCP relay in front of a MySQL/MariaDB server that counts what a client asks of it, for the
 * benchmark's per-vendor calls: the help desk's keys are rows, so its "calls" are statements and
 * its "logins" connections. Packets are walked by their 3-byte length, so several in one chunk count.
 */
export async function startMysqlCounter(host: string, port: number): Promise<MysqlCounter> {
    const counts = { statements: 0, connections: 0 };
    const relay = await tcpRelay(host, port, () => {
        counts.connections++;
        let authed = false;
        let pending = Buffer.alloc(0);
        return {
            toServer(chunk) {
                pending = Buffer.concat([pending, chunk]);
                while (pending.length >= 4) {
                    const length = pending.readUIntLE(0, 3);
                    if (pending.length < 4 + length) break;
                    const seq = pending[3];
                    // Sequence 0 starts a command; the handshake answer and auth switches come with a later sequence.
                    if (seq === 0 && authed && (pending[4] === COM_QUERY || pending[4] === COM_STMT_EXECUTE)) counts.statements++;
                    if (seq !== 0) authed = true;
                    pending = pending.subarray(4 + length);
                }
                return true;
            },
            toClient: () => true,
        };
    });
    return {
        port: relay.port,
        counts,
        reset() {
            counts.statements = 0;
            counts.connections = 0;
        },
        close: relay.close,
    };
}
