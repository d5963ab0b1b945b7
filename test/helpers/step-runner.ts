// A lifecycle suite as a list of steps, in the spirit of Terraform's resource.TestCase: each step
// writes the keys YAML, runs `pulumi up` through the real engine, checks the vendor side, and then
// the runner itself asks for a second plan, refreshed as `keyfleet preview` and the scheduled drift
// check ask for it, and fails the step unless it is empty. A step whose plan is rightly not empty
// says why (expectNonEmptyPreview). The runner adds a last step that destroys the stack and asks
// the vendor, over its own API or database, what is left of it.
//
// Without the runner, each suite wrote its own "no-op preview" at a few places it thought of; a
// step that left a difference between the YAML, the state and the vendor (a field the provider
// reads back differently, a default the diff forgets) was only found where someone looked.
import type { EngineEvent, PreviewOptions, UpOptions } from "@pulumi/pulumi/automation/index.js";
import { expect, it } from "vitest";
import { expectNoChanges, type TestStack } from "./stack.ts";

/** The engine's change summary: operation → count. */
export type Changes = Record<string, number>;

/** What a step's checks are handed: what its up did and left. */
export interface StepResult {
    /** The up's change summary (empty for a step whose up failed as expected). */
    changes: Changes;
    /** Everything the engine printed during the step's up. */
    printed: string;
    /** The engine's events of the up, in order. */
    events: EngineEvent[];
    /** The error of an up that failed as the step expected. */
    error?: Error;
}

export interface Step {
    /** The test's name in reports: "step 3 update: …". */
    name: string;
    /** The keys YAML to apply, or an edit of the YAML last applied; absent, the YAML stays as it was. */
    yaml?: string | ((current: string) => string);
    /** Runs before the YAML is written (Terraform's PreConfig): out-of-band edits, clocks, a counter, a preview of its own. */
    before?: () => Promise<void>;
    /** A preview of the step's YAML before its up, and what it must show. */
    plan?: PlanExpectation;
    /** `pulumi up --refresh`. */
    refresh?: boolean;
    /** The up's change summary must contain these counts. */
    changes?: Changes;
    /** The up's change summary must be exactly this. */
    exactChanges?: Changes;
    /** The up must fail with an error matching this; no plan is asked after it (the change is still pending). */
    expectError?: RegExp;
    /** Asserts the vendor side after the up, before the runner's plan. */
    check?: (result: StepResult) => Promise<void>;
    /** The runner's plan refreshes unless this is false (a step that asserts a plan calls no vendor). */
    previewRefresh?: boolean;
    /** Why the plan after this step is rightly not empty; then the runner asserts it is not. */
    expectNonEmptyPreview?: string;
    /** Runs last, after the runner's plan, even when the step failed: restores what `before` changed. */
    after?: () => Promise<void>;
}

export interface PlanExpectation {
    refresh?: boolean;
    /** `--diff`: the plan names the fields it would change (and prints the loader's warnings apart). */
    diff?: boolean;
    /** The preview's change summary must contain these counts. */
    changes?: Changes;
    /** What the preview must print: a reason, a warning. */
    printed?: RegExp | RegExp[];
    /** Asserts more after the preview (that it called no vendor, say). */
    check?: () => Promise<void>;
}

export interface DestroyStep {
    name: string;
    before?: () => Promise<void>;
    /**
     * What the vendor still holds of the stack, asked over its API or its database: empty after the
     * destroy. Asked before the destroy too, where it must not be empty, so that a query which
     * finds nothing anyway cannot pass. One line per thing, naming it (name, row id, fingerprint)
     * and never holding a secret: a failure prints them, and some vendors' ids are the key.
     */
    remaining: () => Promise<string[]>;
    /** Asserts more after the destroy, before `remaining` is asked. */
    check?: () => Promise<void>;
}

export interface LifecycleCase {
    /** The stack under test (made in the suite's beforeAll, so a function). */
    stack: () => TestStack;
    /** Runs after every up and the destroy, whether it succeeded or not: the suite keeps state for its leak scan. */
    afterApply?: () => Promise<void>;
    steps: Step[];
    destroy: DestroyStep;
}

/**
 * A step that changes nothing: its up is `exactChanges` (sames and the read of the last run), and
 * neither the up nor the plan after it calls the vendor. That plan is not refreshed (a refresh asks
 * the vendor); every other step's is. `calls` counts the sandbox's requests.
 */
export function noOpStep(name: string, exactChanges: Changes, calls: () => number): Step {
    let before = 0;
    return {
        name,
        before: async () => void (before = calls()),
        exactChanges,
        check: async () => expect(calls(), "the vendor's requests during the up").toBe(before),
        previewRefresh: false,
        after: async () => expect(calls(), "the vendor's requests during the up and the plan").toBe(before),
    };
}

/** The runner's memory across the steps of one case. */
interface Run {
    yaml?: string;
    /** The step that failed; the ones after it are skipped (they build on it). */
    failed?: string;
}

