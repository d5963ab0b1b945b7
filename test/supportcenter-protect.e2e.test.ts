// A protected SupportCenter Plus key still rotates, through the real Pulumi engine against the
// sandbox. The engine refuses to replace a protected resource unless the same run lifts the
// protection; the program knows from the last run's record (its age, generation and actual expiry)
// which keys this run rotates, and unprotects exactly those for the run. The run after protects
// the successor again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const DAY = 86_400_000;
const V = "supportcenter/vault";
const soon = new Date(Date.now() + 2 * DAY).toISOString().replace(/\.\d+Z$/, "Z");
const yaml = (rotation: string) => `supportcenter:
  integrationKeys:
    - name: vault
      roles: [Technician]
      expires: ${soon}
      owner: admin
      protect: true
      rotation: ${rotation}
`;

let t: ScpTestSandbox;
let s: TestStack;
const states: string[] = [];

/** One `up`, with what the engine printed and the resource changes. */
async function up(): Promise<{ changes: Record<string, number>; printed: string }> {
    const lines: string[] = [];
    const result = await s.stack.up({ ...captured(s), onOutput: (l) => (lines.push(l), s.output.push(l)) });
    states.push(await s.exportState());
    return { changes: result.summary.resourceChanges ?? {}, printed: lines.join("") };
}
/** The key's resource in state (the engine's protect flag) and the stack's outputs of it. */
async function key(): Promise<{ id: string; protect: boolean; apiKey: string; recorded: Record<string, unknown> }> {
    const resource = JSON.parse(states.at(-1)!).checkpoint.latest.resources.find((r: { urn: string; type: string }) => r.urn.endsWith(`::${V}`) && !r.type.startsWith("pulumi:"));
    const outs = await s.stack.outputs();
    return { id: resource.id, protect: resource.protect === true, apiKey: (await s.apiKeys())[V], recorded: (outs.keyIds.value as Record<string, Record<string, unknown>>)[V] };
}

beforeAll(async () => {
    t = await startScp();
    s = await createTestStack(t, yaml("{ every: 30d }"));
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("a protected SupportCenter Plus key rotates", () => {
    let before: Awaited<ReturnType<typeof key>>;

    it("step 1 create: the key is protected in state, and the run records its actual expiry", async () => {
        expect((await up()).changes).toMatchObject({ create: 2 });
        before = await key();
        expect(before.protect).toBe(true);
        expect(before.recorded).toMatchObject({ id: before.id, expires: new Date(soon).toISOString() });
        expect(await useScpKey(t.url, before.apiKey)).toBe(200);
    });

    it("step 2 the expiry passes: the run replaces the protected key, new key first, and warns", async () => {
        t.sandbox.advance(3 * DAY);
        s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(3 * DAY);
        expect(await useScpKey(t.url, before.apiKey)).toBe(401);
        const { changes, printed } = await up();
        expect(changes).toMatchObject({ replace: 1 });
        expect(printed).toMatch(/warning: .*key "vault" expired on \S+; rotation replaces it with a new key valid for 30d/);
        const after = await key();
        expect(after.id).not.toBe(before.id);
        expect(t.sandbox.keys.get(before.id)).toBeUndefined();
        expect(t.sandbox.keys.get(after.id)).toMatchObject({ name: "vault", value: after.apiKey });
        expect(await useScpKey(t.url, after.apiKey)).toBe(200);
        // The record now holds the new key's own expiry, one rotation period ahead.
        expect(Math.abs(Date.parse(String(after.recorded.expires)) - (t.sandbox.now() + 30 * DAY))).toBeLessThan(120_000);
        before = after;
    });

    it("step 3 the next run protects the successor again, calling no vendor, and warns no more", async () => {
        const calls = t.sandbox.stats.total;
        const { changes, printed } = await up();
        expect(changes).toEqual({ same: 2 });
        expect(printed).not.toMatch(/expired/);
        expect(t.sandbox.stats.total).toBe(calls);
        const k = await key();
        expect(k.protect).toBe(true);
        // The exported expiry is the key's own, not the YAML's past date (the summary reads it).
        const exported = ((await s.stack.outputs()).keys.value as Record<string, { expires: string }>)[V].expires;
        expect(exported).toBe(k.recorded.expires);
        expect(Date.parse(exported)).toBeGreaterThan(t.sandbox.now());
    });

    it("step 4 a generation bump replaces the protected key too; the run after protects it again", async () => {
        s.writeKeys(yaml("{ every: 30d, generation: 1 }"));
        expect((await up()).changes).toMatchObject({ replace: 1 });
        const after = await key();
        expect(after.id).not.toBe(before.id);
        expect(t.sandbox.keys.get(before.id)).toBeUndefined();
        expect(await useScpKey(t.url, after.apiKey)).toBe(200);
        expect((await up()).changes).toEqual({ same: 2 });
        expect((await key()).protect).toBe(true);
    });

    it("step 5 the protection still holds: removing the key from the YAML is refused", async () => {
        s.writeKeys("supportcenter:\n  integrationKeys: []\n");
        const err = await s.stack.up(captured(s)).catch((e: Error) => e);
        expect(String(err)).toMatch(/cannot be deleted\s+because it is protected/);
        expect(t.sandbox.keys.size).toBe(1);
        // No key value or credential reached state or the engine's output.
        const haystack = [...states, ...s.output].join("\n");
        expect(t.secrets().filter((secret) => haystack.includes(secret))).toEqual([]);
    });
});
