// The Nexus wire client against the Genesys sandbox over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VendorError } from "../providers/shared/errors.ts";
import { NexusClient } from "../providers/nexus/client.ts";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";

let t: TestSandbox;
beforeAll(async () => {
    t = await startSandbox({ capacity: 5, frequency: 60 });
});
afterAll(() => t.close());

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
        await expect(t.client.update(t.tenantLogin, key.id, { revoked: false })).rejects.toMatchObject({ status: 409 });
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
        expect(err.message).toBe("409 name exists");
        const denied = await t.client.create(t.tenantLogin, { tenant: "*", name: "client-cluster", permissions: ["nexus:cluster:*"], enabled: true }).catch((e) => e);
        expect(denied.status).toBe(403);
        const badLogin = await t.client.list({ username: "ops", password: "wrong" }).catch((e) => e);
        expect(badLogin.message).toBe("400 Bad credentials");
    });

    it("masks a key value the vendor echoes in an error", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "client-echo", permissions: ["nexus:consumer:chat"], enabled: true });
        t.sandbox.failNext("GET /nexus/v3/apikeys/{id}", 500, `key ${key.id} is broken`);
        const err = await t.client.get(t.tenantLogin, key.id).catch((e) => e);
        expect(err.message).toBe("500 key [redacted] is broken");
        // Masked before the message is shortened, so a key across the cut cannot leave a prefix.
        t.sandbox.failNext("GET /nexus/v3/apikeys/{id}", 500, `${"x".repeat(190)}${key.id}`);
        const long = await t.client.get(t.tenantLogin, key.id).catch((e) => e);
        expect(long.message).toBe(`500 ${"x".repeat(190)}[redacted]`);
        expect(long.message).not.toContain(key.id.slice(0, 8));
    });

    it("logs in again when the token's lifetime is over", async () => {
        const shortLived = await startSandbox({ tokenTtlSeconds: 1 });
        try {
            await shortLived.client.list(shortLived.opsLogin);
            await shortLived.client.list(shortLived.opsLogin);
            expect(shortLived.sandbox.stats.tokensIssued).toBe(1);
            // With a 1 s lifetime the client renews after half of it rather than cut it to nothing.
            await new Promise((resolve) => setTimeout(resolve, 600));
            await shortLived.client.list(shortLived.opsLogin);
            expect(shortLived.sandbox.stats.tokensIssued).toBe(2);
        } finally {
            await shortLived.close();
        }
    });

    it("names an unreachable endpoint by origin only", async () => {
        const dead = new NexusClient({ authUrl: "http://127.0.0.1:9", nexusUrl: "http://127.0.0.1:9", clientId: "nexus_client", clientSecret: "x" });
        const err = await dead.list(t.opsLogin).catch((e) => e);
        expect(err).toBeInstanceOf(VendorError);
        expect(err.status).toBe(0);
        expect(err.message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:9 \(/);
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

    it("enforces capacity per frequency", async () => {
        const key = await t.client.create(t.tenantLogin, { tenant: CC, name: "use-rate", permissions: ["nexus:consumer:chat"], enabled: true });
        const statuses = [];
        for (let i = 0; i < 6; i++) statuses.push(await useKey(t.url, key.id));
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    });
});
