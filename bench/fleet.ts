// Wall time of `npm run fleet -- preview` over 10 environments of 20 keys each (Nexus tenant keys
// against an in-process sandbox), at parallelism 1, 2 and 4. The stacks live in a scratch project
// with its own file backend; they are made with one `fleet up`, then each preview runs the real
// command (ops/fleet.ts) as a child process, as a user would.
//   node bench/fleet.ts [--envs 10] [--keys 20] [--parallel 1,2,4]
import { spawn } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { createFleetProject } from "../test/helpers/fleet.ts";
import { CC, startSandbox } from "../test/helpers/sandbox.ts";
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

const t = await startSandbox();
const names = Array.from({ length: envs }, (_, i) => `env${String(i + 1).padStart(2, "0")}`);
const yaml = (env: string) =>
    `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${Array.from({ length: perEnv }, (_, k) => `    - name: ${env} key ${k + 1}\n`).join("")}`;
const p = await createFleetProject([t], Object.fromEntries(names.map((n) => [n, yaml(n)])));
try {
    console.log(`bench: ${envs} stacks × ${perEnv} keys in ${p.dir}; ${navigatorCores()} cores`);
    const up = await fleet(["up", "--parallel", "4"], p.env);
    if (up.code !== 0) throw new Error(`fleet up failed:\n${up.stdout}`);
    console.log(`fleet up (parallel 4): ${(up.ms / 1000).toFixed(1)}s, ${(await t.client.list(t.tenantLogin)).length} keys at the vendor`);
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
    await t.close();
}

function navigatorCores(): number {
    return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0;
}
