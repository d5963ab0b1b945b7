// keyfleet's plan (ops/plan.ts) on engine event logs recorded from the local stack (the CLI's
// --event-log of a preview or up, trimmed: the dynamic providers' serialized code, the outputs of
// unchanged resources and every delivery's inputs removed, so no key value can be in them; secrets
// the engine masks stay masked). Issue 18: one line per key that changes, by group, then counts;
// nothing internal as a change; each warning and error once; the GitOps summary is the same text.
// test/plan-cli.e2e.test.ts runs it through `npm run preview` and `npm run up` on the real engine.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEventLog, planOf, renderPlan, type Mode } from "../ops/plan.ts";
import { markdown } from "../scripts/gitops-summary.ts";
import { ROOT } from "./helpers/stack.ts";

const fixture = (name: string) => parseEventLog(fs.readFileSync(path.join(ROOT, "test", "fixtures", "plan", `${name}.jsonl`), "utf8"));
const render = (name: string, mode: Mode = "preview", toolchainNotes = false) => renderPlan(planOf(fixture(name), { mode, toolchainNotes }), { stack: "local", mode });
/** The core's inputs that only the program and providers read. */
const INTERNAL = /\b(predecessor|holdPrevious|rotationDue|__provider|lastExpires|keyfleet-last-run|pulumi:pulumi:Stack|pulumi:providers)\b/;

