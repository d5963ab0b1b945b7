// `npm run bench [-- --keys 10,40 --pairs 3]`: keyfleet through the real engine against every
// vendor's sandbox (providers/vendors.ts; sandbox/bench.ts has each one's fixture, rate limit on),
// next to the engine's floor (bench/floor.ts: the same program with a provider that calls no
// vendor). For each N the two run interleaved, keyfleet then floor, `pairs` times, each on a fresh
// stack and fresh sandboxes, through the same steps: up from empty, a no-change preview, a
// refresh, rotate all (a generation bump without overlap, then one with), destroy. The machine is
// shared, so medians of the pairs are reported with their spread, never one run. Writes the table,
// the issue's targets and a plot to docs/performance.md and docs/performance.png (--out).
import fs from "node:fs";
import path from "node:path";
import { parseCli } from "../scripts/cli.ts";
import { bench as BENCH } from "../scripts/commands.ts";
import { vendors } from "../providers/vendors.ts";
import { benchCredentials, benchSandboxes, type BenchCounts, type BenchSandbox } from "../sandbox/bench.ts";
import { createTestStack, ROOT, UNCHANGED_OPS, type TestStack } from "../test/helpers/stack.ts";
import { plot } from "./plot.ts";
import { peaks } from "./peaks.ts";

const { values } = parseCli(BENCH.usage, BENCH.args);
const SIZES = values.keys.split(",").map(Number);
let PAIRS = Number(values.pairs);
const ALL_STEPS = ["up", "preview", "refresh", "rotate", "rotate-overlap", "destroy"] as const;
type StepName = (typeof ALL_STEPS)[number];
const STEPS = values.steps.split(",") as StepName[];
// Usage errors, not stack traces (the CLI checks the numbers' form before it builds anything; this, what only the vendor list says).
const refuse = (why: string): never => {
    process.stderr.write(`${why}\n${BENCH.usage}\n`);
    process.exit(2);
};
for (const n of SIZES) if (!Number.isInteger(n) || n < vendors.length) refuse(`--keys takes whole numbers of at least ${vendors.length} (one key per vendor)`);
if (!Number.isInteger(PAIRS) || PAIRS < 1) refuse("--pairs takes a whole number of at least 1");
for (const s of STEPS) if (!ALL_STEPS.includes(s)) throw new Error(`unknown step "${s}"; steps are ${ALL_STEPS.join(", ")}`);
if (STEPS[0] !== "up" || STEPS.at(-1) !== "destroy") throw new Error("--steps starts with up and ends with destroy (each run starts and ends empty)");

type System = "keyfleet" | "floor";
interface StepRun {
    seconds: number;
    /** Vendor calls and token requests by vendor section. */
    vendors: Record<string, BenchCounts>;
    /** Peak resident memory (MB) of the provider processes, the CLI and the language host with its program. */
    providerMb: number;
    cliMb: number;
    hostMb: number;
    /** Checkpoint bytes per key after the step. */
    bytesPerKey: number;
    /** Resources the engine changed (a no-change preview's must be 0). */
    changes: number;
}

/** N keys spread over every vendor, as evenly as N allows. */
function spread(n: number): Record<string, string[]> {
    return Object.fromEntries(vendors.map((v, i) => [v.section, Array.from({ length: Math.floor(n / vendors.length) + (i < n % vendors.length ? 1 : 0) }, (_, k) => `bench-${v.section}-${String(k).padStart(4, "0")}`)]));
}

function yaml(boxes: Record<string, BenchSandbox>, names: Record<string, string[]>, rotation: { generation: number; overlap: boolean }) {
    return vendors.map((v) => boxes[v.section]!.yaml(names[v.section]!, rotation)).join("");
}

function stateBytesPerKey(s: TestStack, n: number): number {
    const file = path.join(s.dir, "state", ".pulumi", "stacks", "keyfleet", "e2e.json");
    return fs.existsSync(file) ? fs.statSync(file).size / n : 0;
}

const changed = (summary: Record<string, number> | undefined) => Object.entries(summary ?? {}).filter(([op]) => !UNCHANGED_OPS.includes(op)).reduce((sum, [, k]) => sum + k, 0);

const limitsSeen: Record<string, string> = {};

