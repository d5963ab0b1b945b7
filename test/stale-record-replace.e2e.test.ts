// A replacement (an immutable field changed) after a run that failed elsewhere, through the real
// engine (issue 17, defect 4): the last-run record then names the key the failed run replaced, not
// the key the resource holds. The create could not tell its current key from a stranger's by that
// record, so it deleted it first; when the vendor then refused the create, the key every consumer
// had received was gone. State names the current key (currentId), so the new key is made first
// and the current one is moved aside only while its successor is being created.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint } from "../providers/shared/settings.ts";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, expectNoChanges, type TestStack } from "./helpers/stack.ts";

const A = "nexus/tenant/web chat";
const yaml = (opts: { generation: number; permissions?: string; taken?: boolean }) => `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
      rotation: {generation: ${opts.generation}}
${opts.permissions ? `      permissions: [${opts.permissions}]\n` : ""}    - name: kept
${opts.taken ? "  clusterKeys:\n    - name: ops console\n" : ""}`;

let t: TestSandbox;
let s: TestStack;
beforeAll(async () => {
    t = await startSandbox();
    // A key someone made before the first run: the name a later run's create is refused (409).
    await t.client.create(t.opsLogin, { tenant: "*", name: "ops console", permissions: ["nexus:cluster:*"], enabled: true });
    s = await createTestStack(t, yaml({ generation: 1 }));
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

const named = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name.startsWith(name));
const stateOf = async (name: string) => {
    const deployment = (await s.stack.exportStack()).deployment as { resources: { urn: string; outputs?: Record<string, unknown>; delete?: boolean }[] };
    return deployment.resources.filter((r) => r.urn.endsWith(`::${name}`));
};
/** The key resources of A in state: [currentId, pending delete], the current one first. */
const held = async () => (await stateOf(A)).map((r) => [r.outputs?.currentId, Boolean(r.delete)]).sort((a, b) => Number(a[1]) - Number(b[1]));

describe("a replacement after a run that failed on another key", () => {
    /** The key run 1 made (the vendor's id, which is the key) and its resource id in state. */
    let delivered: string;
    let currentId: string;

    it("run 1 replaces the key and fails on another one: the last-run record still names the old key", async () => {
        await s.stack.up(captured(s));
        const first = (await s.apiKeys())[A];
        const recorded = (await s.stack.outputs()).keyIds.value[A].id;
        s.writeKeys(yaml({ generation: 2, taken: true }));
        const err = String(await s.stack.up(captured(s)).then(() => undefined, (e: Error) => e));
        expect(err).toMatch(/creating Nexus cluster key "ops console" failed: 409 name exists/);
        // The engine stopped at the failure before deleting the replaced key: it is aside, and state
        // still holds it, to delete at the next up that completes.
        expect(t.sandbox.keys.get(first)?.name).not.toBe("web chat");
        const live = [...t.sandbox.keys.values()].filter((k) => k.name === "web chat");
        expect(live).toHaveLength(1);
        delivered = live[0].id;
        currentId = fingerprint("nxk_", delivered);
        expect(await held()).toEqual([[currentId, false], [fingerprint("nxk_", first), true]]);
        // The record still names the replaced key.
        expect(recorded).toBe(fingerprint("nxk_", first));
        expect((await s.stack.outputs()).keyIds.value[A].id).toBe(recorded);
        expect(await useKey(t.url, delivered)).toBe(200);
    });

    it("run 2 changes an immutable field and the vendor refuses the create: the current key still exists, valid, under its name", async () => {
        s.writeKeys(yaml({ generation: 2, permissions: "nexus:consumer:*" }));
        t.sandbox.failNext("POST /nexus/v3/apikeys", 400, "refused by policy");
        const err = String(await s.stack.up(captured(s)).then(() => undefined, (e: Error) => e));
        expect(err).toMatch(/creating Nexus tenant key "web chat" .*failed: 400 refused by policy/);
        t.sandbox.clearFaults();
        expect(t.sandbox.keys.get(delivered)).toMatchObject({ name: "web chat", enabled: true });
        expect(await useKey(t.url, delivered)).toBe(200);
        // Every key of that name at the vendor is one state holds: the current one, and the one run 1 replaced.
        expect((await held())[0]).toEqual([currentId, false]);
        expect(named("web chat").map((k) => fingerprint("nxk_", k.id)).sort()).toEqual((await held()).map(([id]) => id).sort());
    });

    it("a good up converges: one key of the name, with the new permission, the old one deleted", async () => {
        await s.stack.up(captured(s));
        const now = (await s.apiKeys())[A];
        expect(now).not.toBe(delivered);
        expect(t.sandbox.keys.has(delivered)).toBe(false);
        expect(named("web chat").map((k) => k.id)).toEqual([now]);
        expect(await held()).toEqual([[fingerprint("nxk_", now), false]]);
        expect((await s.stack.outputs()).keyIds.value[A].id).toBe(fingerprint("nxk_", now));
        expect(t.sandbox.keys.get(now)).toMatchObject({ name: "web chat", permissions: ["nexus:consumer:*"] });
        expectNoChanges((await s.stack.preview({ ...captured(s), refresh: true })).changeSummary);
    });
});
