// The Nexus wire client against the Genesys sandbox over real HTTP.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { VendorError } from "../providers/shared/errors.ts";
import { setClock } from "../providers/shared/clock.ts";
import { NexusClient, PAGE_SIZE } from "../providers/nexus/client.ts";
import { nexusLifecycle } from "../providers/nexus/lifecycle.ts";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";

const conn = (box: TestSandbox) => ({ client: box.client, login: box.tenantLogin, probe: { expect: "200" } }) as never;

let t: TestSandbox;
beforeAll(async () => {
    t = await startSandbox({ capacity: 5, frequency: 60 });
});
afterAll(() => t.close());
afterEach(() => {
    delete process.env.KEYFLEET_RETRY_BUDGET_MS;
});

describe("Nexus client", () => {
    it("creates a tenant key as documented and reads it back", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-create", permissions: ["nexus:consumer:chat"], enabled: true });
        expect(key).toMatchObject({ tenant: CC, name: "client-create", permissions: ["nexus:consumer:chat"], enabled: true, revoked: false, expires: false, capacity: 5 });
        expect(key.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(await t.client.get(t.tenantLogin, key.id)).toEqual(key);
        expect((await t.client.list(t.tenantLogin)).map((k) => k.id)).toContain(key.id);
    });

    it("uses one token per credential for many calls", async () => {
        // A fresh client for a fresh login shares the process-wide cache.
        const before = t.sandbox.stats.tokensIssued;
        const other = new NexusClient({ authUrl: t.url, nexusUrl: t.url, clientId: "nexus_client", clientSecret: t.creds.clientSecret });
        await Promise.all([t.client.list(t.opsLogin), other.list(t.opsLogin), t.client.list(t.opsLogin)]);
        await t.client.list(t.opsLogin);
        expect(t.sandbox.stats.tokensIssued - before).toBe(1);
    });

    it("logs in again once when Nexus answers 401 (token revoked early)", async () => {
        await t.client.list(t.tenantLogin);
        const before = t.sandbox.stats.tokensIssued;
        t.sandbox.expireTokens();
        await t.client.list(t.tenantLogin);
        expect(t.sandbox.stats.tokensIssued - before).toBe(1);
    });

    it("updates enabled, expiry and revocation, and refuses to reinstate a revoked key", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-update", permissions: ["nexus:consumer:chat"], enabled: true });
        const updated = await t.client.update(t.tenantLogin, key.id, { enabled: false, expires: "2030-01-01T00:00:00.000Z" });
        expect(updated).toMatchObject({ enabled: false, expires: "2030-01-01T00:00:00.000Z" });
        await t.client.update(t.tenantLogin, key.id, { revoked: true });
        await expect(t.client.update(t.tenantLogin, key.id, { revoked: false })).rejects.toMatchObject({ kind: "conflict", code: "409" });
    });

    it("reports a missing key as undefined on read and false on delete", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-delete", permissions: ["nexus:consumer:chat"], enabled: true });
        expect(await t.client.delete(t.tenantLogin, key.id)).toBe(true);
        expect(await t.client.get(t.tenantLogin, key.id)).toBeUndefined();
        expect(await t.client.delete(t.tenantLogin, key.id)).toBe(false);
    });

    it("surfaces the vendor's status and words", async () => {
        await t.client.create(t.tenantLogin, { tenant: CC, name: "client-dup", permissions: ["nexus:consumer:chat"], enabled: true });
        const err = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-dup", permissions: ["nexus:consumer:chat"], enabled: true }).catch((e) => e);
        expect(err).toBeInstanceOf(VendorError);
        // The Web API reference's {"status": {"code", "message", "detail"}}: message and detail both shown.
        expect(err.message).toBe(`409 name exists: an API key named "client-dup" already exists in tenant ${CC}`);
        const denied = await t.client.create(t.tenantLogin, { tenant: "*", name: "client-cluster", permissions: ["nexus:cluster:*"], enabled: true }).catch((e) => e);
        expect(denied).toMatchObject({ kind: "forbidden", code: "403" });
        const badLogin = await t.client.list({ username: "ops", password: "wrong" }).catch((e) => e);
        expect(badLogin.message).toBe("400 Bad credentials");
    });

    it("still reads the flat {status, message} error shape", async () => {
        const flat = await startSandbox({ errorShape: "flat" });
        try {
            await flat.client.create(flat.tenantLogin, { tenant: CC, name: "flat-dup", permissions: ["nexus:consumer:chat"], enabled: true });
            const err = await flat.client.create(flat.tenantLogin, { tenant: CC, name: "flat-dup", permissions: ["nexus:consumer:chat"], enabled: true }).catch((e) => e);
            expect(err.message).toBe(`409 name exists: an API key named "flat-dup" already exists in tenant ${CC}`);
            flat.sandbox.failNext("GET /nexus/v3/apikeys", 400, "plain words");
            expect((await flat.client.list(flat.tenantLogin).catch((e) => e)).message).toBe("400 plain words");
        } finally {
            await flat.close();
        }
    });

    it("masks a key value the vendor echoes in an error", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-echo", permissions: ["nexus:consumer:chat"], enabled: true });
        t.sandbox.failNext("GET /nexus/v3/apikeys/{id}", 400, `key ${key.id} is broken`);
        const err = await t.client.get(t.tenantLogin, key.id).catch((e) => e);
        expect(err.message).toBe("400 key [redacted] is broken");
        // Masked before the message is shortened, so a key across the cut cannot leave a prefix.
        t.sandbox.failNext("GET /nexus/v3/apikeys/{id}", 400, `${"x".repeat(190)}${key.id}`);
        const long = await t.client.get(t.tenantLogin, key.id).catch((e) => e);
        expect(long.message).toBe(`400 ${"x".repeat(190)}[redacted]`);
        expect(long.message).not.toContain(key.id.slice(0, 8));
    });

    it("after a token expires, 20 parallel calls share one login (defect 4)", async () => {
        const box = await startSandbox({ tokenTtlSeconds: 3600 });
        let offset = 0;
        const restore = setClock(() => Date.now() + offset);
        try {
            await box.client.list(box.opsLogin);
            expect(box.sandbox.stats.tokensIssued).toBe(1);
            // Past the token's lifetime on both clocks: the client's and the sandbox's.
            offset = box.sandbox.clockOffsetMs = 3601_000;
            await Promise.all(Array.from({ length: 20 }, () => box.client.list(box.opsLogin)));
            expect(box.sandbox.stats.tokensIssued).toBe(2);
        } finally {
            restore();
            await box.close();
        }
    });

    it("a refusal of an old token does not evict the newer one (defect 4)", async () => {
        const box = await startSandbox();
        try {
            await box.client.list(box.opsLogin);
            box.sandbox.expireTokens();
            // Both calls hold the dead token; both get 401; one login serves both.
            await Promise.all([box.client.list(box.opsLogin), box.client.list(box.opsLogin), box.client.list(box.opsLogin)]);
            expect(box.sandbox.stats.tokensIssued).toBe(2);
        } finally {
            await box.close();
        }
    });

    it("retries an auth outage and reports it as the service being unavailable, not a wrong password (defect 5)", async () => {
        const box = await startSandbox();
        try {
            box.sandbox.failNext("POST /auth/v3/oauth/token", 503, "down");
            await box.client.list(box.opsLogin);
            expect(box.sandbox.stats.tokensIssued).toBe(1);
            box.sandbox.expireTokens();
            process.env.KEYFLEET_RETRY_BUDGET_MS = "500";
            for (let i = 0; i < 20; i++) box.sandbox.failNext("POST /auth/v3/oauth/token", 500, "down");
            const err = (await box.client.list(box.opsLogin).catch((e) => e)) as VendorError;
            expect(err.kind).toBe("unavailable");
            expect(err.hint).toMatch(/the GWS auth service is unavailable \(this is not a wrong password\)/);
            expect(err.hint).not.toMatch(/check that user's password/);
        } finally {
            box.sandbox.clearFaults();
            await box.close();
        }
    });

    it("waits as a 429 says and retries, every method, within a bounded time (defect 6)", async () => {
        const box = await startSandbox({ keyApiLimit: { requests: 5, windowMs: 1000 } });
        try {
            const made = await Promise.all(
                Array.from({ length: 12 }, (_, i) => box.client.create(box.tenantLogin, { tenant: CC, name: `paced-${i}`, permissions: ["nexus:consumer:chat"], enabled: true })),
            );
            expect(new Set(made.map((k) => k.name)).size).toBe(12);
            expect(box.sandbox.keys.size).toBe(12);
            process.env.KEYFLEET_RETRY_BUDGET_MS = "200";
            const refused = await Promise.all(Array.from({ length: 8 }, () => box.client.list(box.tenantLogin).catch((e) => e)));
            expect(refused.some((e) => e instanceof VendorError && e.kind === "rateLimited")).toBe(true);
        } finally {
            await box.close();
        }
    });

    it("refuses a record missing a field instead of reading a default (defect 7)", async () => {
        for (const field of ["permissions", "enabled", "expires"]) {
            const box = await startSandbox({ omitFields: [field] });
            try {
                const err = (await box.client.create(box.tenantLogin, { tenant: CC, name: "strict", permissions: ["nexus:consumer:chat"], enabled: true }).catch((e) => e)) as VendorError;
                expect(err.kind).toBe("invalidAnswer");
                expect(err.message).toContain(`Nexus answered creating a key with a record whose "${field}" is`);
            } finally {
                await box.close();
            }
        }
    });

    it("follows the key list's pages (limit/offset, an inference)", async () => {
        const box = await startSandbox();
        try {
            for (let i = 0; i < 250; i++) await box.client.create(box.opsLogin, { tenant: "*", name: `page-${i}`, permissions: ["nexus:cluster:*"], enabled: true });
            box.sandbox.stats.reset();
            const all = await box.client.list(box.opsLogin);
            expect(all).toHaveLength(250);
            expect(new Set(all.map((k) => k.id)).size).toBe(250);
            // Three full or short pages, then the empty one that ends the list (a short page is never taken for the last).
            expect(box.sandbox.stats.byRoute["GET /nexus/v3/apikeys"]).toBe(Math.ceil(250 / PAGE_SIZE) + 1);
        } finally {
            await box.close();
        }
    });

    it("follows a list that ignores limit and pages by 10 with index, as Nexus's documented lists do", async () => {
        const box = await startSandbox({ paging: "index" });
        try {
            for (let i = 0; i < 25; i++) await box.client.create(box.tenantLogin, { tenant: CC, name: `idx-${i}`, permissions: ["nexus:consumer:chat"], enabled: true });
            const all = await box.client.list(box.tenantLogin);
            expect(all.map((k) => k.name).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `idx-${i}`).sort());
            // The lifecycle's lookup by name (lost creates, adopt) finds a key past the first page.
            const found = await nexusLifecycle.discovery!.find(conn(box), { inputs: { tenant: CC, name: "idx-23" } as never });
            expect(found.map((k) => k.name)).toEqual(["idx-23"]);
        } finally {
            await box.close();
        }
    });

    it("never reads a key's absence from a list that may be cut (a page of 10 answered again)", async () => {
        const box = await startSandbox({ paging: "first" });
        try {
            for (let i = 0; i < 15; i++) await box.client.create(box.tenantLogin, { tenant: CC, name: `cut-${i}`, permissions: ["nexus:consumer:chat"], enabled: true });
            const listing = await box.client.listPages(box.tenantLogin);
            expect(listing).toMatchObject({ complete: false });
            expect(listing.keys).toHaveLength(10);
            const c = conn(box);
            expect((await nexusLifecycle.discovery!.find(c, { inputs: { tenant: CC, name: "cut-3" } as never })).map((k) => k.name)).toEqual(["cut-3"]);
            const err = (await nexusLifecycle.discovery!.find(c, { inputs: { tenant: CC, name: "cut-12" } as never }).catch((e) => e)) as VendorError;
            expect(err).toBeInstanceOf(VendorError);
            expect(err.message).toContain('Nexus listed 10 keys and ignored paging, so the list may be cut; a key named "cut-12" is not in it');
            expect(err.hint).toMatch(/will not take a key missing from a possibly cut list as gone/);
        } finally {
            await box.close();
        }
        // A server that ignores paging but answers a list that cannot be a cut: absence is absence.
        const small = await startSandbox({ paging: "first" });
        try {
            for (let i = 0; i < 4; i++) await small.client.create(small.tenantLogin, { tenant: CC, name: `small-${i}`, permissions: ["nexus:consumer:chat"], enabled: true });
            expect(await nexusLifecycle.discovery!.find(conn(small), { inputs: { tenant: CC, name: "absent" } as never })).toEqual([]);
        } finally {
            await small.close();
        }
    });

    it("writes key-API requests as the guide does by default, and as Genesys's scripts do with style scripts", async () => {
        for (const style of ["seed", "scripts"] as const) {
            // The sandbox refuses the other form, so a client that writes the wrong one fails here.
            const box = await startSandbox({ requireStyle: style });
            try {
                const client = new NexusClient({ authUrl: box.url, nexusUrl: box.url, clientId: "nexus_client", clientSecret: box.creds.clientSecret, ...(style === "scripts" ? { style } : {}) });
                const key = await client.create(box.tenantLogin, { tenant: CC, name: `style-${style}`, permissions: ["nexus:consumer:chat"], enabled: true });
                await client.update(box.tenantLogin, key.id, { enabled: false });
                expect((await client.get(box.tenantLogin, key.id))?.enabled).toBe(false);
                expect(box.sandbox.styles).toEqual(
                    style === "seed" ? { bareToken: 3, bearerToken: 0, bareBody: 2, dataBody: 0 } : { bareToken: 0, bearerToken: 3, bareBody: 0, dataBody: 2 },
                );
            } finally {
                await box.close();
            }
        }
    });

    it("names an unreachable endpoint by origin only", async () => {
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        const dead = new NexusClient({ authUrl: "http://127.0.0.1:9", nexusUrl: "http://127.0.0.1:9", clientId: "nexus_client", clientSecret: "x" });
        const err = await dead.list(t.opsLogin).catch((e) => e);
        expect(err).toBeInstanceOf(VendorError);
        expect(err.kind).toBe("unavailable");
        expect(err.message).toMatch(/^GWS auth at http:\/\/127\.0\.0\.1:9 did not answer: cannot reach http:\/\/127\.0\.0\.1:9 \(/);
    });

    it("accepts responses wrapped in a data envelope", async () => {
        const wrapped = await startSandbox({ envelope: true });
        try {
            const key = await wrapped.client.create(wrapped.opsLogin, { tenant: "*", name: "enveloped", permissions: ["nexus:cluster:*"], enabled: true });
            expect(key.tenant).toBe("*");
            expect((await wrapped.client.list(wrapped.opsLogin)).map((k) => k.name)).toEqual(["enveloped"]);
        } finally {
            await wrapped.close();
        }
    });
});

