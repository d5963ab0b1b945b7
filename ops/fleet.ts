// npm run fleet -- preview|up|drift [--stacks a,b,…] [--parallel N] [--within 7d (drift)]
// Runs many stacks of the shared backend at once through the Automation API (the same CLI, language
// host and provider process as `pulumi up`), at most N at a time. Each stack prints one line when it
// ends; a summary table follows. A failing stack never stops the others.
//   preview  what `up` would change            drift  `preview --refresh`: each finding by what it is (ops/findings.ts):
//   up       applies each stack                        changed or missing at the vendor (drift), YAML not yet
//                                                      applied, expiring or rotation due
//   (no --stacks: every stack of the backend)
// Exit status: 0 all ran (and, for drift, nothing found); 1 a stack failed; 2 drift found (or YAML not
// yet applied, or something due), none failed; 64 bad arguments.
import { parseCli } from "../scripts/cli.ts";
import { fleet as FLEET } from "../scripts/commands.ts";
import { policyPack } from "../scripts/engine.ts";
import { LocalWorkspace, PulumiCommand, Stack, type EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { driftFindings, isDrift, isDue, vendorRenewals, type DriftEvent, type Finding } from "./findings.ts";
import { backendStacks, projectDir } from "./stacks.ts";
import { secretsPlan } from "./secrets.ts";
import { planOf, renderPlan, type PlanEvent } from "./plan.ts";
import { DURATION_PATTERN, durationMs } from "../providers/shared/rotation.ts";

export type FleetOp = "preview" | "up" | "drift";

export interface StackResult {
    stack: string;
    /** drift: "drift" when something changed at the vendor or is due, "changes" when only YAML is not yet applied. */
    result: "ok" | "changes" | "drift" | "failed";
    /** Keys the run changed (up) or would change (preview, drift). */
    keysChanged: number;
    /** drift: keys whose refresh found them changed or gone at the vendor; null for preview and up. */
    driftFound: number | null;
    /** drift: what each key's finding is (changed/missing at the vendor, not yet applied, expiring, rotation due); null otherwise. */
    findings: Finding[] | null;
    durationMs: number;
    /** Why the stack failed (the engine's first error). */
    error?: string;
    /** preview and up: keyfleet's plan of the run (ops/plan.ts), the text `npm run preview|up` prints. */
    plan?: string[];
}

const KEY_TYPE = "pulumi-nodejs:dynamic/";
const UNCHANGED = new Set(["same", "read", "refresh", "discard", "read-discard"]);

/** Runs `fn` over `items` with at most `limit` at once, in order of the list. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]);
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    return results;
}

/** The engine's own words for a failure: its first error diagnostic, else the CLI's last line. */
function reason(errors: string[], err: unknown): string {
    const text = errors.find((e) => e.trim()) ?? String((err as Error)?.message ?? err);
    const lines = text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !/^(error|stderr|stdout|code):?\s*$/i.test(l) && !l.startsWith("at "));
    return (errors.length > 0 ? lines.slice(0, 3) : lines.slice(-2)).join(" ").replace(/\s+/g, " ").slice(0, 400);
}

/** The key-hygiene policy pack of a preview or up, as keyfleet.sh gives it (scripts/engine.ts policyPack). */
export function policyOptions(dir: string, stackName: string): { policyPacks?: string[]; policyPackConfigs?: string[] } {
    const found = policyPack(dir, stackName);
    return found ? { policyPacks: [found.pack], policyPackConfigs: [found.config] } : {};
}

