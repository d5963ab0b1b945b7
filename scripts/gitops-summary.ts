// Reads the engine's event log of one preview (scripts/gitops.sh) and says, per key, what the run
// would do and why: created, updated (which fields, from what to what), replaced (the rotation
// that is due, or the immutable fields that changed), deleted. Writes it as Markdown for a pull
// request or a job summary, prints it, and decides the exit status of a drift check.
//
// Only steps that change something count: the `read` of the stack's own last outputs (a
// StackReference, in every preview), refreshes and sames are not drift.
import fs from "node:fs";
import { parseCli } from "./cli.ts";
import { driftFindings, isDrift, vendorRenewals, type DriftEvent, type Finding, type StepState } from "../ops/findings.ts";

type Op = "same" | "create" | "update" | "replace" | "create-replacement" | "delete-replaced" | "delete" | "read" | "refresh" | string;

interface StepMetadata {
    op: Op;
    urn: string;
    type: string;
    old?: StepState | null;
    new?: StepState | null;
    keys?: string[];
    diffs?: string[];
}

export interface Change {
    kind: "created" | "updated" | "replaced" | "deleted";
    key: string;
    type: string;
    why: string;
}

export interface Digest {
    changes: Change[];
    /** Warnings the program printed that speak of an expiry (a key expired or expiring soon). */
    expiry: string[];
    warnings: string[];
    errors: string[];
    result: string | undefined;
}

/** Inputs that are plumbing, not something a reader of the diff changed. */
const PLUMBING = new Set(["__provider", "predecessor", "rotationDue"]);

/** Logged secrets are masked by the engine ({ciphertext: "[secret]"}); shown as [secret] here too. */
function show(value: unknown): string {
    if (value && typeof value === "object" && "ciphertext" in (value as object)) return "[secret]";
    const text = JSON.stringify(value ?? null);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function changedFields(old: StepState | null | undefined, next: StepState | null | undefined): string[] {
    const before = { ...(old?.inputs ?? {}), ...(old?.outputs ?? {}) };
    const after = next?.inputs ?? {};
    const out: string[] = [];
    for (const [field, value] of Object.entries(after)) {
        if (PLUMBING.has(field)) continue;
        if (JSON.stringify(before[field] ?? null) !== JSON.stringify(value ?? null)) out.push(`${field}: ${show(before[field])} → ${show(value)}`);
    }
    return out;
}

/** The resource's name: the URN's last part (nexus/tenant/ci). */
function nameOf(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}

export function digest(eventLog: string): Digest {
    const byUrn = new Map<string, { ops: Set<Op>; meta: StepMetadata }>();
    const warnings: string[] = [];
    const errors: string[] = [];
    let result: string | undefined;
    for (const line of eventLog.split("\n")) {
        if (!line.trim()) continue;
        let event: Record<string, any>;
        try {
            event = JSON.parse(line);
        } catch {
            continue;
        }
        const meta = event.resourcePreEvent?.metadata as StepMetadata | undefined;
        if (meta && !["same", "read", "refresh", "discard"].includes(meta.op)) {
            const entry = byUrn.get(meta.urn) ?? { ops: new Set<Op>(), meta };
            entry.ops.add(meta.op);
            if (meta.op !== "delete-replaced") entry.meta = meta;
            byUrn.set(meta.urn, entry);
        }
        const diag = event.diagnosticEvent;
        if (diag && !diag.ephemeral) {
            const message = String(diag.message ?? "").trim();
            // The CLI's note that the launchers came from PATH is about the toolchain, not the keys.
            if (/^using pulumi-[a-z-]+ from \$PATH/.test(message)) continue;
            if (diag.severity === "warning") warnings.push(message);
            if (diag.severity === "error") errors.push(message);
        }
        if (event.summaryEvent) result = event.summaryEvent.result;
    }
    const changes: Change[] = [];
    for (const [urn, { ops, meta }] of byUrn) {
        const key = nameOf(urn);
        const type = meta.type ?? meta.new?.type ?? meta.old?.type ?? "";
        if (ops.has("replace") || ops.has("create-replacement") || ops.has("delete-replaced")) {
            const due = meta.new?.inputs?.rotationDue;
            const fields = changedFields(meta.old, meta.new);
            changes.push({ kind: "replaced", key, type, why: typeof due === "string" && due ? due : fields.join("; ") || "replacement requested" });
        } else if (ops.has("create")) {
            changes.push({ kind: "created", key, type, why: "new in the YAML" });
        } else if (ops.has("delete")) {
            changes.push({ kind: "deleted", key, type, why: "no longer in the YAML" });
        } else if (ops.has("update")) {
            changes.push({ kind: "updated", key, type, why: changedFields(meta.old, meta.new).join("; ") || "provider settings changed" });
        } else {
            changes.push({ kind: "updated", key, type, why: [...ops].join(", ") });
        }
    }
    const expiry = warnings.filter((w) => /expir/i.test(w));
    return { changes, expiry, warnings, errors, result };
}

/** The event log's lines as events (a line that is not JSON is skipped). */
export function events(eventLog: string): DriftEvent[] {
    const out: DriftEvent[] = [];
    for (const line of eventLog.split("\n")) {
        if (!line.trim()) continue;
        try {
            out.push(JSON.parse(line));
        } catch {
            // A torn last line of a log still being written.
        }
    }
    return out;
}

export function markdown(stack: string, mode: string, d: Digest, findings: Finding[] = []): string {
    const count = (k: Change["kind"]) => d.changes.filter((c) => c.kind === k).length;
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
    lines.push(`${count("created")} created, ${count("updated")} updated, ${count("replaced")} replaced, ${count("deleted")} deleted`);
    if (d.changes.length > 0) {
        lines.push("", "| change | key | why |", "|---|---|---|");
        for (const c of d.changes) lines.push(`| ${c.kind} | \`${c.key}\` | ${c.why.replaceAll("|", "\\|")} |`);
    }
    if (d.warnings.length > 0) lines.push("", "Warnings:", ...d.warnings.map((w) => `- ${w.replaceAll("\n", " ")}`));
    if (d.errors.length > 0) lines.push("", "Errors:", ...d.errors.map((e) => `- ${e.replaceAll("\n", " ")}`));
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
    const d = digest(log);
    // The real time: the preview's clock was moved by --within, this process's is not.
    const findings = mode === "drift" ? driftFindings(events(log), { now: Date.now(), within: values.within || null, renewals: await vendorRenewals() }) : [];
    const text = markdown(stack, mode, d, findings);
    if (values.out) fs.writeFileSync(values.out, text);
    process.stdout.write(`\n${text}`);
    if (d.result !== "succeeded") {
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
        if (d.changes.length > 0) {
            // A plan step the classifier does not know (a non-key resource): still not "no drift".
            console.error(`[gitops] drift check of stack ${stack}: ${d.changes.length} change${d.changes.length === 1 ? "" : "s"} planned:`);
            for (const c of d.changes) console.error(`  ${c.key}: ${c.kind} (${c.why})`);
            process.exit(3);
        }
        // --expect-no-changes counted nothing the digest counts (only the StackReference's read): no drift.
        console.error(`[gitops] no drift in stack ${stack}`);
        process.exit(0);
    }
    process.exit(status);
}
