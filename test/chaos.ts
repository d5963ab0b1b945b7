// `npm run chaos [-- --keys 200 --rates 5,20,40 --seeds 1]`: the fault campaign of issue 17 (see
// test/helpers/chaos.ts): for each fault rate and seed, N keys across the four vendors, each
// vendor behind a fault proxy, `up` until converged, then duplicates, orphans and lost keys counted
// at the vendors against state. Prints the table; exits 1 when a run did not converge or any of the three is not 0.
import { parseCli } from "../scripts/cli.ts";
import { campaign, table, type CampaignRow } from "./helpers/chaos.ts";

const USAGE = `usage: npm run chaos [-- --keys N] [--rates 5,20,40] [--seeds 1,2] [--kills N] [--max-runs 8]
  The fault campaign: N keys (default 200) spread over the four vendors' sandboxes, each behind a
  fault proxy (503, 429 with Retry-After, latency, resets, lost answers, unreadable successes; for
  MySQL, connections dropped before and after writes) at each rate (percent of requests), seeded
  and repeatable; up runs until it converges (at most --max-runs with faults, then two without),
  and the vendors are counted: duplicates, orphans, lost (each must be 0). Needs MariaDB (started
  by keyfleet.sh) and takes minutes per rate at 200 keys. --kills N adds N seeds (1..N) whose first
  up is killed with SIGKILL (its process group) at a seeded moment, at 5% faults; --kill-at MS
  kills it that long after it starts instead. --skip-checkpoints runs every up with
  PULUMI_SKIP_CHECKPOINTS=true (the engine writes state only at the end of a run), to show that a
  killed run whose creates state never recorded still converges with nothing duplicated or orphaned.`;

const { values } = parseCli(USAGE, {
    options: { keys: { type: "string" }, rates: { type: "string" }, seeds: { type: "string" }, "max-runs": { type: "string" }, kills: { type: "string" }, "kill-at": { type: "string" }, "skip-checkpoints": { type: "boolean" } },
});
const numbers = (v: string | undefined, d: number[]) => (v ? v.split(",").map((x) => Number(x.trim())) : d);
const keys = Number(values.keys ?? 200);
// --rates= (empty) runs only the --kills seeds.
const rates = values.rates === "" ? [] : numbers(values.rates, [5, 20, 40]);
const seeds = numbers(values.seeds, [1]);
const maxRuns = Number(values["max-runs"] ?? 8);
const kills = Number(values.kills ?? 0);
const killAfterMs = values["kill-at"] === undefined ? undefined : Number(values["kill-at"]);
// Inherited by every CLI the campaign starts (the Automation API's and the killed up's).
if (values["skip-checkpoints"]) process.env.PULUMI_SKIP_CHECKPOINTS = "true";
if (![keys, maxRuns, kills, ...rates, ...seeds].every((n) => Number.isInteger(n) && n >= 0) || keys < 4 || rates.some((r) => r > 100)) {
    process.stderr.write(`keys, rates, seeds and max-runs are whole numbers (keys at least 4, rates 0 to 100)\n${USAGE}\n`);
    process.exit(2);
}
const rows: CampaignRow[] = [];
for (const rate of rates) {
    for (const seed of seeds) {
        console.error(`chaos: ${keys} keys at ${rate}% faults, seed ${seed}`);
        rows.push(await campaign({ keys, rate: rate / 100, seed, maxRuns, log: (l) => console.error(l) }));
    }
}
for (let seed = 1; seed <= kills; seed++) {
    console.error(`chaos: ${keys} keys, first up killed with -9${killAfterMs === undefined ? "" : ` after ${killAfterMs} ms`}, 5% faults, seed ${seed}${values["skip-checkpoints"] ? ", PULUMI_SKIP_CHECKPOINTS=true" : ""}`);
    rows.push(await campaign({ keys, rate: 0.05, seed, maxRuns, kill: true, killAfterMs, log: (l) => console.error(l) }));
}
console.log(table(rows));
process.exit(rows.some((r) => !r.converged || r.duplicates || r.orphans || r.lost) ? 1 : 0);
