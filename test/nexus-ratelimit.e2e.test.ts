// 200 keys against a key API that answers 429 beyond 20 requests a second: one `up` converges,
// every key made once, because calls wait as Retry-After says and share one pace (defect 6).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

let t: TestSandbox;
let s: TestStack;
const N = 200;

beforeAll(async () => {
    t = await startSandbox({ keyApiLimit: { requests: 20, windowMs: 1000 } });
    const list = Array.from({ length: N }, (_, i) => `    - name: k${i}`).join("\n");
    s = await createTestStack(t, `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${list}\n`);
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("rate limits", () => {
    it("200 keys under a 20/s limit converge in one up, none duplicated", { timeout: 240_000 }, async () => {
        const result = await s.stack.up(captured(s));
        // The keys and the stack itself.
        expect(result.summary.resourceChanges).toMatchObject({ create: N + 1 });
        expect(t.sandbox.keys.size).toBe(N);
        expect(new Set([...t.sandbox.keys.values()].map((k) => k.name)).size).toBe(N);
        // More POSTs than keys: the limit did refuse some, and they were sent again after the wait.
        expect(t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"]).toBeGreaterThan(N);
    });
});
