// keyfleet's plan: what one preview, up or destroy does to the keys, from the engine's events (the
// CLI's --event-log, or the Automation API's events): one line per key that changes, grouped by
// create, update (the fields, from what to what), rotate (the reason and overlap the program passes
// as `rotationDue`), replace (why) and delete (what the vendor keeps), then the counts. The one
// renderer of it: `npm run preview|up|destroy` print it (scripts/keyfleet.sh), and the GitOps
// summary (scripts/gitops-summary.ts) is this text too.
//
// Why not the engine's own display: for 12 keys it prints ~400 lines, mostly the stack's outputs
// (a StackReference to the stack's own last run, as keyfleet read it before, made every output "changed"), the core's
// bookkeeping inputs, and the toolchain's notes ("using pulumi-resource-command from $PATH", once
// per plugin start). Only key resources, and deliveries folded into their key's line, are changes
// here; the stack, providers and any StackReference (an older state's, discarded) are plumbing. Warnings and errors are printed
// once each, whatever number of times the engine repeated them.
import fs from "node:fs";
import { vendors } from "../providers/vendors.ts";
import { shownField, type Step } from "./findings.ts";

const KEY_TYPE = "pulumi-nodejs:dynamic/";
/** Resources every run has that are the program's plumbing, not something the operator declared. */
const INTERNAL = /^pulumi:(pulumi:Stack|pulumi:StackReference|providers:)/;
const UNCHANGED = new Set(["same", "read", "refresh", "discard", "read-discard", "remove-pending-replace"]);
/** The engine's mark of a secret in events (its value is never in the event: "[secret]" instead). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/** The CLI's notes about where a plugin came from: the toolchain's business, not the keys'. */
export const TOOLCHAIN_NOTE = /^using pulumi-[a-z-]+ from \$PATH/;

export type Group = "create" | "import" | "update" | "rotate" | "replace" | "delete";
export const GROUPS: Group[] = ["create", "import", "update", "rotate", "replace", "delete"];
/** Groups counted even at 0: the counts line of a run with nothing to do stays the same. */
const ALWAYS_COUNTED = new Set<Group>(["create", "update", "rotate", "replace", "delete"]);
/**
 * Where the dynamic-provider plugin (toolchain/dynamic-provider.ts) writes a line of its stderr: its
 * resource's URN, a tab, the line (redacted there, by the core's providers/shared/redact.ts).
 */
export const PROVIDER_STDERR = /^keyfleet-provider (\S*)\t(.*)$/;
/** destroy-preview: the plan a destroy shows before it asks. */
export type Mode = "preview" | "up" | "destroy" | "destroy-preview" | "drift";

export interface PlanLine {
    group: Group;
    /** The resource's name (nexus/tenant/ci). */
    key: string;
    type: string;
    detail: string;
    /**
     * How far the run got with this key's steps: an outputs event came (done), the engine said it
     * failed, or neither (started, never answered). Only a failed run's lines show it.
     */
    outcome?: "done" | "failed" | "unfinished";
    /** Its deliveries the engine reported failed (the key itself may be done). */
    failedDeliveries?: string[];
}

export interface Plan {
    lines: PlanLine[];
    /** Keys the run leaves as they are. */
    unchanged: number;
    /**
     * Keys whose step changes only the core's bookkeeping (the run after a rotation moves
     * holdPrevious to the new key and clears rotationDue): a step of the engine, no change of a key.
     */
    bookkeeping: string[];
    warnings: string[];
    errors: string[];
    /** What a provider wrote to its stderr that is not a warning, each line once, with its key. */
    stderr: string[];
    /** The summary event's result ("succeeded", "failed"); undefined when the engine never got that far. */
    result: string | undefined;
}

