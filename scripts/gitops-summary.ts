// The GitOps summary of one preview or drift check (scripts/gitops.sh): keyfleet's plan of the run,
// the very text `npm run preview` prints (ops/plan.ts renders both), as Markdown for a pull request
// or a job summary, with a drift check's findings above it (ops/findings.ts); prints it and decides
// the exit status of a drift check.
//
// Only steps that change a key count: reads (an older state's StackReference to the stack itself,
// discarded by the next up), refreshes, sames and the core's bookkeeping are not drift.
import fs from "node:fs";
import { parseCli } from "./cli.ts";
import { driftFindings, isDrift, vendorRenewals, type DriftEvent, type Finding } from "../ops/findings.ts";
import { parseEventLog, planOf, renderPlan, type Plan } from "../ops/plan.ts";

export function markdown(stack: string, mode: string, plan: Plan, findings: Finding[] = []): string {
    const lines = [`### keyfleet ${mode === "drift" ? "drift check" : "preview"}: stack \`${stack}\``, ""];
    if (mode === "drift") {
        const drift = findings.filter(isDrift).length;
        lines.push(`${findings.length} finding${findings.length === 1 ? "" : "s"}: ${drift} drift at the vendor, ${findings.length - drift} not drift (not yet applied, expiring, rotation due)`, "");
        if (findings.length > 0) {
            lines.push("| finding | key | detail |", "|---|---|---|");
            for (const f of findings) lines.push(`| ${f.kind} | \`${f.key}\` | ${f.detail.replaceAll("|", "\\|")} |`);
            lines.push("", "What the apply would do:", "");
        }
    }
    lines.push("```text", ...renderPlan(plan, { stack, mode: mode === "drift" ? "drift" : "preview" }), "```");
    return lines.join("\n") + "\n";
}

if (import.meta.main) {
    const { values } = parseCli("usage: node scripts/gitops-summary.ts --mode preview|drift --stack <name> --events <event log> --status <exit code> [--out <file>] [--within <duration>]\n  The Markdown summary of a preview or drift run (scripts/gitops.sh writes it).", {
        options: {
            mode: { type: "string" },
            stack: { type: "string" },
            events: { type: "string" },
            status: { type: "string" },
            out: { type: "string" },
            within: { type: "string" },
        },
    });
    const mode = values.mode ?? "preview";
    const stack = values.stack ?? "?";
    const status = Number(values.status ?? 0);
    const log = values.events && fs.existsSync(values.events) ? fs.readFileSync(values.events, "utf8") : "";
    const events = parseEventLog(log);
    const plan = planOf(events, { mode: mode === "drift" ? "drift" : "preview" });
    // The real time: the preview's clock was moved by --within, this process's is not.
    const findings = mode === "drift" ? driftFindings(events as DriftEvent[], { now: Date.now(), within: values.within || null, renewals: await vendorRenewals() }) : [];
    const text = markdown(stack, mode, plan, findings);
    if (values.out) fs.writeFileSync(values.out, text);
    process.stdout.write(`\n${text}`);
    if (plan.result !== "succeeded") {
        console.error(`[gitops] ${mode} of stack ${stack} failed (pulumi exit status ${status}); see the output above`);
        process.exit(status || 1);
    }
    if (mode === "drift") {
        if (findings.length > 0) {
            const drift = findings.filter(isDrift).length;
            console.error(
                `[gitops] drift check of stack ${stack}: ${findings.length} finding${findings.length === 1 ? "" : "s"} (${drift} drift at the vendor); \`gitops.sh apply ${stack}\` (or a YAML change) settles them:`,
            );
            for (const f of findings) console.error(`  ${f.key}: ${f.kind} (${f.detail})`);
            process.exit(3);
        }
        if (plan.lines.length > 0) {
            // A plan step the classifier does not know (a non-key resource): still not "no drift".
            console.error(`[gitops] drift check of stack ${stack}: ${plan.lines.length} change${plan.lines.length === 1 ? "" : "s"} planned:`);
            for (const l of plan.lines) console.error(`  ${l.key}: ${l.group} (${l.detail})`);
            process.exit(3);
        }
        // --expect-no-changes counted nothing the plan counts (a read, or an older state's StackReference discarded): no drift.
        console.error(`[gitops] no drift in stack ${stack}`);
        process.exit(0);
    }
    process.exit(status);
}
