// State written by keyfleet 0.1 (before the spine: no `vendor`, no core inputs, a provider shim per
// vendor) previews with no change under today's code, so an upgrade never replaces the fleet
// (defect 9). The fixture is the backend's own checkpoint, secrets encrypted with the test passphrase
// "fixture-passphrase"; it was written by commit bde7db0's lifecycle harness against a sandbox.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
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
