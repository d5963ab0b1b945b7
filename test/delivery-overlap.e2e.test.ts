// Delivery with a two-slot rotation: the previous key is not retired before every consumer has the
// current one. A failed delivery keeps the previous slot past its retireAt (and moves its
// vendor-side expiry on); once a run delivers to every consumer, the next run past retireAt
// retires it. Real engine, the toolchain's command plugin, a Nexus sandbox of the test's own.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const DAY = 86_400_000;
const KEY = "nexus/tenant/portal";
const keys = (generation: number) => `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: portal
      rotation: { every: 30d, overlap: 2d, generation: ${generation} }
      deliver:
        - name: app
          run: |
            if [ -e delivered/refuse ]; then echo "app: refusing the new key" >&2; exit 3; fi
            umask 077 && printf '%s' "$KEYFLEET_KEY" > delivered/app.key
`;

let t: TestSandbox;
let s: TestStack;
const read = () => fs.readFileSync(path.join(s.dir, "delivered", "app.key"), "utf8");
const refuse = (on: boolean) => (on ? fs.writeFileSync(path.join(s.dir, "delivered", "refuse"), "") : fs.rmSync(path.join(s.dir, "delivered", "refuse"), { force: true }));
const outs = async () => ((await s.stack.outputs()).keys.value as Record<string, { apiKey: string; previousValue: string | null; previousRetireAt: string | null }>)[KEY];
function at(ms: number) {
    t.sandbox.clockOffsetMs = ms;
    s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(ms);
}
const failing = () => s.stack.up(captured(s)).then(() => undefined, (e: Error) => e);

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, keys(0));
    fs.mkdirSync(path.join(s.dir, "delivered"), { mode: 0o700 });
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("delivery holds the previous slot", () => {
    let first = "";
    let second = "";

    it("step 1 create: the consumer gets the key", async () => {
        await s.stack.up(captured(s));
        first = read();
        expect(await useKey(t.url, first)).toBe(200);
    });

    it("step 2 rotate while the consumer refuses: the up fails, both keys work, the consumer keeps the old one", async () => {
        refuse(true);
        s.writeKeys(keys(1));
        expect(String(await failing())).toMatch(/app: refusing the new key/);
        const nexusKeys = [...t.sandbox.keys.values()].filter((k) => k.name.startsWith("portal"));
        expect(nexusKeys).toHaveLength(2);
        second = nexusKeys.find((k) => k.id !== first)!.id;
        expect(read()).toBe(first);
        expect(await useKey(t.url, first)).toBe(200);
        expect(await useKey(t.url, second)).toBe(200);
    });

    it("step 3 past the overlap, still refusing: the previous key is held, not retired, and still works", async () => {
        // Its vendor-side expiry was not set while the consumer lacks the new key: past retireAt,
        // before any up, the vendor still accepts it.
        at(3 * DAY);
        expect(await useKey(t.url, first)).toBe(200);
        expect(String(await failing())).toMatch(/app: refusing the new key/);
        expect(t.sandbox.keys.has(first)).toBe(true);
        expect(await useKey(t.url, first)).toBe(200);
    });

    it("step 3b a rotation due while the consumer still refuses waits: the key it uses is not retired", async () => {
        s.writeKeys(keys(2));
        expect(String(await failing())).toMatch(/app: refusing the new key/);
        expect(t.sandbox.keys.has(first)).toBe(true);
        expect(await useKey(t.url, first)).toBe(200);
        expect([...t.sandbox.keys.values()].filter((k) => k.name.startsWith("portal"))).toHaveLength(2);
    });

    it("step 4 the consumer takes the new key: it is delivered, and only then do retiring and the waiting rotation go on", async () => {
        refuse(false);
        await s.stack.up(captured(s));
        expect(read()).toBe(second);
        // This run delivered; the next run past retireAt retires the first key and makes the rotation
        // that waited (generation 2): the second key moves to the previous slot, the consumer gets the third.
        at(6 * DAY);
        await s.stack.up(captured(s));
        expect(t.sandbox.keys.has(first)).toBe(false);
        expect(await useKey(t.url, first)).toBe(401);
        const third = read();
        expect(third).not.toBe(second);
        expect(await useKey(t.url, third)).toBe(200);
        expect(await useKey(t.url, second)).toBe(200);
        expect((await outs()).previousRetireAt).not.toBeNull();
    });
});
