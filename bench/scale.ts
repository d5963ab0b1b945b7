// One plot of time against N across several saved bench runs (the raw figures `npm run bench`
// keeps beside its Markdown, <out>.json): the default run measures 10 and 40 keys in under 15
// minutes, and 100 or 1,000 keys are separate runs of their own (`--keys 1000`, about an hour), so
// the plot of 10 to 1,000 keys is drawn from those files. Each point is the median of that
// run's pairs for one N, step and system; a later file's N replaces an earlier one's.
//   node bench/scale.ts <run.json>… --out docs/performance-scale.png
import fs from "node:fs";
import { parseCli } from "../scripts/cli.ts";
import { plot, type Point } from "./plot.ts";

const USAGE = "usage: node bench/scale.ts <run.json>… --out <file.png>";
const { values, positionals } = parseCli(USAGE, { allowPositionals: true, options: { out: { type: "string" } } });
if (positionals.length === 0 || !values.out) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
}

interface Saved {
    results: { n: number; runs: Record<string, Record<string, { seconds: number }>[]> }[];
}

const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const byKey = new Map<string, Point>();
for (const file of positionals) {
    const saved = JSON.parse(fs.readFileSync(file, "utf8")) as Saved;
    for (const r of saved.results) {
        for (const [system, runs] of Object.entries(r.runs)) {
            const steps = new Set(runs.flatMap((run) => Object.keys(run)));
            for (const step of steps) {
                const seconds = median(runs.flatMap((run) => (run[step] ? [run[step]!.seconds] : [])));
                byKey.set(`${r.n}/${step}/${system}`, { n: r.n, step, system, seconds });
            }
        }
    }
}
const order = ["up", "preview", "refresh", "rotate", "rotate-overlap", "destroy"];
const points = [...byKey.values()].sort((a, b) => order.indexOf(a.step) - order.indexOf(b.step) || a.n - b.n);
await plot(points, values.out);
console.log(`${values.out}: ${points.length} points, N = ${[...new Set(points.map((p) => p.n))].sort((a, b) => a - b).join(", ")}`);
