// The step runner's own checks can fail: through the real engine against a Nexus sandbox, a step
// that leaves drift behind fails on the runner's plan (naming the field), a step declared to leave
// a non-empty plan fails when its plan is empty, and a destroy fails when the vendor still holds a
// key, or when its query finds nothing even before the destroy. Without these, a runner whose
// plan check had stopped looking would keep every lifecycle suite green.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { createTestStack, type TestStack } from "./helpers/stack.ts";
import { runDestroy, runStep } from "./helpers/step-runner.ts";

const YAML = `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n      permissions: [nexus:consumer:chat]\n`;

let t: TestSandbox;
let s: TestStack;
const c = { stack: () => s };

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, YAML);
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("the step runner", () => {
    it("fails a step whose up left the vendor unlike the YAML, with the plan that says so", async () => {
        const err = await runStep(c, {
            name: "a drifting step",
            yaml: YAML,
            changes: { create: 2 },
            // Out of band, after the up: the key the YAML wants enabled is disabled.
            check: async () => {
                const id = (await s.apiKeys())["nexus/tenant/web chat"];
                await t.client.update(t.tenantLogin, id, { enabled: false });
            },
        }).catch((e: Error) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/^a drifting step: the plan after the up is not empty/);
        // The plan it printed: which resource the engine would update, and which field.
        expect((err as Error).message).toMatch(/nexus:TenantKey: \(update\)[\s\S]*nexus\/tenant\/web chat\]\s*~ enabled: false => true/);
    });

    it("passes the same step once its up has put the drift right", async () => {
        await runStep(c, { name: "a converging step", refresh: true, changes: { update: 1 } });
        expect((await t.client.list(t.tenantLogin)).map((k) => k.enabled)).toEqual([true]);
    });

    it("fails a step declared to leave a non-empty plan when its plan is empty", async () => {
        const err = await runStep(c, { name: "a step that says it drifts", exactChanges: { same: 2 }, expectNonEmptyPreview: "it does not" }).catch((e: Error) => e);
        expect(String(err)).toMatch(/a step that says it drifts: the plan after it was declared not empty \(it does not\)/);
    });

    it("fails a step whose up was expected to fail and did not", async () => {
        const err = await runStep(c, { name: "a step expecting an error", expectError: /refused/ }).catch((e: Error) => e);
        expect(String(err)).toMatch(/a step expecting an error: the up was expected to fail/);
    });

    it("fails a destroy whose query of the vendor finds nothing even before it", async () => {
        const err = await runDestroy(c, { name: "a blind destroy", remaining: async () => [] }).catch((e: Error) => e);
        expect(String(err)).toMatch(/a blind destroy: before the destroy, the vendor must hold something/);
        // It failed before destroying anything.
        expect(await s.resources()).not.toEqual([]);
    });

    it("fails a destroy after which the vendor still holds a key", async () => {
        // A key the stack does not manage, so destroy leaves it: what a provider whose delete did nothing would leave.
        await t.client.create(t.tenantLogin, { tenant: CC, name: "left behind", permissions: ["nexus:consumer:chat"], enabled: true });
        const err = await runDestroy(c, { name: "a leaky destroy", remaining: async () => (await t.client.list(t.tenantLogin)).map((k) => k.name) }).catch((e: Error) => e);
        expect(String(err)).toMatch(/a leaky destroy: what the vendor still holds of the stack/);
        expect(String(err)).toMatch(/left behind/);
        expect(await s.resources()).toEqual([]);
    });
});