describe("the plan of recorded engine runs", () => {
    it("nothing to do: three lines, no toolchain note, no stack outputs", () => {
        const text = render("noop");
        expect(text).toEqual([
            "keyfleet: plan of stack local (preview, nothing applied):",
            "  no changes: every key is as the YAML says",
            "0 to create, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 12 unchanged",
        ]);
    });

    it("an up that rotates: which key, why and for how long the old one stays; the field update beside it", () => {
        const text = render("rot", "up");
        expect(text[0]).toBe("keyfleet: up of stack local done:");
        // Grouped: update before rotate, each line naming the key.
        expect(text.slice(1, 4).map((l) => l.trim().split(/\s+/)[0])).toEqual(["update", "rotate", "rotate"]);
        expect(text).toContainEqual(expect.stringMatching(/^ {2}update +supportsystem\/web form +canExecCron: false → true$/));
        expect(text).toContainEqual(
            expect.stringMatching(/^ {2}rotate +nexus\/tenant\/ci +rotation generation 0 → 1; the old key stays valid until 2026-12-10T14:09:42\.300Z \(overlap 7d\); delivery \.keyfleet\/delivered\/nexus-ci\.key runs again$/),
        );
        expect(text).toContainEqual(expect.stringMatching(/^ {2}rotate +supportcenter\/auditor +rotation generation 0 → 1; a new key replaces it$/));
        expect(text.at(-1)).toBe("0 created, 1 updated, 2 rotated, 0 replaced, 0 deleted; 9 unchanged");
        // The delivery is part of its key's line, and the rotation's inputs are not an "update".
        expect(text.filter((l) => l.includes("nexus-ci.key"))).toHaveLength(1);
        expect(text.join("\n")).not.toMatch(INTERNAL);
    });

    it("an up whose engine died without its summary (killed, out of memory) is not reported as done", () => {
        // The same steps, cut off before the summary event: what started must not read as done.
        const cut = fixture("rot").filter((e) => !e.summaryEvent);
        const plan = planOf(cut, { mode: "up" });
        for (const status of [undefined, 137]) {
            const text = renderPlan(plan, { stack: "local", mode: "up", status });
            expect(text[0]).toBe("keyfleet: up of stack local FAILED; what it did before it stopped:");
            expect(text.at(-1)).toMatch(/^0 to create, 1 to update, 2 to rotate, /);
        }
        // An exit status that says failure wins over events that say nothing of it.
        expect(renderPlan(planOf(fixture("rot"), { mode: "up" }), { stack: "local", mode: "up", status: 1 })[0]).toMatch(/FAILED/);
    });

    it("the run after a rotation records bookkeeping only: not a change", () => {
        const text = render("after");
        expect(text[1]).toBe("  no changes: every key is as the YAML says");
        expect(text.at(-1)).toBe("0 to create, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 11 unchanged (+1 with only keyfleet's bookkeeping to record: nexus/tenant/ci)");
    });

    it("create, update (fields), replace (why), delete (what the vendor keeps), in that order, and the warning once", () => {
        const text = render("mixed");
        const body = text.filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0]);
        expect(body).toEqual(["create", "update", "replace", "replace", "delete", "delete", "delete"]);
        expect(text).toContainEqual(expect.stringMatching(/^ {2}create +nexus\/tenant\/new one +new in the YAML$/));
        expect(text).toContainEqual(expect.stringMatching(/^ {2}update +supportcenter\/jira sync +description: "Jira integration" → "Jira sync, edited"$/));
        expect(text).toContainEqual(expect.stringMatching(/^ {2}replace +nexus\/tenant\/API key for premise_tenant +permissions: \["nexus:consumer:chat"\] → \["nexus:consumer:\*"\] \(cannot change in place\)$/));
        expect(text).toContainEqual(expect.stringMatching(/^ {2}delete +beyondtrust\/sessionKey\/admin +no longer in the YAML; the vendor keeps the key itself: BeyondTrust cannot revoke a session key, it stays usable until it expires at 2026-12-04T14:09:01\.000Z$/));
        expect(text).toContainEqual(expect.stringMatching(/^ {2}delete +supportsystem\/cron\/127\.0\.0\.1 +no longer in the YAML; the vendor keeps nothing \(the row is deleted from the help desk's table\)$/));
        expect(text.at(-1)).toBe("1 to create, 1 to update, 0 to rotate, 2 to replace, 3 to delete; 5 unchanged (+1 with only keyfleet's bookkeeping to record: nexus/tenant/ci)");
        // The program's warning reaches the engine as stderr ("info#err"): shown once, without "[runtime]".
        const warnings = text.filter((l) => l.startsWith("warning: "));
        expect(warnings).toEqual([expect.stringMatching(/^warning: session key "admin" \(bts_50ff3de294c04b42\) is no longer managed: keyfleet forgets it/)]);
        expect(text.join("\n")).not.toMatch(INTERNAL);
    });

    it("a YAML error: once, with its file:line:col, and nothing planned", () => {
        const text = render("error");
        expect(text).toEqual([
            "error: 1 error in config/local.yaml; nothing was changed:",
            expect.stringMatching(/^ {2}config\/local\.yaml:11:42 nexus\.tenantKeys\[0\]\.permissions\[1\]: unknown permission "nexus:consumer:email"; /),
            "keyfleet: preview of stack local failed (the error above); nothing was changed",
        ]);
        // The engine's event log has it twice: the program's stderr line by line, then the error itself.
        const raw = fixture("error").filter((e) => JSON.stringify(e.diagnosticEvent ?? "").includes("unknown permission"));
        expect(raw.length).toBe(2);
    });

    it("the toolchain's note is only for --verbose, and then once, not once per plugin start", () => {
        const notes = fixture("noop").filter((e) => /using pulumi-resource-command from \$PATH/.test(e.diagnosticEvent?.message ?? ""));
        expect(notes.length).toBeGreaterThan(1);
        expect(render("noop").join("\n")).not.toContain("from $PATH");
        expect(render("noop", "preview", true).filter((l) => l.includes("from $PATH"))).toHaveLength(1);
    });

    // Review 19: the policy pack's findings reach the engine as policyEvents, not diagnostics; the plan
    // (npm run preview|up, the GitOps summary) dropped them, so an advisory finding was never seen and
    // a mandatory one failed the run as "preview failed" without naming the key or the rule.
    it("the key-hygiene policy's findings: mandatory as errors, advisory as warnings, each naming its rule and key", () => {
        const text = render("policy");
        expect(text).toContain(
            `warning: [advisory] key-ttl: key "beyondtrust/sessionKey/desk" (BeyondTrust Remote Support) has ttl 604800 s, above this environment's maximum of 86400 s; set ttl to at most 86400`,
        );
        expect(text).toContain(`error: [mandatory] rotation-max-every: key "beyondtrust/sessionKey/desk" (BeyondTrust Remote Support) has no rotation.every; this environment rotates every key at least every 90d`);
        // The rule's description (the engine's first line of each message) is not repeated per key.
        expect(text.join("\n")).not.toContain("Every key rotates by age");
        expect(text.filter((l) => l.includes("FAILED"))).toHaveLength(1);
        const md = markdown("prod", "preview", planOf(fixture("policy"), { mode: "preview" }));
        expect(md).toContain("[advisory] key-ttl");
    });

    it("the GitOps summary is the same text (one renderer)", () => {
        for (const name of ["rot", "mixed", "error"]) {
            const plan = planOf(fixture(name), { mode: "preview" });
            const md = markdown("local", "preview", plan);
            expect(md).toContain(["```text", ...renderPlan(plan, { stack: "local", mode: "preview" }), "```"].join("\n"));
        }
    });
});
