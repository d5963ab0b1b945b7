// The benchmark still runs across every vendor and prints its table: `npm run bench` at a tiny N
// (one key per vendor), one pair, up and destroy only (four engine runs, about a minute), written to a scratch folder. Figures are not judged
// here (the machine is shared); only that each vendor, step and target is there.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { vendors } from "../providers/vendors.ts";
import { ROOT } from "./helpers/stack.ts";

it("npm run bench runs keyfleet and the floor across every vendor and writes the table, targets and plot", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-bench-"));
    try {
        const out = path.join(dir, "perf");
        const { stdout } = await promisify(execFile)(process.execPath, ["bench/bench.ts", "--keys", String(vendors.length), "--pairs", "1", "--steps", "up,destroy", "--out", out], {
            cwd: ROOT,
            maxBuffer: 16 << 20,
        });
        expect(stdout).toContain(`vendor calls (${vendors.map((v) => v.section).join(" / ")})`);
        for (const step of ["up", "destroy"]) expect(stdout).toMatch(new RegExp(`^\\| ${vendors.length} \\| ${step} \\|`, "m"));
        for (const v of vendors.filter((x) => x.limits)) expect(stdout).toContain(`${v.title}, up:`);
        expect(stdout).toMatch(/≤ 4 KB checkpoint per key/);
        const doc = fs.readFileSync(`${out}.md`, "utf8");
        expect(doc).toMatch(/<!-- bench:begin[^]*\| up \|[^]*<!-- bench:end -->/);
        expect(fs.readFileSync(`${out}.png`).subarray(1, 4).toString()).toBe("PNG");
        expect(JSON.parse(fs.readFileSync(`${out}.json`, "utf8")).results).toHaveLength(1);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}, 150_000);