async function runOnce(system: System, n: number): Promise<Record<string, StepRun>> {
    const boxes: Record<string, BenchSandbox> = {};
    for (const v of vendors) {
        const start = benchSandboxes[v.section];
        if (!start) throw new Error(`sandbox/bench.ts has no fixture for vendor "${v.section}"`);
        boxes[v.section] = await start();
        limitsSeen[v.section] = boxes[v.section]!.limit;
    }
    const names = spread(n);
    const s = await createTestStack(Object.values(boxes), yaml(boxes, names, { generation: 0, overlap: false }), system === "floor" ? { main: "bench/floor.ts" } : {});
    const out: Record<string, StepRun> = {};
    const opts = { color: "never" as const, onOutput: (line: string) => void (s.output.length < 2000 && s.output.push(line)) };
    try {
        for (const step of STEPS) {
            if (step === "rotate") s.writeKeys(yaml(boxes, names, { generation: 1, overlap: false }));
            if (step === "rotate-overlap") s.writeKeys(yaml(boxes, names, { generation: 2, overlap: true }));
            for (const b of Object.values(boxes)) b.reset();
            const watch = peaks(process.pid);
            const started = performance.now();
            let summary: Record<string, number> | undefined;
            if (step === "up" || step === "rotate" || step === "rotate-overlap") summary = (await s.stack.up(opts)).summary.resourceChanges;
            else if (step === "preview") summary = (await s.stack.preview(opts)).changeSummary;
            else if (step === "refresh") summary = (await s.stack.refresh(opts)).summary.resourceChanges;
            else summary = (await s.stack.destroy(opts)).summary.resourceChanges;
            const seconds = (performance.now() - started) / 1000;
            const mem = watch.stop();
            out[step] = {
                seconds,
                vendors: Object.fromEntries(Object.entries(boxes).map(([k, b]) => [k, b.counts()])),
                providerMb: mem.provider / 1024,
                cliMb: mem.cli / 1024,
                hostMb: mem.host / 1024,
                bytesPerKey: step === "destroy" ? out[STEPS.at(-2)!]?.bytesPerKey ?? 0 : stateBytesPerKey(s, n),
                changes: step === "refresh" ? 0 : changed(summary),
            };
            process.stdout.write(`    ${system} ${step}: ${seconds.toFixed(1)} s\n`);
        }
    } catch (err) {
        process.stderr.write(`${system} at ${n} keys failed; the CLI's last lines:\n${s.output.slice(-40).join("")}\n`);
        throw err;
    } finally {
        await s.cleanup();
        for (const b of Object.values(boxes)) await b.close();
    }
    return out;
}

const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
};
const spreadOf = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
const fmt = (x: number, d = 1) => x.toFixed(d);

interface Result {
    n: number;
    runs: Record<System, Record<string, StepRun>[]>;
}

interface Saved {
    began: string;
    sizes: number[];
    pairs: number;
    steps: StepName[];
    limits: Record<string, string>;
    results: Result[];
}

let results: Result[] = [];
let began = new Date();
if (values.from) {
    const saved = JSON.parse(fs.readFileSync(values.from, "utf8")) as Saved;
    ({ results } = saved);
    began = new Date(saved.began);
    SIZES.splice(0, SIZES.length, ...saved.sizes);
    STEPS.splice(0, STEPS.length, ...saved.steps);
    PAIRS = saved.pairs;
    Object.assign(limitsSeen, saved.limits);
} else {
    console.log(`keyfleet bench: ${SIZES.join(", ")} keys over ${vendors.map((v) => v.section).join(", ")}; ${PAIRS} interleaved pair(s) per N; steps ${STEPS.join(", ")}; Node ${process.versions.node}`);
    const rawFile = `${path.resolve(ROOT, values.out)}.json`;
    for (const n of SIZES) {
        const r: Result = { n, runs: { keyfleet: [], floor: [] } };
        for (let p = 1; p <= PAIRS; p++) {
            for (const system of ["keyfleet", "floor"] as const) {
                console.log(`  N=${n} pair ${p}/${PAIRS}: ${system}`);
                r.runs[system].push(await runOnce(system, n));
            }
        }
        results.push(r);
        // Kept after each N, so that a run cut short still has what it measured.
        const saved: Saved = { began: began.toISOString(), sizes: results.map((x) => x.n), pairs: PAIRS, steps: STEPS, limits: limitsSeen, results };
        fs.mkdirSync(path.dirname(rawFile), { recursive: true });
        fs.writeFileSync(rawFile, JSON.stringify(saved));
    }
}

// The table and the targets.
const lines: string[] = [];
const say = (l = "") => lines.push(l);
const stepMedian = (r: Result, system: System, step: string, pick: (x: StepRun) => number) => median(r.runs[system].map((run) => pick(run[step]!)));
const callsOf = (x: StepRun, vendor: string) => x.vendors[vendor]!.calls;
const tokensOf = (x: StepRun, vendor: string) => x.vendors[vendor]!.tokens;

