// The benchmark's view of each vendor's sandbox (bench/bench.ts loops over providers/vendors.ts and
// asks this table by section, so bench/ names no vendor): a sandbox of the run's own with random
// credentials and its rate limit on, the stack settings that point at it, N keys of it as YAML, and
// what it counted (vendor calls, token requests, 429s, failures, when the first and last call came).
// Lives in sandbox/ because it starts fakes; shipped code never loads it (test/layout.test.ts).
import crypto from "node:crypto";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { BeyondTrustSandbox } from "./beyondtrust.ts";
import { startMysqlCounter } from "./fault-proxy.ts";
import { GenesysSandbox, GENESYS_DEFAULTS } from "./genesys.ts";
import { listen, type CallStats, type Handler } from "./http.ts";
import { SupportCenterSandbox, SUPPORTCENTER_DEFAULTS } from "./supportcenter.ts";

export interface BenchCounts {
    /** Requests to the vendor's API (for a database: statements), token requests excluded. */
    calls: number;
    /** Token requests (for a database: connections, each a login). */
    tokens: number;
    /** Answers 429. */
    throttled: number;
    /** Answers 5xx. */
    failed: number;
    /** When the first and last call of the window came (ms, performance.now()), or undefined. */
    first?: number;
    last?: number;
}

export interface BenchSandbox {
    /** The rate limit the sandbox enforces in the run, as the table says it. */
    limit: string;
    config(): ConfigMap;
    /** The vendor's YAML section declaring a key per name, all rotated to `generation` (with an overlap when asked). */
    yaml(names: string[], rotation: { generation: number; overlap: boolean }): string;
    counts(): BenchCounts;
    reset(): void;
    close(): Promise<void>;
}

/** HTTP answers the sandbox's own stats do not tell apart: 429s, 5xx, and when calls came. */
function watched(handler: Handler) {
    const seen = { throttled: 0, failed: 0, first: undefined as number | undefined, last: undefined as number | undefined };
    const wrapped: Handler = (req, res, url) => {
        if (!url.pathname.startsWith("/_sandbox")) {
            const now = performance.now();
            seen.first ??= now;
            seen.last = now;
            res.on("finish", () => {
                if (res.statusCode === 429) seen.throttled++;
                else if (res.statusCode >= 500) seen.failed++;
            });
        }
        return handler(req, res, url);
    };
    const reset = () => Object.assign(seen, { throttled: 0, failed: 0, first: undefined, last: undefined });
    return { wrapped, seen, reset };
}

async function http(handler: Handler, stats: CallStats, limit: string, config: (url: string) => ConfigMap, yaml: BenchSandbox["yaml"]): Promise<BenchSandbox> {
    const w = watched(handler);
    const server = await listen(w.wrapped, 0);
    return {
        limit,
        config: () => config(server.url),
        yaml,
        counts: () => ({ calls: stats.total - stats.tokensIssued, tokens: stats.tokensIssued, throttled: w.seen.throttled, failed: w.seen.failed, first: w.seen.first, last: w.seen.last }),
        reset() {
            stats.reset();
            w.reset();
        },
        close: () => server.close(),
    };
}

/**
 * Logins the bench's keys of each vendor use, so each may ask for one token per process; null for
 * a vendor without tokens, whose "token requests" column counts database connections instead.
 */
export const benchCredentials: Record<string, number | null> = { nexus: 1, beyondtrust: 1, supportcenter: 0, supportsystem: null };

const rotationOf = (r: { generation: number; overlap: boolean }) => `, rotation: { generation: ${r.generation}${r.overlap ? ", overlap: 1d" : ""} }`;

