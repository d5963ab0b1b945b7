// The fault campaign's short profile (issue 17; the whole one is `npm run chaos`): keys of all four
// vendors behind fault proxies at 20%, up through the real engine until converged, then the
// vendors counted against state: no duplicate, no orphan, nothing lost; and the same after the
// first up is killed with -9 while creates are committed and unanswered (issue 17, defect 2).
import { describe, expect, it } from "vitest";
import { campaign, table } from "./helpers/chaos.ts";

describe("fault campaign, short profile", () => {
    it("12 keys across four vendors at 20% faults converge with 0 duplicates, 0 orphans, 0 lost", async () => {
        const lines: string[] = [];
        const row = await campaign({ keys: 12, rate: 0.2, seed: 7, maxRuns: 6, log: (l) => lines.push(l) });
        console.log(`${table([row])}\n${lines.join("\n")}`);
        expect(row.faults).toBeGreaterThan(0);
        expect(row.converged).toBe(true);
        expect({ duplicates: row.duplicates, orphans: row.orphans, lost: row.lost }).toEqual({ duplicates: 0, orphans: 0, lost: 0 });
    }, 900_000);

    it("12 keys whose first up is killed with -9 while creates are committed and unanswered converge with 0 duplicates, 0 orphans, 0 lost", async () => {
        const lines: string[] = [];
        const row = await campaign({ keys: 12, rate: 0.05, seed: 3, maxRuns: 6, kill: true, log: (l) => lines.push(l) });
        console.log(`${table([row])}\n${lines.join("\n")}`);
        expect(lines[0]).toMatch(/up killed \(-9, its process group\)/);
        expect(row.converged).toBe(true);
        expect({ duplicates: row.duplicates, orphans: row.orphans, lost: row.lost }).toEqual({ duplicates: 0, orphans: 0, lost: 0 });
    }, 900_000);
});