export async function runStack(
    op: FleetOp,
    stackName: string,
    options: { dir: string; pulumi: PulumiCommand; select: <T>(fn: () => Promise<T>) => Promise<T>; within?: string; engineOutput?: (text: string) => void },
): Promise<StackResult> {
    const started = performance.now();
    const changed = new Set<string>();
    const errors: string[] = [];
    const seen: DriftEvent[] = [];
    const events: PlanEvent[] = [];
    // The same plan text as one stack's `npm run preview|up`; a drift check says its findings instead.
    const planText = (status: number) => (op === "drift" ? undefined : renderPlan(planOf(events, { mode: op }), { stack: stackName, mode: op, status, engineShown: Boolean(options.engineOutput) }));
    const onEvent = (e: EngineEvent) => {
        events.push(e as PlanEvent);
        if (op === "drift") seen.push(e as DriftEvent);
        const step = e.resourcePreEvent?.metadata ?? e.resOutputsEvent?.metadata;
        if (step && step.type.startsWith(KEY_TYPE)) {
            if (!UNCHANGED.has(step.op)) changed.add(step.urn);
        }
        failures(e);
    };
    // Errors, and mandatory policy findings, which are no diagnostic (the engine's error says only
    // "preview failed"): so the stack's FAILED line names the rule and the key (the message's last
    // line; its first is the rule's description).
    const failures = (e: EngineEvent) => {
        if (e.diagnosticEvent?.severity === "error") errors.push(e.diagnosticEvent.message);
        const p = e.policyEvent;
        if (p?.enforcementLevel !== "mandatory") return;
        const said = p.message.trim().split("\n");
        errors.push(`[mandatory] ${p.policyName}: ${said[said.length - 1]}`);
    };
    try {
        // The stack's own provider (its settings file): a passphrase only where it uses one, and a
        // stack that `up` creates gets the provider its file records.
        const secrets = secretsPlan(options.dir, stackName, { require: true });
        const ws = await LocalWorkspace.create({
            workDir: options.dir,
            pulumiCommand: options.pulumi,
            ...(secrets.secrets.provider ? { secretsProvider: secrets.secrets.provider } : {}),
            envVars: {
                ...secrets.env,
                // As gitops.sh drift --within: the run's clock moves ahead, so what is due within the window shows now.
                ...(op === "drift" && options.within ? { KEYFLEET_CLOCK_OFFSET_MS: String(durationMs(options.within)) } : {}),
            },
        });
        // `stack select` writes the workspace's current stack: one at a time, the runs themselves in parallel.
        const stack = await options.select(() => (op === "up" ? Stack.createOrSelect(stackName, ws) : Stack.select(stackName, ws)));
        // A drift check reads; the policy judges what preview and up would declare.
        const policy = op === "drift" ? {} : policyOptions(options.dir, stackName);
        // The engine's own display only with --verbose, as `npm run preview|up`.
        const onOutput = options.engineOutput;
        if (op === "up") {
            // The Automation API's up skips the preview (--skip-preview): the engine would then apply
            // every key that passes and stop only at the first it refuses, and judge the stack's
            // rules after every change. As `pulumi up` does, the preview comes first, so a mandatory
            // rule broken anywhere stops the stack before any change.
            if (policy.policyPacks) await stack.preview({ onEvent: failures, color: "never", ...policy });
            await stack.up({ onEvent, onOutput, color: "never", ...policy });
        } else await stack.preview({ onEvent, onOutput, color: "never", refresh: op === "drift", ...policy });
        const keysChanged = changed.size;
        if (op !== "drift") return { stack: stackName, result: op === "preview" && keysChanged > 0 ? "changes" : "ok", keysChanged, driftFound: null, findings: null, durationMs: performance.now() - started, plan: planText(0) };
        const findings = driftFindings(seen, { now: Date.now(), within: options.within ?? null, renewals: await vendorRenewals() });
        const drift = findings.filter(isDrift).length;
        const result = drift + findings.filter(isDue).length > 0 ? "drift" : findings.length > 0 || keysChanged > 0 ? "changes" : "ok";
        return { stack: stackName, result, keysChanged, driftFound: drift, findings, durationMs: performance.now() - started };
    } catch (err) {
        return {
            stack: stackName,
            result: "failed",
            keysChanged: changed.size,
            driftFound: op === "drift" ? driftFindings(seen, { now: Date.now() }).filter(isDrift).length : null,
            findings: null,
            durationMs: performance.now() - started,
            error: reason(errors, err),
            plan: planText(1),
        };
    }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

const count = (r: StackResult, f: (x: Finding) => boolean) => (r.findings ?? []).filter(f).length;
const notApplied = (f: Finding) => f.kind === "not yet applied";

export function progressLine(op: FleetOp, r: StackResult, width: number): string {
    const keys = `${r.keysChanged} key${r.keysChanged === 1 ? "" : "s"} ${op === "up" ? "changed" : "to change"}`;
    const what =
        r.result === "failed"
            ? `FAILED: ${r.error}`
            : r.findings
              ? `${r.result}, ${keys}: ${r.driftFound} drifted at the vendor, ${count(r, notApplied)} not yet applied, ${count(r, isDue)} due`
              : `${r.result}, ${keys}`;
    const line = `[fleet] ${op} ${r.stack.padEnd(width)}  ${seconds(r.durationMs).padStart(7)}  ${what}`;
    return [line, ...(r.findings ?? []).map((f) => `[fleet]   ${r.stack}: ${f.key}: ${f.kind} (${f.detail})`)].join("\n");
}

export function summaryTable(results: StackResult[]): string {
    const rows = [
        ["STACK", "RESULT", "KEYS CHANGED", "DRIFT FOUND", "NOT APPLIED", "DUE", "DURATION"],
        ...results.map((r) => [
            r.stack,
            r.result,
            String(r.keysChanged),
            r.driftFound === null ? "–" : String(r.driftFound),
            r.findings === null ? "–" : String(count(r, notApplied)),
            r.findings === null ? "–" : String(count(r, isDue)),
            seconds(r.durationMs),
        ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    return rows.map((row) => row.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n");
}

export async function runFleet(op: FleetOp, stacks: string[], options: { dir: string; parallel: number; within?: string; verbose?: boolean; log?: (line: string) => void }) {
    const log = options.log ?? ((line: string) => console.log(line));
    const pulumi = await PulumiCommand.get({ skipVersionCheck: true });
    let queue: Promise<unknown> = Promise.resolve();
    const select = <T>(fn: () => Promise<T>): Promise<T> => {
        const run = queue.then(fn, fn);
        queue = run.catch(() => undefined);
        return run;
    };
    const width = Math.max(...stacks.map((s) => s.length));
    const started = performance.now();
    const results = await pool(stacks, options.parallel, async (name) => {
        const engineOutput = options.verbose ? (text: string) => log(text.replace(/\n$/, "").split("\n").map((l) => `[${name}] ${l}`).join("\n")) : undefined;
        const r = await runStack(op, name, { dir: options.dir, pulumi, select, within: options.within, engineOutput });
        // One block per stack, its plan under its line, so parallel stacks do not interleave.
        log([progressLine(op, r, width), ...(r.plan ?? []).map((l) => `    ${l}`)].join("\n"));
        return r;
    });
    return { results, wallMs: performance.now() - started };
}

const USAGE = FLEET.usage;

async function main(): Promise<number> {
    // 64 (EX_USAGE) for usage errors: 2 means "drift found" to a scheduled `fleet drift`.
    const parsed = parseCli(USAGE, FLEET.args, FLEET.usageExit);
    const op = parsed.positionals[0] as FleetOp;
    const parallel = Number(parsed.values.parallel);
    const within = parsed.values.within;
    const badWithin = within !== undefined && (op !== "drift" || !DURATION_PATTERN.test(within));
    if (!FLEET.operations.includes(op) || parsed.positionals.length !== 1 || !Number.isInteger(parallel) || parallel < 1 || badWithin) {
        console.error(USAGE);
        return 64;
    }
    const dir = projectDir(parsed.values.dir);
    const stacks = parsed.values.stacks ? parsed.values.stacks.split(",").map((s) => s.trim()).filter(Boolean) : await backendStacks(dir);
    if (stacks.length === 0) {
        console.error("keyfleet fleet: no stacks (the backend has none; name them with --stacks)");
        return 64;
    }
    console.log(`[fleet] ${stacks.length} stack${stacks.length === 1 ? "" : "s"}, ${Math.min(parallel, stacks.length)} at a time: ${op}`);
    const { results, wallMs } = await runFleet(op, stacks, { dir, parallel, within, verbose: parsed.values.verbose });
    const failed = results.filter((r) => r.result === "failed").length;
    console.log(`\n${summaryTable(results)}\n`);
    console.log(`[fleet] ${results.length - failed} of ${results.length} stacks ran, ${failed} failed; wall time ${seconds(wallMs)}`);
    if (failed > 0) return 1;
    return op === "drift" && results.some((r) => r.result === "drift" || r.result === "changes") ? 2 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
