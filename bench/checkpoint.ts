// What one key costs in the checkpoint (issue 20's ≤ 4 KB per key): `node bench/checkpoint.ts
// [--keys 100] [--from <a state file>]` makes an up of N keys over every vendor's sandbox (or reads
// a state file the file backend wrote) and prints, per resource type, the bytes of each top-level
// field of a resource and of each input and output, as the file backend stores them (compact
// JSON, secrets as ciphertexts), and the whole file over N.
import fs from "node:fs";
import { parseCli } from "../scripts/cli.ts";
import { vendors } from "../providers/vendors.ts";
import { benchSandboxes, type BenchSandbox } from "../sandbox/bench.ts";
import { createTestStack } from "../test/helpers/stack.ts";

const { values } = parseCli("usage: node bench/checkpoint.ts [--keys 100] [--main bench/floor.ts] [--from <state file>] [--save <state file>]", {
    options: { keys: { type: "string", default: "100" }, main: { type: "string" }, from: { type: "string" }, save: { type: "string" } },
});
const N = Number(values.keys);

async function upAndExport(): Promise<string> {
    const boxes: BenchSandbox[] = await Promise.all(vendors.map((v) => benchSandboxes[v.section]!()));
    const per = (i: number) => Math.floor(N / boxes.length) + (i < N % boxes.length ? 1 : 0);
    const yaml = boxes.map((b, i) => b.yaml(Array.from({ length: per(i) }, (_, k) => `bench-${vendors[i]!.section}-${String(k).padStart(4, "0")}`), { generation: 0, overlap: false })).join("");
    const s = await createTestStack(boxes, yaml, values.main ? { main: values.main } : {});
    try {
        await s.stack.up({ color: "never" });
        return await s.exportState();
    } finally {
        await s.cleanup();
        for (const b of boxes) await b.close();
    }
}

const raw = values.from ? fs.readFileSync(values.from, "utf8") : await upAndExport();
if (values.save) fs.writeFileSync(values.save, raw);
const state = JSON.parse(raw) as { checkpoint: { latest: { resources: Record<string, unknown>[] } } };
const resources = state.checkpoint.latest.resources;
// The file backend writes compact JSON: a field's bytes are `"name":value,`.
const field = (name: string, v: unknown) => Buffer.byteLength(JSON.stringify({ [name]: v })) - 1;
const isSecret = (v: unknown) => typeof v === "object" && v !== null && "4dabf18193072939515e22adb298388d" in v;

const byType = new Map<string, Record<string, unknown>[]>();
for (const r of resources) {
    const t = String(r.type);
    byType.set(t, [...(byType.get(t) ?? []), r]);
}
const keys = resources.filter((r) => String(r.type).startsWith("pulumi-nodejs:dynamic/") || String(r.type).includes("keyfleet")).length || N;
const compact = Buffer.byteLength(JSON.stringify(state));
console.log(`state file ${Buffer.byteLength(raw)} bytes for ${keys} keys: ${(Buffer.byteLength(raw) / keys / 1024).toFixed(2)} KB per key (${(compact / keys / 1024).toFixed(2)} KB re-serialized compact)`);
const mean = (rs: Record<string, unknown>[], f: (r: Record<string, unknown>) => number) => rs.reduce((s, r) => s + f(r), 0) / rs.length;
for (const [type, rs] of [...byType].sort((a, b) => b[1].length - a[1].length)) {
    const whole = mean(rs, (r) => Buffer.byteLength(JSON.stringify(r)) + 1);
    console.log(`\n${type}: ${rs.length} × ${whole.toFixed(0)} bytes = ${((whole * rs.length) / keys).toFixed(0)} bytes per key`);
    const fields = new Set(rs.flatMap((r) => Object.keys(r)));
    for (const f of fields) {
        const b = mean(rs, (r) => (f in r ? field(f, r[f]) : 0));
        console.log(`  ${f.padEnd(24)} ${b.toFixed(0).padStart(6)}`);
        if (f === "inputs" || f === "outputs") {
            const props = new Set(rs.flatMap((r) => Object.keys((r[f] as Record<string, unknown>) ?? {})));
            for (const p of props) {
                const pb = mean(rs, (r) => {
                    const o = (r[f] as Record<string, unknown>) ?? {};
                    return p in o ? field(p, o[p]) : 0;
                });
                const secret = rs.some((r) => isSecret(((r[f] as Record<string, unknown>) ?? {})[p]));
                console.log(`    ${(p + (secret ? " (secret)" : "")).padEnd(34)} ${pb.toFixed(0).padStart(6)}`);
            }
        }
    }
}