/** The part of an engine event (a line of --event-log, or an Automation API EngineEvent) this reads. */
export interface PlanEvent {
    resourcePreEvent?: { metadata?: Step };
    resOutputsEvent?: { metadata?: Step };
    resOpFailedEvent?: { metadata?: Step };
    diagnosticEvent?: { severity?: string; message?: string; ephemeral?: boolean; urn?: string };
    /** A policy pack's finding (policy/, --policy-pack): not a diagnostic, so said here as one. */
    policyEvent?: { policyName?: string; message?: string; enforcementLevel?: string; resourceUrn?: string };
    summaryEvent?: { result?: string };
}

const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

function isSecret(v: unknown): boolean {
    return !!v && typeof v === "object" && (SECRET_SIG in (v as object) || "ciphertext" in (v as object));
}

function show(value: unknown): string {
    if (isSecret(value)) return "[secret]";
    const text = JSON.stringify(value ?? null);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const stable = (v: unknown): string =>
    JSON.stringify(v ?? null, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/**
 * `field: old → new`, one per leaf that differs (rotation.every: "90d" → "30d"). A secret's value is
 * never in an event (the engine sends "[secret]"), so two secrets cannot be compared here: `named`
 * says the provider's diff named this field as changed, which is then said without the value.
 */
function leafChanges(path: string, before: unknown, after: unknown, out: string[], named = false): void {
    const plain = (v: unknown) => !!v && typeof v === "object" && !Array.isArray(v) && !isSecret(v);
    if (plain(before) && plain(after)) {
        const a = before as Record<string, unknown>;
        const b = after as Record<string, unknown>;
        for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) leafChanges(`${path}.${k}`, a[k], b[k], out, named);
        return;
    }
    if (isSecret(before) || isSecret(after)) {
        // Either side secret: the other side's text would say what the secret was or became.
        if (named || !(isSecret(before) && isSecret(after))) out.push(`${path}: (secret) changed`);
        return;
    }
    if (stable(before) !== stable(after)) out.push(`${path}: ${show(before)} → ${show(after)}`);
}

/**
 * The fields the step changes: those the provider's detailed diff names (toolchain/dynamic-provider.ts
 * hands it to the engine), else the engine's own list; the old side is what the vendor had (outputs,
 * after a refresh), the new the YAML's inputs. `replacing`: only the fields that force a replacement.
 */
function fieldChanges(step: Step, replacing = false): string[] {
    const dd = step.detailedDiff ?? null;
    let fields: string[];
    // Whether the fields are the provider's (or engine's) list of what differs, not every input.
    let named = true;
    if (dd && Object.keys(dd).length > 0) {
        fields = Object.entries(dd)
            .filter(([, d]) => !replacing || /replace/i.test(String(d.diffKind ?? d.kind ?? "")))
            .map(([f]) => f.split(/[.[]/)[0]!);
    } else if (replacing) {
        fields = step.keys ?? [];
    } else {
        named = Array.isArray(step.diffs);
        fields = step.diffs ?? Object.keys(step.new?.inputs ?? {});
    }
    const before = { ...(step.old?.inputs ?? {}), ...(step.old?.outputs ?? {}) };
    const after = step.new?.inputs ?? {};
    const out: string[] = [];
    for (const f of [...new Set(fields)]) {
        const name = shownField(step.type, step.old?.outputs, f);
        if (name === null) continue;
        const at = out.length;
        leafChanges(f, before[f], after[f], out, named);
        // The YAML says what it said last run, the vendor has something else: drift, said as such,
        // not left to look like a YAML edit (a preview is where it is seen first).
        const old = step.old?.inputs ?? {};
        const drift = f in old && stable(old[f]) === stable(after[f]) && !isSecret(after[f]);
        for (let i = at; i < out.length; i++) {
            // Shown by the YAML's name; the values are the input's.
            if (name !== f) out[i] = name + out[i]!.slice(f.length);
            if (drift) out[i] += " (changed at the vendor)";
        }
    }
    return out;
}

function vendorOf(type: string, outputs: Record<string, unknown> | undefined): string {
    return typeof outputs?.vendor === "string" ? outputs.vendor : type.slice(KEY_TYPE.length).split(":")[0]!;
}

function kept(step: Step): string {
    const outputs = step.old?.outputs ?? {};
    const spec = vendors.find((v) => v.section === vendorOf(step.type, outputs))?.keyOutputs;
    return spec ? spec.keptOnDelete(outputs) : "unknown (not a keyfleet vendor)";
}

/** A diagnostic's text as a person reads it: the engine's "[runtime]"-style prefixes and padding gone. */
function clean(message: string): string {
    return message.replace(/^(warning|error|info): /, "").replace(/^\[[a-z]+\] /, "").trim();
}

/** A key's name from a URN, or undefined for the stack, providers and other plumbing. */
function keyOfUrn(urn: string | undefined): string | undefined {
    if (!urn) return undefined;
    const type = urn.split("::")[2] ?? "";
    return INTERNAL.test(type) ? undefined : nameOf(urn);
}

/** `key: text`, unless the text already starts with its key (the program names it itself). */
const attributed = (key: string | undefined, text: string) => (key && !text.startsWith(`${key}:`) && !text.startsWith(`${key} `) ? `${key}: ${text}` : text);

export function planOf(events: Iterable<PlanEvent>, options: { mode?: Mode; toolchainNotes?: boolean } = {}): Plan {
    const steps = new Map<string, { ops: Set<string>; step: Step }>();
    const missing = new Set<string>();
    const sameKeys = new Set<string>();
    /** Steps the engine finished (an outputs event), with what they recorded. */
    const finished = new Map<string, Step>();
    const failedUrns = new Set<string>();
    const warnings: string[] = [];
    const errors: string[] = [];
    /** The policy pack's findings, apart: printed after the program's own, sorted (see the end). */
    const policyWarnings: string[] = [];
    const policyErrors: string[] = [];
    /** Other stderr lines, kept until the end: most are an error's lines, said again whole below. */
    const other: { key: string | undefined; text: string }[] = [];
    let result: string | undefined;
    for (const e of events) {
        const out = e.resOutputsEvent?.metadata;
        if (out && out.op === "refresh" && out.type.startsWith(KEY_TYPE) && !out.new) missing.add(out.urn);
        if (out && out.op !== "refresh") finished.set(out.urn, out);
        const failed = e.resOpFailedEvent?.metadata;
        if (failed) failedUrns.add(failed.urn);
        const pre = e.resourcePreEvent?.metadata;
        if (pre && !INTERNAL.test(pre.type)) {
            if (UNCHANGED.has(pre.op)) {
                if (pre.op === "same" && pre.type.startsWith(KEY_TYPE)) sameKeys.add(pre.urn);
            } else {
                const entry = steps.get(pre.urn) ?? { ops: new Set<string>(), step: pre };
                entry.ops.add(pre.op);
                // The replacement's step carries the new inputs; delete-replaced only the old state.
                if (pre.op !== "delete-replaced") entry.step = pre;
                steps.set(pre.urn, entry);
            }
        }
        const diag = e.diagnosticEvent;
        if (diag && !diag.ephemeral) {
            let raw = String(diag.message ?? "");
            let key = keyOfUrn(diag.urn);
            // A provider's stderr comes with no URN; the plugin puts its resource's in front of each line.
            const fromProvider = PROVIDER_STDERR.exec(raw.replace(/\n+$/, ""));
            if (fromProvider) {
                key = keyOfUrn(fromProvider[1]) ?? key;
                raw = fromProvider[2]!;
            }
            // The program's own log lines reach the engine as its stderr ("info#err"), a warning as
            // "warning: [runtime] …". Its errors come that way too, line by line, and once more whole
            // as an "error" diagnostic: only that one is kept.
            const severity = diag.severity === "info#err" && /^warning: /.test(raw) ? "warning" : diag.severity;
            if (severity === "info#err") {
                const text = clean(raw);
                if (text && (options.toolchainNotes || !TOOLCHAIN_NOTE.test(text))) other.push({ key, text });
                continue;
            }
            if (severity !== "warning" && severity !== "error") continue;
            const message = clean(raw);
            if (!message || (!options.toolchainNotes && TOOLCHAIN_NOTE.test(message))) continue;
            // The same text about two keys is two messages; about one key, said once however often.
            const said = attributed(key, message);
            const list = severity === "error" ? errors : warnings;
            if (!list.includes(said)) list.push(said);
        }
        const policy = e.policyEvent;
        if (policy) {
            // The engine's message is the rule's description, then what the pack reported (the key
            // and the fix, policy/rules.ts): the finding is the latter, under its level and rule.
            const said = String(policy.message ?? "").trim().split("\n");
            const finding = (said.length > 1 ? said.slice(1) : said).join("\n").trim();
            const level = policy.enforcementLevel === "mandatory" ? "mandatory" : (policy.enforcementLevel ?? "advisory");
            const message = `[${level}] ${policy.policyName ?? "policy"}: ${finding}`;
            const list = level === "mandatory" ? policyErrors : policyWarnings;
            if (!list.includes(message)) list.push(message);
        }
        if (e.summaryEvent) result = e.summaryEvent.result;
    }
    // The engine reports policy findings in the order its analyzer finished them, which varies
    // from run to run: sorted (by level, rule, then key), two runs print the same. The program's
    // own warnings keep their order (the YAML's, and "deletes EVERY key" first).
    const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    warnings.push(...policyWarnings.sort(byText));
    errors.push(...policyErrors.sort(byText));
    const stderr: string[] = [];
    const saidWhole = [...errors, ...warnings].join("\n");
    for (const { key, text } of other) {
        // A line of an error or warning printed whole above (the program's RunError, line by line).
        if (/^error: /.test(text) || saidWhole.includes(text.replace(/^error: (\[[a-z]+\] )?/, ""))) continue;
        const line = attributed(key, text);
        if (!stderr.includes(line)) stderr.push(line);
    }
    const outcome = (urn: string): PlanLine["outcome"] => (failedUrns.has(urn) ? "failed" : finished.has(urn) ? "done" : "unfinished");
    // Deliveries (`<key>/deliver/<consumer>`) belong to their key's line.
    const deliveries = new Map<string, { text: string; rerun: boolean; consumer: string; failed: boolean }[]>();
    const failedOf = (d: { consumer: string; failed: boolean }[]) => {
        const names = d.filter((x) => x.failed).map((x) => x.consumer);
        return names.length > 0 ? names : undefined;
    };
    const lines: PlanLine[] = [];
    const bookkeeping: string[] = [];
    for (const [urn, { ops, step }] of steps) {
        if (step.type.startsWith(KEY_TYPE)) continue;
        const name = nameOf(urn);
        const at = name.indexOf("/deliver/");
        const verb = ops.has("delete") ? "removed" : ops.has("create") ? "added" : "runs again";
        if (at > 0) {
            const key = name.slice(0, at);
            const consumer = name.slice(at + "/deliver/".length);
            const failed = outcome(urn) === "failed";
            deliveries.set(key, [...(deliveries.get(key) ?? []), { text: `delivery ${consumer} ${verb}${failed ? " (FAILED)" : ""}`, rerun: verb === "runs again", consumer, failed }]);
        } else {
            // Not a key nor a delivery: shown as it is rather than hidden.
            const group: Group = ops.has("create") ? "create" : ops.has("delete") ? "delete" : [...ops].some((o) => o.includes("replace")) ? "replace" : "update";
            lines.push({ group, key: name, type: step.type, detail: `${step.type}: ${[...ops].join(", ")}`, outcome: outcome(urn) });
        }
    }
    for (const [urn, { ops, step }] of steps) {
        if (!step.type.startsWith(KEY_TYPE)) continue;
        const key = nameOf(urn);
        const due = step.new?.inputs?.rotationDue;
        const replaced = ops.has("replace") || ops.has("create-replacement") || ops.has("delete-replaced");
        let line: PlanLine;
        if (typeof due === "string" && due && !ops.has("create") && !ops.has("delete")) {
            const others = fieldChanges(step).filter((f) => !/^rotation[.:]/.test(f));
            const how = replaced ? "; a new key replaces it" : "";
            line = { group: "rotate", key, type: step.type, detail: `${overlapOf(due.replace(/^rotation due: /, ""), finished.get(urn))}${how}${others.length ? `; also ${others.join("; ")}` : ""}` };
        } else if (replaced) {
            const why = fieldChanges(step, true);
            line = { group: "replace", key, type: step.type, detail: why.length ? `${why.join("; ")} (cannot change in place)` : "replacement requested (--replace, or the vendor's answer)" };
        } else if (ops.has("import") || ops.has("import-replacement")) {
            line = { group: "import", key, type: step.type, detail: "imported: the engine takes over the vendor's key as it is" };
        } else if (ops.has("create") && adoptOf(step.new?.inputs?.adopt)) {
            line = { group: "import", key, type: step.type, detail: adoptOf(step.new?.inputs?.adopt)! };
        } else if (ops.has("create")) {
            line = { group: "create", key, type: step.type, detail: missing.has(urn) ? "missing at the vendor: made again" : "new in the YAML" };
        } else if (ops.has("delete")) {
            const why = options.mode?.startsWith("destroy") ? "stack destroyed" : "no longer in the YAML";
            line = { group: "delete", key, type: step.type, detail: `${why}; the vendor keeps ${kept(step)}` };
        } else {
            const fields = fieldChanges(step);
            if (fields.length === 0) {
                // Its deliveries that run again get the same key (the engine cannot compare the
                // secret inputs): bookkeeping too. A consumer added or removed is a change of its own.
                const own = (deliveries.get(key) ?? []).filter((d) => !d.rerun);
                deliveries.delete(key);
                if (own.length === 0) {
                    bookkeeping.push(key);
                    continue;
                }
                lines.push({ group: "update", key, type: step.type, detail: own.map((d) => d.text).join(", "), outcome: outcome(urn), failedDeliveries: failedOf(own) });
                continue;
            }
            line = { group: "update", key, type: step.type, detail: fields.join("; ") };
        }
        line.outcome = outcome(urn);
        const d = deliveries.get(key);
        if (d) {
            line.detail += `; ${d.map((x) => x.text).join(", ")}`;
            line.failedDeliveries = failedOf(d);
            deliveries.delete(key);
        }
        lines.push(line);
    }
    // A delivery whose key does not change (a consumer added or removed in the YAML).
    // Its outcome is its deliveries': the key has no step.
    for (const [key, d] of deliveries) lines.push({ group: "update", key, type: "command:local:Command", detail: d.map((x) => x.text).join(", "), outcome: failedOf(d) ? "failed" : "done", failedDeliveries: failedOf(d) });
    lines.sort((a, b) => GROUPS.indexOf(a.group) - GROUPS.indexOf(b.group) || a.key.localeCompare(b.key));
    const changedKeys = new Set(lines.map((l) => l.key));
    const unchanged = [...sameKeys].filter((u) => !changedKeys.has(nameOf(u))).length;
    return { lines, unchanged, bookkeeping, warnings, errors, stderr, result };
}

/** What an entry's `adopt:` takes over, or undefined when it has none. */
function adoptOf(adopt: unknown): string | undefined {
    if (adopt === true) return "adopts the vendor's key of this name (adopt: true); made new if the vendor has none";
    if (typeof adopt === "string" && adopt) return `adopts the vendor's key ${adopt} (adopt)`;
    return undefined;
}

/**
 * A rotation's reason with the old key's end as recorded: the step's new outputs hold the
 * previous slot's `previousRetireAt`, set by the provider when it rotated (a preview has none; the
 * program's reason then says how long the overlap is).
 */
function overlapOf(reason: string, done: Step | undefined): string {
    const retireAt = done?.new?.outputs?.previousRetireAt;
    const said = /; the old key stays valid (?:for (\S+) after the rotation|until \S+ \(overlap ([^)]+)\))$/.exec(reason);
    if (typeof retireAt !== "string" || !retireAt || !said) return reason;
    return `${reason.slice(0, said.index)}; the old key stays valid until ${retireAt} (overlap ${said[1] ?? said[2]})`;
}

/** The events of an event log's text (a torn last line, from a run cut short, is skipped). */
export function parseEventLog(text: string): PlanEvent[] {
    const out: PlanEvent[] = [];
    for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        try {
            out.push(JSON.parse(line));
        } catch {
            // torn line
        }
    }
    return out;
}