say("| N | step | keyfleet s (median, spread) | floor s (median, spread) | ratio | vendor calls (" + vendors.map((v) => v.section).join(" / ") + ") | token requests | checkpoint KB/key | provider MB | CLI MB | language host MB |");
say("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
    for (const step of STEPS) {
        const k = r.runs.keyfleet.map((run) => run[step]!.seconds);
        const f = r.runs.floor.map((run) => run[step]!.seconds);
        const calls = vendors.map((v) => fmt(stepMedian(r, "keyfleet", step, (x) => callsOf(x, v.section)), 0)).join(" / ");
        const tokens = vendors.map((v) => fmt(stepMedian(r, "keyfleet", step, (x) => tokensOf(x, v.section)), 0)).join(" / ");
        const mem = (pick: (x: StepRun) => number) => `${fmt(stepMedian(r, "keyfleet", step, pick), 0)} (floor ${fmt(stepMedian(r, "floor", step, pick), 0)})`;
        say(
            `| ${r.n} | ${step} | ${fmt(median(k))} (${spreadOf(k)}) | ${fmt(median(f))} (${spreadOf(f)}) | ${fmt(median(k) / median(f), 2)}× | ${calls} | ${tokens} | ` +
                `${fmt(stepMedian(r, "keyfleet", step, (x) => x.bytesPerKey) / 1024, 2)} (floor ${fmt(stepMedian(r, "floor", step, (x) => x.bytesPerKey) / 1024, 2)}) | ${mem((x) => x.providerMb)} | ${mem((x) => x.cliMb)} | ${mem((x) => x.hostMb)} |`,
        );
    }
}
say();