export const benchSandboxes: Record<string, () => Promise<BenchSandbox>> = {
    async nexus() {
        const secret = (what: string) => `${what}-${crypto.randomUUID()}`;
        const creds = { client: secret("client-secret"), tenant: secret("tenant-password"), ops: secret("ops-password") };
        // Nexus documents no key-API limit; the sandbox models one per login, set here as the rate-limit test's.
        const keyApiLimit = { requests: 20, windowMs: 1000 };
        const sandbox = new GenesysSandbox({ client: { id: "nexus_client", secret: creds.client }, tenantUser: { name: "nexus", password: creds.tenant }, opsAdmin: { name: "ops", password: creds.ops }, keyApiLimit });
        return http(
            sandbox.handler,
            sandbox.stats,
            "20 key-API requests/s per login (modelled; none documented)",
            (url) => ({
                "keyfleet:nexus": { value: JSON.stringify({ authUrl: url, nexusUrl: url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops" }) },
                "keyfleet:nexusClientSecret": { value: creds.client, secret: true },
                "keyfleet:nexusTenantPassword": { value: creds.tenant, secret: true },
                "keyfleet:nexusOpsPassword": { value: creds.ops, secret: true },
            }),
            (names, r) => `nexus:\n  contactCenter: ${GENESYS_DEFAULTS.contactCenter}\n  tenantKeys:\n${names.map((n) => `    - { name: ${n}, permissions: [nexus:consumer:chat]${rotationOf(r)} }\n`).join("")}`,
        );
    },
    async beyondtrust() {
        const secret = `bt-bench-secret-${crypto.randomUUID()}`;
        // The sandbox's default limit is the documented one: 20 requests/s and 15,000/h per API account.
        const sandbox = new BeyondTrustSandbox({ client: { id: "keyfleet_bench", secret } });
        return http(
            sandbox.handler,
            sandbox.stats,
            "20 requests/s and 15,000/h per API account (documented)",
            (url) => ({
                "keyfleet:beyondtrust": { value: JSON.stringify({ url, clientId: "keyfleet_bench" }) },
                "keyfleet:beyondtrustClientSecret": { value: secret, secret: true },
            }),
            (names, r) => `beyondtrust:\n  sessionKeys:\n${names.map((n) => `    - { name: ${n}, queue: general${rotationOf(r)} }\n`).join("")}`,
        );
    },
    async supportcenter() {
        const users = Object.values(SUPPORTCENTER_DEFAULTS.users).map((u) => ({ ...u, roles: [...u.roles], password: `${u.login}-password-${crypto.randomUUID()}`, technicianKey: crypto.randomUUID().toUpperCase() }));
        // SupportCenter Plus documents no number; the sandbox models a window per technician key.
        const rateLimit = { requests: 20, windowSeconds: 1 };
        const sandbox = new SupportCenterSandbox({ users, rateLimit });
        const admin = users.find((u) => u.login === "admin")!;
        return http(
            sandbox.handler,
            sandbox.stats,
            "20 requests/s per technician key (modelled; none documented)",
            (url) => ({
                "keyfleet:supportcenter": { value: JSON.stringify({ url }) },
                "keyfleet:supportcenterOwners": { value: JSON.stringify({ admin: { technicianKey: admin.technicianKey, password: admin.password } }), secret: true },
            }),
            (names, r) => `supportcenter:\n  integrationKeys:\n${names.map((n) => `    - { name: ${n}, roles: [SDAdmin], owner: admin${rotationOf(r)} }\n`).join("")}`,
        );
    },
    async supportsystem() {
        const { startHelpDesk } = await import("../test/helpers/supportsystem.ts");
        const desk = await startHelpDesk();
        const settings = JSON.parse(desk.settings["keyfleet:supportsystem"]!) as { host: string; port: string };
        const counter = await startMysqlCounter(settings.host, Number(settings.port));
        let first: number | undefined;
        return {
            limit: "none (a MySQL database)",
            config: () => ({ ...desk.config(), "keyfleet:supportsystem": { value: JSON.stringify({ ...settings, host: "127.0.0.1", port: String(counter.port) }) } }),
            yaml: (names, r) => `supportsystem:\n  apiKeys:\n${names.map((n, i) => `    - { name: ${n}, ip: 10.77.${Math.floor(i / 250)}.${(i % 250) + 1}${rotationOf(r)} }\n`).join("")}`,
            counts: () => ({ calls: counter.counts.statements, tokens: counter.counts.connections, throttled: 0, failed: 0, first, last: undefined }),
            reset() {
                counter.reset();
                first = undefined;
            },
            async close() {
                await counter.close();
                await desk.close();
            },
        };
    },
};
