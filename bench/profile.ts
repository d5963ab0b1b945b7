// Where an up of N keys spends its time (issue 20, docs/performance.md's findings), two modes:
//   node bench/profile.ts profile [--keys 1000]
//     one keyfleet up from empty with --cpu-prof in the language host and the program, the CLI's
//     own --profiling (Go pprof) and --tracing, and every process's CPU seconds from /proc (the
//     dynamic provider's only way: the engine SIGKILLs it); prints each profile's heaviest functions. Files stay in the folder
//     it names (.keyfleet/profile-<time>/).
//   node bench/profile.ts checkpoints [--keys 300] [--parallel 10,64]
//     up from empty of keyfleet and of the floor with the engine's checkpoint after every step
//     (the default) and with PULUMI_SKIP_CHECKPOINTS=true, and at each --parallel, interleaved.
//   node bench/profile.ts bound --only <section> [--keys 250] [--parallel 32]
//     N keys of one vendor alone, up with PULUMI_SKIP_CHECKPOINTS=true, so that the vendor's rate
//     limit rather than the engine's checkpoint is what binds: its requests' span against the time
//     its documented limit allows them (at the 90 % keyfleet paces to), and its 429s and failures.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parseCli } from "../scripts/cli.ts";
import { vendors } from "../providers/vendors.ts";
import { benchSandboxes, type BenchSandbox } from "../sandbox/bench.ts";
import { createTestStack, ROOT, type TestStack } from "../test/helpers/stack.ts";
import { peaks } from "./peaks.ts";

const USAGE = "usage: node bench/profile.ts profile|checkpoints|bound [--keys N] [--parallel 10,64] [--only <vendor section> (bound)]";
const { values, positionals } = parseCli(USAGE, {
    allowPositionals: true,
    options: { keys: { type: "string" }, parallel: { type: "string", default: "10" }, only: { type: "string" } },
});
const mode = positionals[0];
if (mode !== "profile" && mode !== "checkpoints" && mode !== "bound") throw new Error("the mode is profile, checkpoints or bound");
const N = Number(values.keys ?? (mode === "profile" ? 1000 : mode === "bound" ? 250 : 300));
const only = mode === "bound" ? vendors.find((v) => v.section === values.only) : undefined;
if (mode === "bound" && !only?.limits?.perSecond) throw new Error(`bound takes --only <section> of a vendor with a rate limit: ${vendors.filter((v) => v.limits?.perSecond).map((v) => v.section).join(", ")}`);

async function fresh(main?: string): Promise<{ s: TestStack; boxes: BenchSandbox[] }> {
    const boxes = await Promise.all(vendors.filter((v) => !only || v === only).map((v) => benchSandboxes[v.section]!()));
    const per = (i: number) => Math.floor(N / boxes.length) + (i < N % boxes.length ? 1 : 0);
    const yaml = boxes.map((b, i) => b.yaml(Array.from({ length: per(i) }, (_, k) => `prof-${i}-${k}`), { generation: 0, overlap: false })).join("");
    return { s: await createTestStack(boxes, yaml, main ? { main } : {}), boxes };
}

async function done({ s, boxes }: { s: TestStack; boxes: BenchSandbox[] }) {
    await s.cleanup();
    for (const b of boxes) await b.close();
}

/** `pulumi up` as a user runs it, with extra environment and arguments; its wall time. */
function up(s: TestStack, env: Record<string, string>, args: string[] = []): Promise<number> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
        const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", "e2e", "--color", "never", ...args], {
            cwd: s.dir,
            env: { ...process.env, ...s.stack.workspace.envVars, ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let tail = "";
        const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
        child.stdout.on("data", keep);
        child.stderr.on("data", keep);
        child.on("close", (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`pulumi up exited ${code}:\n${tail}`))));
    });
}

interface ProfileNode {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
}

/** The heaviest functions of a .cpuprofile by self time, and which process it was. */
function summarize(file: string): string {
    const p = JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };
    const urls = new Set(p.nodes.map((n) => n.callFrame.url));
    const has = (s: string) => [...urls].some((u) => u.includes(s));
    const what = has("dynamic-provider.ts") ? "dynamic-provider plugin" : has("language-host.ts") ? "language host" : has("stacks/index.ts") ? "program" : "other node process";
    const perSample = (p.endTime - p.startTime) / Math.max(1, p.samples.length);
    const self = new Map<string, number>();
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const count = new Map<number, number>();
    for (const id of p.samples) count.set(id, (count.get(id) ?? 0) + 1);
    for (const [id, hits] of count) {
        const f = byId.get(id)!.callFrame;
        const where = f.url ? `${f.url.replace(/^file:\/\//, "").replace(ROOT + "/", "").replace(/.*node_modules\//, "")}:${f.lineNumber + 1}` : "";
        const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
        self.set(key, (self.get(key) ?? 0) + hits);
    }
    const total = p.samples.length;
    const idle = (self.get("(idle)") ?? 0) / total;
    const top = [...self.entries()].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 12);
    return [
        `${what} (${path.basename(file)}): ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s profiled, ${(100 * (1 - idle)).toFixed(0)}% busy`,
        ...top.map(([k, hits]) => `    ${((hits * perSample) / 1e6).toFixed(2).padStart(7)} s  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${k}`),
    ].join("\n");
}

