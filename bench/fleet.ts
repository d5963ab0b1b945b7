// Fleet at scale (issue 20): `npm run fleet` over E environments of K keys each, spread over every
// vendor of providers/vendors.ts (each against its own sandbox from sandbox/bench.ts, rate limits on),
// at each parallelism, against the same E × K keys in one stack. The stacks live in a team backend:
// PostgreSQL (a database of its own per run on the server scripts/postgres.sh finds or starts,
// dropped afterwards), or a file backend with --backend file. Every run starts from empty with fresh
// sandboxes and times the real command (ops/fleet.ts, a child process as a user runs it): `fleet up`
// (every key created), then a no-change `fleet preview` and `fleet drift` (a refresh).
//   node bench/fleet.ts [--envs 10] [--keys 100] [--parallel 1,2,4] [--backend postgres|file]
import { execFile, spawn } from "node:child_process";
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseCli } from "../scripts/cli.ts";
import { vendors } from "../providers/vendors.ts";
import { benchSandboxes, type BenchSandbox } from "../sandbox/bench.ts";
import { createFleetProject } from "../test/helpers/fleet.ts";
import { ROOT } from "../test/helpers/stack.ts";
import { peaks, type Peaks } from "./peaks.ts";

const USAGE = "usage: node bench/fleet.ts [--envs 10] [--keys 100] [--parallel 1,2,4] [--backend postgres|file]";
const { values } = parseCli(USAGE, {
    options: { envs: { type: "string", default: "10" }, keys: { type: "string", default: "100" }, parallel: { type: "string", default: "1,2,4" }, backend: { type: "string", default: "postgres" } },
});
const envs = Number(values.envs);
const perEnv = Number(values.keys);
const levels = values.parallel.split(",").map(Number);
const backend = values.backend;
if (![envs, perEnv, ...levels].every((n) => Number.isInteger(n) && n >= 1) || perEnv < vendors.length || (backend !== "postgres" && backend !== "file")) {
    process.stderr.write(`${USAGE}\n(--keys at least ${vendors.length}: one per vendor)\n`);
    process.exit(2);
}
const run = promisify(execFile);
const PG = path.join(ROOT, "scripts", "postgres.sh");

interface Timed {
    code: number;
    stdout: string;
    seconds: number;
    /** Peak resident MB of the largest CLI, language host (with its program) and provider under the fleet command. */
    peak: Peaks;
}

function fleet(args: string[], env: Record<string, string>): Promise<Timed> {
    const started = performance.now();
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "ops/fleet.ts"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
        const watch = peaks(child.pid!);
        let stdout = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, seconds: (performance.now() - started) / 1000, peak: watch.stop() }));
    });
}

/** A database of its own on the team server, and the backend URL of it (each postgres.sh command finds the server itself). */
async function database(): Promise<{ url: string; drop(): Promise<void> }> {
    const db = `keyfleet_bench_${crypto.randomBytes(4).toString("hex")}`;
    await run("bash", [PG, "createdb", db]);
    const drop = async () => void (await run("bash", [PG, "dropdb", db]));
    try {
        const { stdout: url } = await run("bash", [PG, "url", db]);
        return { url: url.trim(), drop };
    } catch (err) {
        await drop();
        throw err;
    }
}

/** One environment's keys, spread over the vendors as evenly as the count allows. */
function yaml(boxes: BenchSandbox[], env: string, count: number): string {
    const per = (i: number) => Math.floor(count / boxes.length) + (i < count % boxes.length ? 1 : 0);
    return boxes.map((b, i) => b.yaml(Array.from({ length: per(i) }, (_, k) => `${env} key ${i}-${k + 1}`), { generation: 0, overlap: false })).join("");
}

interface Row {
    shape: string;
    parallel: number;
    up: Timed;
    preview: Timed;
    drift: Timed;
    calls: number;
}

