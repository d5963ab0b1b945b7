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
            // No outputs event for any step: none is counted done, each is said not finished.
            expect(text.filter((l) => l.startsWith("  ")).every((l) => l.endsWith(" — not finished (started, no outcome recorded)"))).toBe(true);
            expect(text.at(-1)).toBe("0 created, 0 updated, 0 rotated, 0 replaced, 0 deleted; 9 unchanged; 3 not finished (supportsystem/web form, nexus/tenant/ci, supportcenter/auditor)");
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

    it("policy findings print sorted whatever order the analyzer finished them in; the program's own warnings keep theirs, first", () => {
        const events = fixture("policy");
        const advisory = events.find((e) => e.policyEvent?.enforcementLevel === "advisory")!;
        const others = events.filter((e) => !e.policyEvent);
        // Three advisory findings of the recorded shape, about three keys, in an order that is not theirs.
        const finding = (key: string) => ({ policyEvent: { ...advisory.policyEvent!, message: advisory.policyEvent!.message!.replace(/beyondtrust\/sessionKey\/desk/g, key) } });
        const policies = ["beyondtrust/sessionKey/web", "beyondtrust/sessionKey/admin", "beyondtrust/sessionKey/queue"].map(finding);
        const warn = (message: string) => ({ diagnosticEvent: { severity: "warning", message, color: "never" } });
        // In the YAML's order, which a text sort would turn around ("12" before "9").
        const program = [warn("config/prod.yaml:9:5 the YAML's first warning"), warn("config/prod.yaml:12:5 its second")];
        const once = planOf([...program, ...others, ...policies], { mode: "preview" });
        const reversed = planOf([...program, ...others, ...[...policies].reverse()], { mode: "preview" });
        expect(reversed.warnings).toEqual(once.warnings);
        expect(reversed.errors).toEqual(once.errors);
        const found = once.warnings.filter((w) => w.startsWith("["));
        expect(found).toEqual([...found].sort());
        expect(once.warnings.slice(0, 2)).toEqual(["config/prod.yaml:9:5 the YAML's first warning", "config/prod.yaml:12:5 its second"]);
    });

    it("a failed up: the key whose create failed is FAILED, a key made whose delivery failed is made, the delivery FAILED (issue 18, defect 1)", () => {
        const taken = renderPlan(planOf(fixture("taken-up"), { mode: "up" }), { stack: "local", mode: "up", status: 255 });
        expect(taken).toContainEqual(expect.stringMatching(/^ {2}create +nexus\/tenant\/steady +new in the YAML — FAILED$/));
        expect(taken.at(-1)).toBe("0 created, 0 updated, 0 rotated, 0 replaced, 0 deleted; 4 unchanged; 1 failed (nexus/tenant/steady)");
        const hook = renderPlan(planOf(fixture("fail-up"), { mode: "up" }), { stack: "local", mode: "up", status: 255 });
        expect(hook).toContainEqual(expect.stringMatching(/^ {2}create +nexus\/tenant\/failing +new in the YAML; delivery hook added \(FAILED\)$/));
        expect(hook.at(-1)).toBe("1 created, 0 updated, 0 rotated, 0 replaced, 0 deleted; 4 unchanged; 1 failed (nexus/tenant/failing's delivery hook)");
    });

    it("each diagnostic names its key and is deduplicated by key and text (issue 18, defect 2)", () => {
        const events = fixture("taken-up");
        const text = renderPlan(planOf(events, { mode: "up" }), { stack: "local", mode: "up", status: 255 });
        const errors = text.filter((l) => l.startsWith("error: "));
        expect(errors).toContainEqual(expect.stringMatching(/^error: nexus\/tenant\/steady: creating Nexus tenant key "steady" for tenant 578e… failed: 409 name exists/));
        // The same text about another key is another message; about the same key, said once.
        const diag = events.find((e) => e.diagnosticEvent?.severity === "error" && e.diagnosticEvent.urn?.endsWith("nexus/tenant/steady"))!;
        const other = { diagnosticEvent: { ...diag.diagnosticEvent, urn: diag.diagnosticEvent!.urn!.replace("nexus/tenant/steady", "nexus/tenant/aging") } };
        const twice = renderPlan(planOf([...events, diag, other, diag], { mode: "up" }), { stack: "local", mode: "up", status: 255 });
        const about = (key: string) => twice.filter((l) => l.startsWith(`error: ${key}: creating Nexus tenant key "steady"`));
        expect(about("nexus/tenant/steady")).toHaveLength(1);
        expect(about("nexus/tenant/aging")).toHaveLength(1);
    });

    it("a consumer added to a key whose own step is bookkeeping only is shown (issue 18, defect 3)", () => {
        // The recording's run also had the local policy pack's advisory findings, which print first.
        const text = render("bk-added").filter((l) => !l.startsWith("warning: [advisory] "));
        expect(text).toEqual([
            "keyfleet: plan of stack local (preview, nothing applied):",
            expect.stringMatching(/^ {2}update +nexus\/tenant\/rotating +delivery audit added$/),
            "0 to create, 1 to update, 0 to rotate, 0 to replace, 0 to delete; 3 unchanged",
        ]);
    });

    it("an update of a secret field says which field, never its value (issue 18, defect 4)", () => {
        const SIG = "4dabf18193072939515e22adb298388d";
        const secret = { [SIG]: "1b47061264138c4ac30d75fd1eb44270", value: "[secret]" };
        // The run after a rotation, with the provider naming a secret field as changed.
        const events = fixture("after").map((e) => {
            const m = e.resourcePreEvent?.metadata;
            if (!m || m.op !== "update" || !m.urn.endsWith("::nexus/tenant/ci")) return e;
            const step = { ...m, detailedDiff: { apiKey: { kind: "update" } }, old: { ...m.old, outputs: { ...m.old?.outputs, apiKey: secret } }, new: { ...m.new, inputs: { ...m.new?.inputs, apiKey: secret } } };
            return { resourcePreEvent: { metadata: step } };
        });
        const text = renderPlan(planOf(events, { mode: "preview" }), { stack: "local", mode: "preview" });
        expect(text).toContainEqual(expect.stringMatching(/^ {2}update +nexus\/tenant\/ci +apiKey: \(secret\) changed; delivery .* runs again$/));
        expect(text.at(-1)).toBe("0 to create, 1 to update, 0 to rotate, 0 to replace, 0 to delete; 11 unchanged");
    });

    it("a field is shown by the YAML's name (note, not internalNote), and an input the YAML never names (the notes column) not at all", () => {
        const events = fixture("after").map((e) => {
            const m = e.resourcePreEvent?.metadata;
            if (!m || m.op !== "update" && m.op !== "same" || !m.urn.endsWith("::supportsystem/web form")) return e;
            const old = { ...m.old?.outputs, internalNote: "Contact form", notes: "Contact form\n[keyfleet:web form]" };
            const step = { ...m, op: "update", detailedDiff: { internalNote: { kind: "update" }, notes: { kind: "update" } }, old: { ...m.old, outputs: old }, new: { ...m.new, inputs: { ...m.new?.inputs, internalNote: "Public form", notes: "Public form\n[keyfleet:web form]" } } };
            return { resourcePreEvent: { metadata: step } };
        });
        const line = renderPlan(planOf(events, { mode: "preview" }), { stack: "local", mode: "preview" }).find((l) => l.includes("supportsystem/web form"));
        expect(line).toMatch(/^ {2}update +supportsystem\/web form +note: "Contact form" → "Public form"$/);
    });

    it("a field the vendor changed and the YAML did not is said to be changed at the vendor; a YAML edit is not", () => {
        const edit = (drift: boolean) =>
            fixture("after").map((e) => {
                const m = e.resourcePreEvent?.metadata;
                if (!m || m.op !== "update" && m.op !== "same" || !m.urn.endsWith("::supportsystem/cron/127.0.0.2")) return e;
                const step = { ...m, op: "update", detailedDiff: { active: { kind: "update" } }, old: { ...m.old, inputs: { ...m.old?.inputs, active: drift }, outputs: { ...m.old?.outputs, active: false } }, new: { ...m.new, inputs: { ...m.new?.inputs, active: true } } };
                return { resourcePreEvent: { metadata: step } };
            });
        const line = (drift: boolean) => renderPlan(planOf(edit(drift), { mode: "preview" }), { stack: "local", mode: "preview" }).find((l) => l.includes("supportsystem/cron/127.0.0.2"));
        expect(line(true)).toMatch(/^ {2}update +supportsystem\/cron\/127\.0\.0\.2 +active: false → true \(changed at the vendor\)$/);
        expect(line(false)).toMatch(/^ {2}update +supportsystem\/cron\/127\.0\.0\.2 +active: false → true$/);
    });

    it("an adopted key is its own group, counted (issue 18, defect 5)", () => {
        const text = render("adopt-preview");
        expect(text).toContainEqual(expect.stringMatching(/^ {2}import +nexus\/tenant\/steady +adopts the vendor's key of this name \(adopt: true\)/));
        expect(text.at(-1)).toBe("0 to create, 1 to import, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 4 unchanged");
        // An engine import step (the import option) is shown too, not taken for "same".
        const imported = fixture("noop").map((e) => {
            const m = e.resourcePreEvent?.metadata;
            return m?.op === "same" && m.urn.endsWith("::nexus/tenant/ci") ? { resourcePreEvent: { metadata: { ...m, op: "import" } } } : e;
        });
        const shown = renderPlan(planOf(imported, { mode: "preview" }), { stack: "local", mode: "preview" });
        expect(shown).toContainEqual(expect.stringMatching(/^ {2}import +nexus\/tenant\/ci +imported/));
        expect(shown.at(-1)).toBe("0 to create, 1 to import, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 11 unchanged");
    });

    it("a provider's stderr is printed once per line, with its key, its secrets taken out (issue 18, defect 6)", () => {
        // Recorded with test/fixtures/plan/provider-stderr.cjs: the provider wrote each vendor answer to stderr.
        const text = render("stderr-pv");
        const stderr = text.filter((l) => l.startsWith("stderr: "));
        expect(stderr).toContainEqual(expect.stringMatching(/^stderr: nexus\/tenant\/aging: debug: vendor answered \{"id":"\[secret\]","tenant":"578ec98e-f07c-46ad-9675-f36c22f3ba9f","name":"aging"/));
        expect(stderr.filter((l) => l.includes('"access_token":"[secret]","token_type":"bearer","refresh_token":"[secret]"'))).toHaveLength(1);
        expect(new Set(stderr).size).toBe(stderr.length);
        expect(text.at(-1)).toBe("0 to create, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 6 unchanged");
        // The program's error lines (also stderr) are not said twice.
        expect(render("error").filter((l) => l.startsWith("stderr: "))).toEqual([]);
    });

    it("a rotation done says the old key's end as the provider recorded it (issue 18, defect 9)", () => {
        const events = fixture("rot-up");
        const recorded = events.map((e) => e.resOutputsEvent?.metadata).find((m) => m?.op === "update" && m.urn.endsWith("::nexus/tenant/rotating"))?.new?.outputs?.previousRetireAt;
        expect(recorded).toMatch(/^2026-/);
        const text = renderPlan(planOf(events, { mode: "up" }), { stack: "local", mode: "up" });
        expect(text).toContainEqual(`  rotate  nexus/tenant/rotating  rotation generation 0 → 1; the old key stays valid until ${recorded} (overlap 7d); delivery app runs again`);
        // A preview has no outputs yet: it says how long, not a made-up instant.
        const preview = renderPlan(planOf(events.filter((e) => !e.resOutputsEvent), { mode: "preview" }), { stack: "local", mode: "preview" });
        expect(preview).toContainEqual(expect.stringMatching(/^ {2}rotate +nexus\/tenant\/rotating +rotation generation 0 → 1; the old key stays valid for 7d after the rotation; delivery app runs again$/));
    });

    it("the GitOps summary is the same text (one renderer)", () => {
        for (const name of ["rot", "mixed", "error"]) {
            const plan = planOf(fixture(name), { mode: "preview" });
            const md = markdown("local", "preview", plan);
            expect(md).toContain(["```text", ...renderPlan(plan, { stack: "local", mode: "preview" }), "```"].join("\n"));
        }
    });
});