describe("Genesys sandbox usage endpoint", () => {
    it("accepts a live key and refuses disabled, revoked, expired and deleted ones", async () => {
        const make = (name: string) => t.client.create(t.tenantLogin, { tenant: CC, name, permissions: ["nexus:consumer:chat"], enabled: true });
        const live = await make("use-live");
        expect(await useKey(t.url, live.id)).toBe(200);
        const disabled = await make("use-disabled");
        await t.client.update(t.tenantLogin, disabled.id, { enabled: false });
        expect(await useKey(t.url, disabled.id)).toBe(403);
        const revoked = await make("use-revoked");
        await t.client.update(t.tenantLogin, revoked.id, { revoked: true });
        expect(await useKey(t.url, revoked.id)).toBe(403);
        const expired = await make("use-expired");
        await t.client.update(t.tenantLogin, expired.id, { expires: new Date(Date.now() - 1000).toISOString() });
        expect(await useKey(t.url, expired.id)).toBe(403);
        const deleted = await make("use-deleted");
        await t.client.delete(t.tenantLogin, deleted.id);
        expect(await useKey(t.url, deleted.id)).toBe(401);
    });

    it("serves the documented Secure Mail read to Secure Mail keys only, and the verify probe uses it", async () => {
        const mail = await t.client.create(t.tenantLogin, { tenant: CC, name: "use-mail", permissions: ["nexus:consumer:securemail"], enabled: true });
        const chat = await t.client.create(t.tenantLogin, { tenant: CC, name: "use-mail-chat", permissions: ["nexus:consumer:chat"], enabled: true });
        const probeUrl = `${t.url}/nexus/v3/securemail?address=probe%40example.com`;
        const c = { client: t.client, login: t.tenantLogin, probe: { url: probeUrl, expect: "200" } } as never;
        const outs = (k: { id: string }) => ({ state: { apiKey: k.id } }) as never;
        expect(await nexusLifecycle.verify!.probe(c, outs(mail))).toMatchObject({ accepted: true, probe: `GET ${t.url}/nexus/v3/securemail` });
        const refused = await nexusLifecycle.verify!.probe(c, outs(chat));
        expect(refused.accepted).toBe(false);
        expect(JSON.stringify(refused)).toContain("403");
        expect(JSON.stringify(refused)).not.toContain("probe%40example.com");
        // Without a probeUrl there is no default to fall back on (no Genesys source has a whoami).
        await expect(nexusLifecycle.verify!.probe({ ...(c as object), probe: { expect: "200" } } as never, outs(mail))).rejects.toThrow(/keyfleet:nexus.probeUrl is not set/);
        const res = await fetch(`${t.url}/nexus/v3/securemail`, { headers: { "x-api-key": mail.id } });
        expect([res.status, ((await res.json()) as { status: { message: string } }).status.message]).toEqual([400, "address is required"]);
    });

    it("enforces capacity per frequency", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "use-rate", permissions: ["nexus:consumer:chat"], enabled: true });
        const statuses = [];
        for (let i = 0; i < 6; i++) statuses.push(await useKey(t.url, key.id));
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    });
});