/** `stacks` (name → key count) made from empty in a backend and sandboxes of their own, then previewed and refreshed. */
async function measure(shape: string, stacks: Record<string, number>, parallel: number): Promise<Row> {
    const started = await Promise.allSettled(vendors.map((v) => benchSandboxes[v.section]!()));
    const boxes = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    let db: Awaited<ReturnType<typeof database>> | undefined;
    let p: Awaited<ReturnType<typeof createFleetProject>> | undefined;
    try {
        const failed = started.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
        if (backend === "postgres") db = await database();
        p = await createFleetProject(boxes, Object.fromEntries(Object.entries(stacks).map(([name, n]) => [name, yaml(boxes, name, n)])), "fleet-passphrase", db ? { backendUrl: db.url } : {});
        const env = p.env;
        const step = async (op: string, ok: (r: Timed) => boolean) => {
            const r = await fleet([op, "--parallel", String(parallel)], env);
            if (!ok(r)) throw new Error(`fleet ${op} (${shape}, parallel ${parallel}) ended ${r.code}:\n${r.stdout.slice(-3000)}`);
            return r;
        };
        const up = await step("up", (r) => r.code === 0);
        const calls = boxes.reduce((sum, b) => sum + b.counts().calls, 0);
        // The summary table has a row per stack (stack, result, keys changed, …): one per stack, each ok with 0.
        const rows = (r: Timed) => [...r.stdout.matchAll(/^(\S+)\s+(ok|changes|drift|failed)\s+(\d+)\s/gm)];
        const unchanged = (r: Timed) => rows(r).length === Object.keys(stacks).length && rows(r).every((m) => m[2] === "ok" && m[3] === "0");
        const preview = await step("preview", (r) => r.code === 0 && unchanged(r));
        // drift's 0 is "nothing found", 2 "something found": a refresh of keys just made must find nothing.
        const drift = await step("drift", (r) => r.code === 0 && unchanged(r));
        return { shape, parallel, up, preview, drift, calls };
    } finally {
        p?.cleanup();
        // Every handle is let go whatever else fails; a failure here is told, not thrown over the step's own.
        const closed = await Promise.allSettled([...(db ? [db.drop()] : []), ...boxes.map((b) => b.close())]);
        for (const c of closed) if (c.status === "rejected") console.error(`bench: cleanup: ${String(c.reason)}`);
    }
}

const names = Array.from({ length: envs }, (_, i) => `env${String(i + 1).padStart(2, "0")}`);
console.log(`bench: fleet of ${envs} stacks × ${perEnv} keys, parallel ${levels.join(", ")}, ${backend} backend; the same ${envs * perEnv} keys in one stack; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}`);
const rows: Row[] = [];
rows.push(await measure(`1 stack × ${envs * perEnv} keys`, { all: envs * perEnv }, 1));
console.log(line(rows.at(-1)!));
for (const n of levels) {
    rows.push(await measure(`${envs} stacks × ${perEnv} keys`, Object.fromEntries(names.map((name) => [name, perEnv])), n));
    console.log(line(rows.at(-1)!));
}
console.log(`\n| shape | parallel | fleet up s | up wall ÷ stacks s | no-change preview s | drift (refresh) s | vendor calls of the up | peak MB in the up: CLI / language host / provider (largest of each) |\n|---|---|---|---|---|---|---|---|`);
for (const r of rows) {
    const stacks = r.shape.startsWith("1 ") ? 1 : envs;
    console.log(`| ${r.shape} | ${r.parallel} | ${r.up.seconds.toFixed(1)} | ${(r.up.seconds / stacks).toFixed(1)} | ${r.preview.seconds.toFixed(1)} | ${r.drift.seconds.toFixed(1)} | ${r.calls} | ${mb(r.up.peak)} |`);
}
console.log(`(${backend} backend; load ${os.loadavg().map((l) => l.toFixed(1)).join(" / ")} at the end)`);

function line(r: Row): string {
    return `${r.shape}, parallel ${r.parallel}: up ${r.up.seconds.toFixed(1)} s, preview ${r.preview.seconds.toFixed(1)} s, drift ${r.drift.seconds.toFixed(1)} s, ${r.calls} vendor calls, peak MB ${mb(r.up.peak)}`;
}

function mb(p: Peaks): string {
    const m = (kb: number) => (kb / 1024).toFixed(0);
    return `${m(p.cli)} / ${m(p.host)} / ${m(p.provider)}`;
}