const WORDS: Record<Group, { preview: string; done: string; verb: string }> = {
    create: { preview: "to create", done: "created", verb: "create" },
    import: { preview: "to import", done: "imported", verb: "import" },
    update: { preview: "to update", done: "updated", verb: "update" },
    rotate: { preview: "to rotate", done: "rotated", verb: "rotate" },
    replace: { preview: "to replace", done: "replaced", verb: "replace" },
    delete: { preview: "to delete", done: "deleted", verb: "delete" },
};

/**
 * The plan as text, the same for a terminal and for the GitOps summary. `engineShown`: the engine's
 * own output was printed (--verbose), with its warnings and errors, which are then not repeated.
 */
export function renderPlan(plan: Plan, o: { stack: string; mode: Mode; engineShown?: boolean; status?: number }): string[] {
    const applied = o.mode === "up" || o.mode === "destroy";
    // An engine that died without its summary (killed, out of memory, a second Ctrl-C) failed too:
    // its events then hold steps that started, which must not read as done.
    const failed = (plan.result !== undefined && plan.result !== "succeeded") || (o.status !== undefined && o.status !== 0) || (applied && plan.result === undefined && plan.lines.length > 0);
    const out: string[] = [];
    // A message of several lines: its lines under its first, indented.
    const said = (prefix: string, m: string) => m.split("\n").map((l, i) => (i === 0 ? `${prefix}${l}` : `  ${l.trimStart()}`));
    if (!o.engineShown) {
        for (const w of plan.warnings) out.push(...said("warning: ", w));
        for (const e of plan.errors) out.push(...said("error: ", e));
        // The engine's display shows a provider's stderr too; without it, nothing else would.
        for (const l of plan.stderr ?? []) out.push(`stderr: ${l}`);
    }
    if (plan.result === undefined && plan.lines.length === 0) {
        out.push(`keyfleet: ${o.mode === "destroy-preview" ? "destroy preview" : o.mode} of stack ${o.stack} did not run; nothing was changed`);
        return out;
    }
    const mode = o.mode === "destroy-preview" ? "destroy preview" : o.mode;
    if (failed && plan.lines.length === 0) {
        out.push(`keyfleet: ${mode} of stack ${o.stack} failed${plan.errors.length > 0 && !o.engineShown ? " (the error above)" : ""}; nothing was changed`);
        return out;
    }
    const title = failed
        ? `keyfleet: ${mode} of stack ${o.stack} FAILED; ${applied ? "what it did before it stopped" : "its plan so far"}:`
        : applied
          ? `keyfleet: ${o.mode} of stack ${o.stack} done:`
          : `keyfleet: plan of stack ${o.stack} (${o.mode === "drift" ? "drift check" : mode}, nothing applied):`;
    out.push(title);
    // In a failed up, a step is done only where the engine recorded its outcome; one it reported
    // failed, or that never answered, did not happen as planned.
    const state = (l: PlanLine): "done" | "failed" | "unfinished" => (applied && failed ? (l.outcome ?? "unfinished") : "done");
    const MARK = { done: "", failed: " — FAILED", unfinished: " — not finished (started, no outcome recorded)" };
    const width = Math.max(0, ...plan.lines.map((l) => l.key.length));
    for (const l of plan.lines) out.push(`  ${WORDS[l.group].verb.padEnd(7)} ${l.key.padEnd(width)}  ${l.detail}${MARK[state(l)]}`);
    const count = (g: Group) => plan.lines.filter((l) => l.group === g && state(l) === "done").length;
    const counted = GROUPS.filter((g) => ALWAYS_COUNTED.has(g) || plan.lines.some((l) => l.group === g));
    const counts = counted.map((g) => `${count(g)} ${applied ? WORDS[g].done : WORDS[g].preview}`).join(", ");
    if (plan.lines.length === 0 && !failed) out.push(`  no changes: every key is as the YAML says`);
    const kept = plan.bookkeeping.length > 0 ? ` (+${plan.bookkeeping.length} with only keyfleet's bookkeeping to record: ${plan.bookkeeping.join(", ")})` : "";
    const not = (s: "failed" | "unfinished") => [
        ...plan.lines.filter((l) => state(l) === s).map((l) => l.key),
        // A key made whose consumer failed: the key is done, its delivery is not.
        ...(s === "failed" && applied && failed ? plan.lines.filter((l) => state(l) !== "failed").flatMap((l) => (l.failedDeliveries ?? []).map((c) => `${l.key}'s delivery ${c}`)) : []),
    ];
    const notDone = [
        ...(not("failed").length ? [`${not("failed").length} failed (${not("failed").join(", ")})`] : []),
        ...(not("unfinished").length ? [`${not("unfinished").length} not finished (${not("unfinished").join(", ")})`] : []),
    ];
    out.push(`${counts}; ${plan.unchanged} unchanged${kept}${notDone.length ? `; ${notDone.join(", ")}` : ""}`);
    return out;
}

