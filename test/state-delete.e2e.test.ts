// `pulumi state delete` of a key the YAML still declares, through the real engine: that key is no
// longer keyfleet's, so the next up must leave it alone (issue 17, defect 7). The last run's record
// still names it as the resource's key; before, the create took it for its predecessor and renamed
// it "(replaced …)", leaving an orphan. A replacement the engine makes (--replace) still moves its
// own old key aside.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const W = "nexus/tenant/web chat";
const K = "nexus/tenant/kept";
const yaml = (adopt = "") => `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
${adopt}
    - name: kept
`;

let t: TestSandbox;
let s: TestStack;
beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, yaml());
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

const named = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name.startsWith(name));
const urnOf = async (name: string) => (await s.resources()).find((u) => u.endsWith(`::${name}`))!;

describe("a key resource removed from state with pulumi state delete", () => {
    let first: Record<string, string>;

    it("a targeted replacement (--replace) of a resource still in state moves its old key aside and the engine deletes it", async () => {
        expect((await s.stack.up(captured(s))).summary.resourceChanges).toMatchObject({ create: 3 });
        const before = await s.apiKeys();
        const result = await s.stack.up({ ...captured(s), replace: [await urnOf(W)] });
        expect(result.summary.resourceChanges).toMatchObject({ replace: 1 });
        first = await s.apiKeys();
        expect(first[W]).not.toBe(before[W]);
        expect(t.sandbox.keys.has(before[W])).toBe(false);
        expect(named("web chat").map((k) => k.id)).toEqual([first[W]]);
    });

    it("the next up leaves the unmanaged key alone (its name, valid), fails on the taken name naming adopt:, and adopt: takes it back", async () => {
        execFileSync("pulumi", ["state", "delete", await urnOf(W), "--yes", "--stack", "e2e"], { cwd: s.dir, env: { ...process.env, ...s.stack.workspace.envVars }, stdio: "pipe" });
        expect(await urnOf(W)).toBeUndefined();
        const from = s.output.length;
        const err = (await s.stack.up(captured(s)).catch((e: Error) => e)) as Error;
        expect(err).toBeInstanceOf(Error);
        const said = s.output.slice(from).join("");
        expect(said).toMatch(/nexus\/tenant\/web chat: the last run recorded key nxk_[0-9a-f]{16}, but state no longer has this resource \(pulumi state delete\?\): keyfleet leaves that key alone/);
        expect(said).toMatch(/take it over with adopt: in the YAML \(keyfleet's pulumi import/);
        expect(said).toMatch(/creating Nexus tenant key "web chat" .*failed: 409 name exists.*adopt it \(adopt: true in the YAML\)/);
        // Untouched: under its own name, working, and the only key of that name; nothing else made.
        expect(t.sandbox.keys.get(first[W])).toMatchObject({ name: "web chat", enabled: true });
        expect(await useKey(t.url, first[W])).toBe(200);
        expect(named("web chat").map((k) => k.id)).toEqual([first[W]]);
        expect(t.sandbox.keys.has(first[K])).toBe(true);
        // The way back: adopt it.
        s.writeKeys(yaml("      adopt: true"));
        expect((await s.stack.up(captured(s))).summary.resourceChanges).toMatchObject({ create: 1 });
        expect((await s.apiKeys())[W]).toBe(first[W]);
        expect(named("web chat").map((k) => k.id)).toEqual([first[W]]);
    });
});