/**
 * Declares one vitest test per step, in order, and the destroy. Later steps build on earlier ones,
 * so after a failure they are skipped, naming the step that failed.
 */
export function lifecycle(c: LifecycleCase): void {
    const run: Run = {};
    const declare = (name: string, body: () => Promise<void>) =>
        it(name, async (ctx) => {
            if (run.failed) ctx.skip(`skipped: "${run.failed}" failed`);
            try {
                await body();
            } catch (err) {
                run.failed = name;
                throw err;
            }
        });
    for (const step of c.steps) declare(step.name, () => runStep(c, step, run));
    declare(c.destroy.name, () => runDestroy(c, c.destroy));
}

/** One step: the YAML, the up, the checks, then the runner's own plan. Exported for the runner's own test. */
export async function runStep(c: Pick<LifecycleCase, "stack" | "afterApply">, step: Step, run: Run = {}): Promise<void> {
    const s = c.stack();
    try {
        await step.before?.();
        if (step.yaml !== undefined) {
            const text = typeof step.yaml === "string" ? step.yaml : step.yaml(run.yaml ?? "");
            s.writeKeys(text);
            run.yaml = text;
        }
        if (step.plan) await planBefore(s, step.plan);
        const result = await up(c, s, step);
        if (step.expectError) {
            expect(result.error, `${step.name}: the up was expected to fail`).toBeDefined();
            expect(String(result.error)).toMatch(step.expectError);
        } else if (result.error) {
            throw result.error;
        }
        if (step.changes) expect(result.changes).toMatchObject(step.changes);
        if (step.exactChanges) expect(result.changes).toEqual(step.exactChanges);
        await step.check?.(result);
        if (!step.expectError) await planAfter(s, step);
    } catch (err) {
        await step.after?.().catch(() => undefined);
        throw err;
    }
    await step.after?.();
}

async function up(c: Pick<LifecycleCase, "afterApply">, s: TestStack, step: Step): Promise<StepResult> {
    const lines: string[] = [];
    const events: EngineEvent[] = [];
    const opts: UpOptions = {
        color: "never",
        refresh: step.refresh,
        onOutput: (l) => (lines.push(l), s.output.push(l)),
        onEvent: (e) => events.push(e),
    };
    try {
        const res = await s.stack.up(opts);
        return { changes: res.summary.resourceChanges ?? {}, printed: lines.join(""), events };
    } catch (err) {
        return { changes: {}, printed: lines.join(""), events, error: err as Error };
    } finally {
        await c.afterApply?.();
    }
}

async function planBefore(s: TestStack, want: PlanExpectation): Promise<void> {
    const lines: string[] = [];
    const res = await s.stack.preview({ color: "never", diff: want.diff, refresh: want.refresh, onOutput: (l) => (lines.push(l), s.output.push(l)) });
    if (want.changes) expect(res.changeSummary).toMatchObject(want.changes);
    for (const re of [want.printed ?? []].flat()) expect(lines.join("")).toMatch(re);
    await want.check?.();
}

/**
 * The second plan. Its printed diff goes into the failure message: which resource and which field
 * the provider would still change is the finding.
 */
async function planAfter(s: TestStack, step: Step): Promise<void> {
    const lines: string[] = [];
    const opts: PreviewOptions = {
        color: "never",
        diff: true,
        refresh: step.previewRefresh ?? true,
        // The engine's own verdict as well as the summary's, as the scheduled drift check asks for it.
        expectNoChanges: !step.expectNonEmptyPreview,
        onOutput: (l) => (lines.push(l), s.output.push(l)),
    };
    let changes: Changes | undefined;
    try {
        changes = (await s.stack.preview(opts)).changeSummary;
        if (step.expectNonEmptyPreview) {
            expect(() => expectNoChanges(changes), `${step.name}: the plan after it was declared not empty (${step.expectNonEmptyPreview})`).toThrow();
            return;
        }
        expectNoChanges(changes);
    } catch (err) {
        if (step.expectNonEmptyPreview) throw err;
        throw new Error(`${step.name}: the plan after the up is not empty${changes ? `: ${JSON.stringify(changes)}` : ""}\n${lines.join("")}\n${String(err)}`);
    }
}

/** The destroy: the stack's state is empty, and the vendor holds nothing of it. */
export async function runDestroy(c: Pick<LifecycleCase, "stack" | "afterApply">, d: DestroyStep): Promise<void> {
    const s = c.stack();
    expect((await d.remaining()).length, `${d.name}: before the destroy, the vendor must hold something of the stack (else the query proves nothing)`).toBeGreaterThan(0);
    await d.before?.();
    try {
        await s.stack.destroy({ color: "never", onOutput: (l) => s.output.push(l) });
    } finally {
        await c.afterApply?.();
    }
    expect(await s.resources()).toEqual([]);
    await d.check?.();
    expect(await d.remaining(), `${d.name}: what the vendor still holds of the stack`).toEqual([]);
}
