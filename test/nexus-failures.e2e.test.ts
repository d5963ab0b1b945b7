// Failures through the real engine: bad input stops before any vendor call and touches no state;
// a vendor refusal leaves state and Nexus consistent, and the next up converges.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

let t: TestSandbox;
let s: TestStack;

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n`);
    await s.stack.up(captured(s));
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("failed runs", () => {
    it("bad YAML: every error with file:line:col and path, no vendor call, state untouched", async () => {
        const state = await s.exportState();
        const calls = t.sandbox.stats.total;
        s.writeKeys(
            [
                "nexus:",
                `  contactCenter: ${CC}`,
                "  tenantKeys:",
                "    - name: web chat",
                "      permissions: [nexus:consumer:chta]",
                "    - name: web chat",
                "  clusterKeys:",
                "    - name: c",
                "      enabeld: false",
                "",
            ].join("\n"),
        );
        const err = await s.stack.up(captured(s)).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(err).toBeDefined();
        const text = String(err);
        expect(text).toContain("3 errors in ");
        expect(text).toMatch(/keys\.yaml:5:21 nexus\.tenantKeys\[0\]\.permissions\[0\]: unknown permission "nexus:consumer:chta"/);
        expect(text).toMatch(/keys\.yaml:6:13 nexus\.tenantKeys\[1\]\.name: duplicate key name "web chat" in tenant 578ec98e-f07c-46ad-9675-f36c22f3ba9f; first at line 4/);
        expect(text).toMatch(/keys\.yaml:9:7 nexus\.clusterKeys\[0\]\.enabeld: unknown field "enabeld"/);
        expect(t.sandbox.stats.total).toBe(calls);
        // The engine writes the checkpoint again, re-encrypting secrets with fresh nonces; apart from
        // that the resources are exactly as they were.
        const resources = (text: string) => JSON.parse(text.replace(/"ciphertext":"[^"]*"/g, '"ciphertext":"…"')).checkpoint.latest.resources;
        expect(resources(await s.exportState())).toEqual(resources(state));
    });

    it("missing or plain-text credentials are reported before any vendor call", async () => {
        s.writeKeys(`nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n`);
        const calls = t.sandbox.stats.total;
        const failure = async () => String(await s.stack.preview(captured(s)).then(() => undefined, (e: Error) => e));
        await s.stack.removeConfig("keyfleet:nexusTenantPassword");
        // Only tenant keys are declared, so the ops admin's password is not asked for.
        await s.stack.removeConfig("keyfleet:nexusOpsPassword");
        let text = await failure();
        expect(text).toContain("keyfleet:nexusTenantPassword is not set (nor KEYFLEET_NEXUS_TENANT_PASSWORD)");
        expect(text).not.toContain("nexusOpsPassword");
        await s.stack.setConfig("keyfleet:nexusTenantPassword", { value: t.creds.tenantPassword, secret: false });
        text = await failure();
        expect(text).toContain("keyfleet:nexusTenantPassword is stored in plain text; set it again with `pulumi config set --secret keyfleet:nexusTenantPassword`");
        expect(text).not.toContain(t.creds.tenantPassword);
        expect(t.sandbox.stats.total).toBe(calls);
        // Put the settings back, encrypted, and remove the plain-text copy from the leak-scanned world.
        await s.stack.setConfig("keyfleet:nexusTenantPassword", { value: t.creds.tenantPassword, secret: true });
        await s.stack.setConfig("keyfleet:nexusOpsPassword", { value: t.creds.opsPassword, secret: true });
    });

    it("a name taken by a hand-made key fails that create only, and adopting it converges", async () => {
        const handMade = await t.client.create(t.opsLogin, { tenant: "*", name: "ops console", permissions: ["nexus:cluster:*"], enabled: true });
        s.writeKeys(`nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n    - name: mobile\n  clusterKeys:\n    - name: ops console\n`);
        const err = await s.stack.up(captured(s)).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(String(err)).toContain('creating Nexus cluster key "ops console" failed: 409 name exists; rename it or adopt it (adopt: true in the YAML)');
        // Nothing half-applied: the vendor has the hand-made key once, and state has no entry for it.
        const cluster = (await t.client.list(t.opsLogin)).filter((k) => k.name === "ops console");
        expect(cluster.map((k) => k.id)).toEqual([handMade.id]);
        expect((await s.resources()).some((u) => u.endsWith("::nexus/cluster/ops console"))).toBe(false);

        s.writeKeys(`nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n    - name: mobile\n  clusterKeys:\n    - name: ops console\n      adopt: true\n`);
        await s.stack.up(captured(s));
        const keys = await s.apiKeys();
        expect(keys["nexus/cluster/ops console"]).toBe(handMade.id);
        expect(await useKey(t.url, keys["nexus/tenant/mobile"])).toBe(200);
        const preview = await s.stack.preview({ ...captured(s), refresh: true });
        expect(preview.changeSummary).toEqual({ same: 4 });
    });

    it("a vendor outage mid-run: what finished is in state, the rest is created by the next up", async () => {
        s.writeKeys(`nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n    - name: mobile\n    - name: kiosk\n  clusterKeys:\n    - name: ops console\n      adopt: true\n`);
        t.sandbox.failNext("POST /nexus/v3/apikeys", 500, "internal error");
        await expect(s.stack.up(captured(s))).rejects.toThrow(/creating Nexus tenant key "kiosk" for tenant 578e… failed: 500 internal error/);
        expect([...t.sandbox.keys.values()].filter((k) => k.name === "kiosk")).toEqual([]);
        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: 1, same: 4 });
        expect([...t.sandbox.keys.values()].filter((k) => k.name === "kiosk")).toHaveLength(1);
    });
});
