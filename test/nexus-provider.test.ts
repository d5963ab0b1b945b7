// The Nexus dynamic provider's CRUD driven directly (no engine) against the sandbox over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provider, normalize, type NexusKeyInputs, type NexusKeyOutputs } from "../providers/nexus/provider.ts";
import { fingerprint } from "../providers/shared/settings.ts";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";

let t: TestSandbox;
let configValues: Record<string, string> = {};
beforeAll(async () => {
    t = await startSandbox();
    const config: Record<string, string> = (configValues = {
        "keyfleet:nexus": JSON.stringify({ authUrl: t.url, nexusUrl: t.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops" }),
        "keyfleet:nexusClientSecret": t.creds.clientSecret,
        "keyfleet:nexusTenantPassword": t.creds.tenantPassword,
        "keyfleet:nexusOpsPassword": t.creds.opsPassword,
    });
    await provider.configure!({ config: { get: (k: string) => config[k], require: (k: string) => config[k] } as never });
});
afterAll(() => t.close());

const tenantKey = (name: string, over: Partial<NexusKeyInputs> = {}) => normalize({ kind: "tenant", tenant: CC, name, permissions: ["nexus:consumer:chat"], ...over });
const byName = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name === name);

describe("Nexus provider", () => {
    it("check returns failures as {property, reason} instead of throwing", async () => {
        const result = await provider.check!({} as NexusKeyInputs, { kind: "cluster", name: "", permissions: ["nexus:consumer:chat"] } as never);
        expect(result.failures).toEqual([
            { property: "name", reason: "name must be a non-empty string of at most 255 characters" },
            { property: "permissions", reason: 'unknown permission "nexus:consumer:chat" for a cluster key; expected nexus:cluster:*' },
        ]);
    });

    it("creates a key whose value is a secret output and whose id is a fingerprint", async () => {
        const { id, outs } = await provider.create(tenantKey("p-create", { expires: "2027-01-31" }));
        const record = t.sandbox.keys.get(outs!.apiKey)!;
        expect(record).toMatchObject({ name: "p-create", tenant: CC, expires: "2027-01-31T00:00:00.000Z" });
        expect(outs!.apiKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
        expect(id).toBe(fingerprint("nxk_", outs!.apiKey));
        expect(outs).toMatchObject({ fingerprint: id, capacity: 120, frequency: 60, createdBy: `${CC}\\nexus`, expires: "2027-01-31T00:00:00.000Z" });
    });

    it("names the operation, the key, the vendor status and a fix when the name is taken", async () => {
        await t.client.create(t.tenantLogin, { tenant: CC, name: "ci", permissions: ["nexus:consumer:chat"], enabled: true });
        await expect(provider.create(tenantKey("ci"))).rejects.toThrow(
            'creating Nexus tenant key "ci" for tenant 578e… failed: 409 name exists; rename it or adopt it (adopt: true in the YAML)',
        );
        expect(byName("ci")).toHaveLength(1);
    });

    it("leaves nothing behind when the follow-up update of a create fails", async () => {
        // 500, not 503: a 503 on PUT is retried by the transport and would succeed.
        t.sandbox.failNext("PUT /nexus/v3/apikeys/{id}", 500, "internal error");
        await expect(provider.create(tenantKey("p-half", { enabled: false, revoked: true }))).rejects.toThrow(
            'creating Nexus tenant key "p-half" for tenant 578e… failed: 500 internal error; Nexus failed; try again later',
        );
        expect(byName("p-half")).toEqual([]);
    });

    it("replaces a key under the same name: new key first, old one renamed aside, then deleted", async () => {
        const first = await provider.create(tenantKey("p-rotate"));
        const olds = first.outs as NexusKeyOutputs;
        const news = tenantKey("p-rotate", { rotation: { generation: 1 } });
        expect(await provider.diff!(first.id, olds, news)).toMatchObject({ changes: true, replaces: ["rotation"] });
        const second = await provider.create(news);
        expect(second.outs!.apiKey).not.toBe(olds.apiKey);
        expect(t.sandbox.keys.get(second.outs!.apiKey)!.name).toBe("p-rotate");
        expect(t.sandbox.keys.get(olds.apiKey)!.name).toMatch(/^p-rotate \(replaced \d{4}-\d\d-\d\dT[\d:]+Z\)$/);
        expect(await useKey(t.url, olds.apiKey)).toBe(200); // both work while the engine swaps them
        await provider.delete!(first.id, olds);
        expect(await useKey(t.url, olds.apiKey)).toBe(401);
        expect(await useKey(t.url, second.outs!.apiKey)).toBe(200);
    });

    it("undoes a replacement whose follow-up update fails: new key deleted, old key's name restored", async () => {
        const first = await provider.create(tenantKey("p-undo"));
        const news = tenantKey("p-undo", { rotation: { generation: 1 }, expires: "2030-01-01" });
        await provider.diff!(first.id, first.outs as NexusKeyOutputs, news);
        // The first PUT renames the old key aside; the second (the new key's expiry) fails.
        t.sandbox.failNext("PUT /nexus/v3/apikeys/{id}", 500, "internal error", 1);
        await expect(provider.create(news)).rejects.toThrow('creating Nexus tenant key "p-undo" for tenant 578e… failed: 500 internal error');
        expect(byName("p-undo").map((k) => k.id)).toEqual([first.outs!.apiKey]);
        expect([...t.sandbox.keys.values()].filter((k) => k.name.startsWith("p-undo"))).toHaveLength(1);
    });

    it("rotating an adopted key makes a new key rather than re-adopting the one being replaced", async () => {
        const existing = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-adopted", permissions: ["nexus:consumer:chat"], enabled: true });
        const first = await provider.create(tenantKey("p-adopted", { adopt: true }));
        expect(first.outs!.apiKey).toBe(existing.id);
        const news = tenantKey("p-adopted", { adopt: true, rotation: { generation: 1 } });
        expect((await provider.diff!(first.id, first.outs as NexusKeyOutputs, news)).replaces).toEqual(["rotation"]);
        const second = await provider.create(news);
        expect(second.outs!.apiKey).not.toBe(existing.id);
        await provider.delete!(first.id, first.outs as NexusKeyOutputs);
        expect(await useKey(t.url, existing.id)).toBe(401);
        expect(await useKey(t.url, second.outs!.apiKey)).toBe(200);
        expect(t.sandbox.keys.get(second.outs!.apiKey)!.name).toBe("p-adopted");
    });

    it("says what to do about a refused login", async () => {
        await provider.configure!({ config: { get: (k: string) => (k === "keyfleet:nexusTenantPassword" ? "wrong" : configValues[k]) } as never });
        try {
            await expect(provider.create(tenantKey("p-login"))).rejects.toThrow(
                `creating Nexus tenant key "p-login" for tenant 578e… failed: 400 Bad credentials; GWS refused the login of "${CC}\\nexus"; check that user's password and the client secret in the stack config`,
            );
        } finally {
            await provider.configure!({ config: { get: (k: string) => configValues[k] } as never });
        }
    });

    it("reads a key deleted out of band as gone, and deleting it again succeeds", async () => {
        const { id, outs } = await provider.create(tenantKey("p-gone"));
        await t.client.delete(t.tenantLogin, outs!.apiKey);
        expect(await provider.read!(id, outs)).toEqual({});
        await expect(provider.delete!(id, outs!)).resolves.toBeUndefined();
    });

    it("reads drift made out of band", async () => {
        const { id, outs } = await provider.create(tenantKey("p-drift"));
        await t.client.update(t.tenantLogin, outs!.apiKey, { enabled: false, expires: "2030-05-01T00:00:00Z" });
        const read = await provider.read!(id, outs);
        expect(read.props).toMatchObject({ enabled: false, expires: "2030-05-01T00:00:00.000Z", name: "p-drift" });
        expect(await provider.diff!(id, read.props!, tenantKey("p-drift"))).toMatchObject({ changes: true, replaces: [] });
    });

    it("adopts an existing key by name, and refuses one whose permissions differ", async () => {
        const existing = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-legacy", permissions: ["nexus:consumer:chat"], enabled: false });
        const { outs } = await provider.create(tenantKey("p-legacy", { adopt: true }));
        expect(outs!.apiKey).toBe(existing.id);
        expect(t.sandbox.keys.get(existing.id)!.enabled).toBe(true);
        await expect(provider.create(tenantKey("p-legacy", { adopt: true, permissions: ["nexus:designer:chat"] }))).rejects.toThrow(
            /^adopting Nexus tenant key "p-legacy" for tenant 578e… failed: its permissions are \[nexus:consumer:chat\], the YAML says \[nexus:designer:chat\]/,
        );
        await expect(provider.create(tenantKey("p-nobody", { adopt: true }))).rejects.toThrow(/Nexus has no key named "p-nobody" in that tenant/);
    });

    it("creates cluster keys with the ops admin's login", async () => {
        const { outs } = await provider.create(normalize({ kind: "cluster", name: "p-cluster", permissions: ["nexus:cluster:*"] }));
        expect(t.sandbox.keys.get(outs!.apiKey)).toMatchObject({ tenant: "*", createdby: "ops" });
    });
});