// Targets, at the largest N measured (the issue's are stated at 1,000 keys).
const big = results.at(-1)!;
const verdict = (ok: boolean) => (ok ? "met" : "**not met**");
const ratio = (step: string, floorStep = step) => stepMedian(big, "keyfleet", step, (x) => x.seconds) / stepMedian(big, "floor", floorStep, (x) => x.seconds);
const targets: string[] = [];
const has = (step: StepName) => STEPS.includes(step);
const limited = vendors.filter((v) => v.limits?.perSecond);
const allRuns = (step: string) => big.runs.keyfleet.map((run) => run[step]!);
targets.push(`up ≤ 1.0× floor where no vendor limit binds: ${fmt(ratio("up"), 2)}× — ${verdict(ratio("up") <= 1.0)}`);
for (const v of limited) {
    for (const step of STEPS) {
        const runs = allRuns(step);
        const calls = median(runs.map((x) => x.vendors[v.section]!.calls + x.vendors[v.section]!.tokens));
        if (calls === 0) continue;
        const throttled = Math.max(...runs.map((x) => x.vendors[v.section]!.throttled));
        const failed = Math.max(...runs.map((x) => x.vendors[v.section]!.failed));
        // The vendor's busy time: its first call to its last, within the step.
        const span = median(runs.map((x) => ((x.vendors[v.section]!.last ?? 0) - (x.vendors[v.section]!.first ?? 0)) / 1000));
        // What the limit allows: its calls at the documented rate. Where the engine feeds the vendor
        // slower than that, the limit does not bind and the floor's step is the bound instead.
        const allowed = Math.max(calls / v.limits!.perSecond!, calls / ((v.limits!.perHour ?? Infinity) / 3600));
        const floorStep = stepMedian(big, "floor", step, (x) => x.seconds);
        const bound = Math.max(allowed, floorStep);
        targets.push(
            `${v.title}, ${step}: its ${fmt(calls, 0)} requests took ${fmt(span)} s (first to last), its limit allows them in ${fmt(allowed)} s` +
                `${allowed < floorStep ? ` (the limit does not bind: the floor's ${step} takes ${fmt(floorStep)} s, the bound)` : ""}: ` +
                `${fmt(span / bound, 2)}× the bound, ${failed} failed, ${throttled} 429s (worst run) — ${verdict(span <= 1.1 * bound && failed === 0 && throttled === 0)}`,
        );
    }
}
if (has("preview")) {
    const calls = Math.max(...allRuns("preview").map((x) => Object.values(x.vendors).reduce((sum, c) => sum + c.calls, 0)));
    const changes = Math.max(...allRuns("preview").map((x) => x.changes));
    targets.push(`no-change preview: ${calls} vendor calls, ${changes} changes, ${fmt(ratio("preview"), 2)}× floor — ${verdict(calls === 0 && changes === 0 && ratio("preview") <= 1.1)}`);
}
if (has("refresh")) {
    // Pages a walk of every key takes: the list's page size is 100 where a vendor pages; a vendor
    // without a list (keys read from state, or rows read in one query) makes at most one call per key.
    for (const v of vendors) {
        const c = median(allRuns("refresh").map((x) => x.vendors[v.section]!.calls));
        const t = median(allRuns("refresh").map((x) => x.vendors[v.section]!.tokens));
        const keys = spread(big.n)[v.section]!.length;
        const pages = Math.ceil(keys / 100) + 1;
        targets.push(`refresh calls ≤ list pages + tokens, ${v.title}: ${fmt(c, 0)} calls + ${fmt(t, 0)} token requests for ${keys} keys, a walk in pages of 100 (and the empty last one) is ${pages} — ${verdict(c <= pages)}`);
    }
}
for (const step of ["rotate", "rotate-overlap"] as const) if (has(step)) targets.push(`${step} ≤ 1.2× the floor's replace of the same resources: ${fmt(ratio(step), 2)}× — ${verdict(ratio(step) <= 1.2)}`);
const worstStep = STEPS.reduce((a, b) => (stepMedian(big, "keyfleet", b, (x) => x.bytesPerKey) > stepMedian(big, "keyfleet", a, (x) => x.bytesPerKey) ? b : a));
const bytes = (step: string) => stepMedian(big, "keyfleet", step, (x) => x.bytesPerKey);
targets.push(
    `≤ 4 KB checkpoint per key (the whole checkpoint over N, stack outputs included): ${fmt(bytes("up") / 1024, 2)} KB after up (floor ${fmt(stepMedian(big, "floor", "up", (x) => x.bytesPerKey) / 1024, 2)}), ` +
        `${fmt(bytes(worstStep) / 1024, 2)} KB at most (after ${worstStep}) — ${verdict(bytes(worstStep) <= 4096)}`,
);
for (const v of vendors) {
    const credentials = benchCredentials[v.section];
    const worst = Math.max(...STEPS.flatMap((s) => allRuns(s).map((x) => x.vendors[v.section]!.tokens)));
    if (credentials === null || credentials === undefined) targets.push(`one token per credential per process, ${v.title}: no tokens (its column counts connections: at most ${worst} in one step)`);
    else targets.push(`one token per credential per process, ${v.title}: at most ${worst} token requests in one step for ${credentials} credential(s) — ${verdict(worst <= credentials)}`);
}
for (const t of targets) say(`- ${t}`);

const table = lines.join("\n");
console.log(`\n${table}`);

const out = path.resolve(ROOT, values.out);
fs.mkdirSync(path.dirname(out), { recursive: true });
const points = results.flatMap((r) => STEPS.flatMap((step) => (["keyfleet", "floor"] as const).map((system) => ({ n: r.n, step, system, seconds: stepMedian(r, system, step, (x) => x.seconds) }))));
await plot(points, `${out}.png`);
// The generated part goes between markers, so the findings written around it stay.
const generated = [
        `<!-- bench:begin (written by npm run bench; edits here are overwritten) -->`,
        `Written by \`npm run bench -- --keys ${SIZES.join(",")} --pairs ${PAIRS}\` on ${began.toISOString()} (Node ${process.versions.node}, ${vendors.length} vendors: ${vendors.map((v) => v.title).join(", ")}).`,
        `The machine has 2 cores shared with other engineers' test runs, so each N was run as ${PAIRS} interleaved pairs (keyfleet, floor, keyfleet, floor, …, each on a fresh stack with fresh sandboxes) and the table gives medians with the spread (min–max) of the pairs.`,
        ``,
        `Rate limits on in the sandboxes: ${vendors.map((v) => `${v.title} ${limitsSeen[v.section]}`).join("; ")}.`,
        ``,
        `![time against N](${path.basename(out)}.png)`,
        ``,
        table,
        `<!-- bench:end -->`,
    ].join("\n");
const doc = fs.existsSync(`${out}.md`) ? fs.readFileSync(`${out}.md`, "utf8") : `# Performance: keyfleet against the engine's floor\n\n<!-- bench:begin -->\n<!-- bench:end -->\n`;
fs.writeFileSync(`${out}.md`, doc.replace(/<!-- bench:begin[^]*?<!-- bench:end -->/, () => generated));
console.log(`\nwritten: ${path.relative(ROOT, out)}.md, ${path.relative(ROOT, out)}.png`);
