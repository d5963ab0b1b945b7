// Wall time of `npm run fleet -- preview` over 10 environments of 20 keys each (spread over every
// vendor of providers/vendors.ts, each against its in-process sandbox from sandbox/bench.ts), at
// parallelism 1, 2 and 4. The stacks live in a scratch project
// with its own file backend; they are made with one `fleet up`, then each preview runs the real
// command (ops/fleet.ts) as a child process, as a user would.
//   node bench/fleet.ts [--envs 10] [--keys 20] [--parallel 1,2,4]
import { spawn } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { vendors } from "../providers/vendors.ts";
import { benchSandboxes } from "../sandbox/bench.ts";
import { createFleetProject } from "../test/helpers/fleet.ts";
import { ROOT } from "../test/helpers/stack.ts";

const { values } = parseArgs({ options: { envs: { type: "string", default: "10" }, keys: { type: "string", default: "20" }, parallel: { type: "string", default: "1,2,4" } } });
const envs = Number(values.envs);
const perEnv = Number(values.keys);
const levels = values.parallel.split(",").map(Number);

function fleet(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; ms: number }> {
    const started = performance.now();
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "ops/fleet.ts"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
        let stdout = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, ms: performance.now() - started }));
    });
}

const boxes = await Promise.all(vendors.map((v) => benchSandboxes[v.section]!()));
const names = Array.from({ length: envs }, (_, i) => `env${String(i + 1).padStart(2, "0")}`);
// Each environment's keys spread over the vendors, as evenly as the count allows.
const yaml = (env: string) =>
    boxes
        .map((b, i) => b.yaml(Array.from({ length: Math.floor(perEnv / boxes.length) + (i < perEnv % boxes.length ? 1 : 0) }, (_, k) => `${env} key ${i}-${k + 1}`), { generation: 0, overlap: false }))
        .join("");
const p = await createFleetProject(boxes, Object.fromEntries(names.map((n) => [n, yaml(n)])));
try {
    console.log(`bench: ${envs} stacks × ${perEnv} keys in ${p.dir}; ${navigatorCores()} cores`);
    const up = await fleet(["up", "--parallel", "4"], p.env);
    if (up.code !== 0) throw new Error(`fleet up failed:\n${up.stdout}`);
    console.log(`fleet up (parallel 4): ${(up.ms / 1000).toFixed(1)}s, ${boxes.reduce((sum, b) => sum + b.counts().calls, 0)} vendor calls`);
    const rows: string[] = [];
    for (const n of levels) {
        const r = await fleet(["preview", "--parallel", String(n)], p.env);
        if (r.code !== 0) throw new Error(`fleet preview failed:\n${r.stdout}`);
        const changed = /KEYS CHANGED/.test(r.stdout) ? r.stdout.split("\n").filter((l) => /^env\d+\s+changes/.test(l)).length : -1;
        rows.push(`parallel ${n}: ${(r.ms / 1000).toFixed(1)}s wall (${((r.ms / envs) / 1000).toFixed(2)}s per stack)${changed > 0 ? `, ${changed} stacks with changes` : ""}`);
        console.log(rows.at(-1));
    }
    console.log(`\nfleet preview, ${envs} environments × ${perEnv} keys:\n  ${rows.join("\n  ")}`);
} finally {
    p.cleanup();
    for (const b of boxes) await b.close();
}

function navigatorCores(): number {
    return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0;
}
