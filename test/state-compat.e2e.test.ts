// State written by keyfleet 0.1 (before the spine: no `vendor`, no core inputs, a provider shim per
// vendor) previews with no change under today's code, so an upgrade never replaces the fleet
// (defect 9). The fixture is the backend's own checkpoint, secrets encrypted with the test passphrase
// "fixture-passphrase"; it was written by commit bde7db0's lifecycle harness against a sandbox.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, expectNoChanges, type TestStack } from "./helpers/stack.ts";

const FIXTURE = new URL("./fixtures/state/", import.meta.url).pathname;
let t: TestSandbox;
let s: TestStack;

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, fs.readFileSync(`${FIXTURE}keyfleet-0.1-keys.yaml`, "utf8"), { passphrase: "fixture-passphrase" });
    const checkpoint = JSON.parse(fs.readFileSync(`${FIXTURE}keyfleet-0.1-checkpoint.json`, "utf8"));
    await s.stack.importStack({ version: 3, deployment: checkpoint.checkpoint.latest });
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("state from keyfleet 0.1", () => {
    it("previews with no change and no vendor call", async () => {
        const old = JSON.parse(await s.exportState()).checkpoint.latest.resources.filter((r: { type: string }) => r.type.includes("dynamic/nexus:"));
        expect(old).toHaveLength(3);
        for (const r of old) {
            expect(r.inputs.vendor).toBeUndefined();
            expect(r.inputs.__provider).toContain('require("@keyfleet/provider-shim/nexus.js")');
        }
        const preview = await s.stack.preview(captured(s));
        expectNoChanges(preview.changeSummary);
        expect(preview.changeSummary.same).toBeGreaterThanOrEqual(4);
        expect(t.sandbox.stats.total).toBe(0);
    });

    it("an up keeps every key and records what the next run needs", async () => {
        const result = await s.stack.up(captured(s));
        expectNoChanges(result.summary.resourceChanges);
        const outs = await s.stack.outputs();
        expect(Object.keys(outs.keyIds.value)).toHaveLength(3);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });

    it("a rotation due in the first run after the upgrade goes through, new key first (no predecessor recorded yet: rotated in place, issue 17 defect 4)", async () => {
        // After the up above keyIds exists; simulate the first run after an upgrade by dropping it.
        const yaml = fs.readFileSync(`${FIXTURE}keyfleet-0.1-keys.yaml`, "utf8").replace("rotation: {every: 90d, generation: 1}", "rotation: {every: 90d, generation: 2}");
        s.writeKeys(yaml);
        const checkpoint = JSON.parse(fs.readFileSync(`${FIXTURE}keyfleet-0.1-checkpoint.json`, "utf8"));
        await s.stack.importStack({ version: 3, deployment: checkpoint.checkpoint.latest });
        // (The fixture's keys are not at this sandbox: the rotation shows in the plan and the calls.)
        const deletes = t.sandbox.stats.byRoute["DELETE /nexus/v3/apikeys/{id}"] ?? 0;
        const result = await s.stack.up(captured(s));
        // Without a record naming the current key, a replacement would have had to delete it first;
        // state names it, so the rotation is an update: new key first, the old one kept in the previous slot.
        expect(result.summary.resourceChanges).toMatchObject({ update: 1 });
        expect(result.summary.resourceChanges?.replace ?? 0).toBe(0);
        expect(t.sandbox.stats.byRoute["DELETE /nexus/v3/apikeys/{id}"] ?? 0).toBe(deletes);
        expect([...t.sandbox.keys.values()].filter((k) => k.name === "designer")).toHaveLength(1);
        // The next up retires it.
        await s.stack.up(captured(s));
        expect(t.sandbox.stats.byRoute["DELETE /nexus/v3/apikeys/{id}"] ?? 0).toBe(deletes + 1);
        expect([...t.sandbox.keys.values()].filter((k) => k.name.startsWith("designer")).map((k) => k.name)).toEqual(["designer"]);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });
});

// State written by keyfleet 0.2, whose program read its record through a StackReference to its own
// stack (`keyfleet-last-run`, a copy of every stack output in state): the program reads it with an
// invoke now, and the reference must go without showing as a change or touching a key.
describe("state from keyfleet 0.2 (the StackReference to the stack itself)", () => {
    let u: TestSandbox;
    let v: TestStack;
    const yaml = `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: alpha\n    - name: bravo\n`;
    beforeAll(async () => {
        u = await startSandbox();
        v = await createTestStack(u, yaml);
        await v.stack.up(captured(v));
        // The reference as 0.2 left it in state (external, read by the built-in provider, its outputs the stack's).
        const deployment = JSON.parse(await v.exportState()).checkpoint.latest as { resources: Record<string, unknown>[] };
        const stack = deployment.resources.find((r) => r.type === "pulumi:pulumi:Stack")!;
        const builtin = deployment.resources.find((r) => r.type === "pulumi:providers:pulumi")!;
        expect(builtin).toBeDefined();
        const name = "organization/keyfleet/e2e";
        deployment.resources.push({
            urn: String(stack.urn).replace("pulumi:pulumi:Stack::keyfleet-e2e", "pulumi:pulumi:StackReference::keyfleet-last-run"),
            custom: true,
            id: name,
            type: "pulumi:pulumi:StackReference",
            inputs: { name },
            outputs: { name, outputs: stack.outputs, secretOutputNames: [] },
            parent: stack.urn,
            external: true,
            provider: `${builtin.urn}::${builtin.id}`,
        });
        await v.stack.importStack({ version: 3, deployment });
        expect(await v.exportState()).toContain("keyfleet-last-run");
    });
    afterAll(async () => {
        await v?.cleanup();
        await u?.close();
    });

    it("previews with no change and no vendor call; the next up drops the reference and keeps every key", async () => {
        const calls = u.sandbox.stats.total;
        const keys = [...u.sandbox.keys.keys()].sort();
        expectNoChanges((await v.stack.preview(captured(v))).changeSummary);
        const result = await v.stack.up(captured(v));
        expectNoChanges(result.summary.resourceChanges);
        expect(await v.exportState()).not.toContain("keyfleet-last-run");
        expect(u.sandbox.stats.total).toBe(calls);
        expect([...u.sandbox.keys.keys()].sort()).toEqual(keys);
        expectNoChanges((await v.stack.preview(captured(v))).changeSummary);
    });
});