if (mode === "profile") {
    const dir = path.join(ROOT, ".keyfleet", `profile-${new Date().toISOString().replace(/[:.]/g, "-")}`);
    fs.mkdirSync(dir, { recursive: true });
    const run = await fresh();
    try {
        console.log(`profile: keyfleet up of ${N} keys over ${vendors.length} vendors; files in ${path.relative(ROOT, dir)}`);
        // The engine ends its plugins with SIGKILL, so --cpu-prof (written at exit) never comes from
        // the dynamic provider, and --prof's tick log (refused in NODE_OPTIONS anyway) loses its
        // buffer with it: the provider's CPU is read from /proc instead.
        const watch = peaks(process.pid);
        const seconds = await up(run.s, { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` }, ["--profiling", path.join(dir, "cli"), "--tracing", `file:${path.join(dir, "cli.trace")}`]);
        const state = fs.statSync(path.join(run.s.dir, "state", ".pulumi", "stacks", "keyfleet", "e2e.json")).size;
        watch.stop();
        const cpu = watch.cpu();
        // From /proc, sampled every 100 ms: what each process used, even those killed at the end.
        console.log(`CPU seconds: CLI ${cpu.cli.toFixed(1)}, dynamic-provider plugin(s) ${cpu.provider.toFixed(1)}, language host and program ${cpu.host.toFixed(1)}`);
        console.log(`up: ${seconds.toFixed(1)} s, final checkpoint ${(state / 1024).toFixed(0)} KB (${(state / N).toFixed(0)} bytes per key)`);
        for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) console.log(summarize(path.join(dir, f)));
        const pprof = fs.readdirSync(dir).find((f) => f.startsWith("cli") && f.endsWith(".cpu"));
        if (pprof) {
            const pulumi = (await promisify(execFile)("sh", ["-c", "command -v pulumi"])).stdout.trim();
            const { stdout } = await promisify(execFile)("go", ["tool", "pprof", "-top", "-nodecount=25", pulumi, path.join(dir, pprof)], { maxBuffer: 16 << 20 }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ""}${e.stderr ?? ""}` }));
            console.log(`CLI (Go pprof, ${pprof}):\n${stdout}`);
        }
    } finally {
        await done(run);
    }
} else if (mode === "bound") {
    const run = await fresh();
    try {
        const box = run.boxes[0]!;
        box.reset();
        const seconds = await up(run.s, { PULUMI_SKIP_CHECKPOINTS: "true" }, ["--parallel", values.parallel]);
        const c = box.counts();
        const requests = c.calls + c.tokens;
        const span = ((c.last ?? 0) - (c.first ?? 0)) / 1000;
        // keyfleet paces a documented limit at 90 % of it (providers/shared's pacer): that is the least time the limit leaves.
        const allowed = requests / (0.9 * only!.limits!.perSecond!);
        console.log(`bound: ${N} ${only!.title} keys alone, up with PULUMI_SKIP_CHECKPOINTS=true, --parallel ${values.parallel}: ${seconds.toFixed(1)} s`);
        console.log(`  ${requests} requests (${c.tokens} token) took ${span.toFixed(1)} s first to last; the limit (${box.limit}) at 90 % allows them in ${allowed.toFixed(1)} s: ${(span / allowed).toFixed(2)}×; ${c.throttled} answered 429, ${c.failed} failed`);
    } finally {
        await done(run);
    }
} else {
    const rows: string[] = [];
    for (const parallel of values.parallel.split(",")) {
        for (const skip of [false, true]) {
            for (const main of [undefined, "bench/floor.ts"]) {
                const run = await fresh(main);
                try {
                    const seconds = await up(run.s, skip ? { PULUMI_SKIP_CHECKPOINTS: "true" } : {}, ["--parallel", parallel]);
                    rows.push(`| ${main ? "floor" : "keyfleet"} | ${parallel} | ${skip ? "PULUMI_SKIP_CHECKPOINTS=true" : "checkpoint after every step"} | ${seconds.toFixed(1)} |`);
                    console.log(rows.at(-1));
                } finally {
                    await done(run);
                }
            }
        }
    }
    console.log(`\nup from empty of ${N} keys over ${vendors.length} vendors:\n| program | --parallel | checkpoints | seconds |\n|---|---|---|---|\n${rows.join("\n")}`);
}