if (import.meta.main) {
    const { parseCli } = await import("../scripts/cli.ts");
    const usage =
        "usage: node ops/plan.ts --events <event log> --stack <name> --mode preview|up|destroy [--status <exit code>] [--engine-output <file>] [--verbose]\n" +
        "  keyfleet's plan of one engine run (scripts/keyfleet.sh prints it after preview, up and destroy); exits with --status.\n" +
        "  --engine-output: the engine's captured output, shown when the run failed without saying why in its events.";
    const { values } = parseCli(usage, {
        options: {
            events: { type: "string" },
            stack: { type: "string" },
            mode: { type: "string" },
            status: { type: "string" },
            "engine-output": { type: "string" },
            verbose: { type: "boolean" },
        },
    });
    const mode = (values.mode ?? "preview") as Mode;
    const status = Number(values.status ?? 0);
    const log = values.events && fs.existsSync(values.events) ? fs.readFileSync(values.events, "utf8") : "";
    const plan = planOf(parseEventLog(log), { mode, toolchainNotes: values.verbose });
    const engineShown = values.verbose === true;
    // A failure the events do not explain (a wrong passphrase, a missing stack: the CLI stops before
    // the engine runs) is said by the CLI's own error lines.
    if (status !== 0 && plan.errors.length === 0 && !engineShown && values["engine-output"] && fs.existsSync(values["engine-output"])) {
        const said = fs
            .readFileSync(values["engine-output"], "utf8")
            .split("\n")
            .filter((l) => /^\s*error: /.test(l))
            .map((l) => l.trim().replace(/^error: /, ""));
        const all = said.length > 0 ? said : fs.readFileSync(values["engine-output"], "utf8").trim().split("\n").slice(-20);
        for (const e of all) if (!plan.errors.includes(e)) plan.errors.push(e);
    }
    process.stdout.write(`${renderPlan(plan, { stack: values.stack ?? "?", mode, engineShown, status }).join("\n")}\n`);
    process.exit(status);
}
