// What a drift check found, per key, from the engine's events of one `preview --refresh` (the event
// log gitops.sh keeps, or the Automation API's events in `fleet drift`): one classifier, so both say
// the same. A refresh step that finds a key changed or gone is drift; a plan step with nothing found
// at the vendor is YAML not yet applied; a recorded expiry inside the window (read where the vendor's
// descriptor says, keyOutputs.expires) and a rotation due are findings of their own, with their date.
//
// `--within` moves the run's clock (providers/shared/clock.ts), so a key that expires inside the
// window looks expired to the provider: BeyondTrust's read then drops it, which would read as
// "missing at the vendor". A key whose recorded expiry explains its absence is reported as expiring.
import { durationMs, keySchedule, type RotationPolicy } from "../providers/shared/rotation.ts";
import { vendors } from "../providers/vendors.ts";

export type FindingKind = "changed at the vendor" | "missing at the vendor" | "not yet applied" | "expiring" | "rotation due";

export interface Finding {
    key: string;
    kind: FindingKind;
    /** What exactly, for a person: the fields, the date, the rotation's reason. */
    detail: string;
}

/** A resource's state in an engine event (old or new side of a step). */
export interface StepState {
    type?: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

/** A step's metadata in an engine event, as the drift classifier and the plan (ops/plan.ts) read it. */
export interface Step {
    op: string;
    urn: string;
    type: string;
    old?: StepState | null;
    new?: StepState | null;
    keys?: string[] | null;
    diffs?: string[] | null;
    detailedDiff?: Record<string, { diffKind?: string; kind?: string }> | null;
}

/** The subset of an engine event this reads (EngineEvent, or a line of --event-log). */
export interface DriftEvent {
    resourcePreEvent?: { metadata?: Step };
    resOutputsEvent?: { metadata?: Step };
}

const KEY_TYPE = "pulumi-nodejs:dynamic/";
/**
 * Inputs the core passes between runs (api/environment.ts `core`): plumbing, never something a
 * reader of the diff changed. One list for the drift check and the plan (ops/plan.ts).
 */
export const PLUMBING: ReadonlySet<string> = new Set(["__provider", "predecessor", "rotationDue", "holdPrevious", "interrupted", "lastExpires"]);
const UNCHANGED = new Set(["same", "read", "refresh", "discard", "read-discard"]);

const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

function show(value: unknown): string {
    if (value && typeof value === "object" && "ciphertext" in (value as object)) return "[secret]";
    const text = JSON.stringify(value ?? null);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const stable = (v: unknown): string =>
    JSON.stringify(v, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/**
 * The name an operator reads for a key's input: the YAML's (queue, not targetQueue; note, not
 * internalNote), as the vendor's model declares it (keyOutputs.fieldNames); null for bookkeeping and
 * for an input the YAML never names (SupportSystem's notes column, made from the note and the marker).
 */
export function shownField(type: string, outputs: Record<string, unknown> | undefined, field: string): string | null {
    if (PLUMBING.has(field)) return null;
    const names = vendors.find((v) => v.section === vendorOf(type, outputs))?.keyOutputs.fieldNames ?? {};
    return field in names ? names[field]! : field;
}

/** Fields whose value the refresh found different at the vendor (secret values show as [secret]). */
function vendorChanges(type: string, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
    const out: string[] = [];
    for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const name = shownField(type, before, field);
        if (name === null) continue;
        if (stable(before[field] ?? null) !== stable(after[field] ?? null)) out.push(`${name}: ${show(before[field])} → ${show(after[field])}`);
    }
    return out;
}

/** Fields the YAML would change: the plan's inputs against what state (or the refresh) has. */
function planChanges(step: Step): string[] {
    const before = { ...(step.old?.inputs ?? {}), ...(step.old?.outputs ?? {}) };
    const out: string[] = [];
    for (const [field, value] of Object.entries(step.new?.inputs ?? {})) {
        const name = shownField(step.type, step.old?.outputs, field);
        if (name === null) continue;
        if (stable(before[field] ?? null) !== stable(value ?? null)) out.push(`${name}: ${show(before[field])} → ${show(value)}`);
    }
    return out;
}

function vendorOf(type: string, outputs: Record<string, unknown> | undefined): string {
    return typeof outputs?.vendor === "string" ? outputs.vendor : type.slice(KEY_TYPE.length).split(":")[0];
}

/** The key's expiry as its vendor declares it (keyOutputs.expires), from state's outputs; NaN when none. */
function expiryOf(type: string, outputs: Record<string, unknown> | undefined): number {
    const spec = vendors.find((v) => v.section === vendorOf(type, outputs))?.keyOutputs;
    const value = spec?.expires ? outputs?.[spec.expires] : undefined;
    return typeof value === "string" ? Date.parse(value) : Number.NaN;
}

/** A vendor lifecycle's renewal (the vendor's expiry.renewal), by vendor section. */
export type Renewals = Record<string, ((state: unknown, inputs: unknown, now: number) => string | undefined) | undefined>;

/** Every vendor's renewal, loaded from its provider (no connection is made). */
export async function vendorRenewals(): Promise<Renewals> {
    const out: Renewals = {};
    for (const v of vendors) {
        const expiry = (await v.provider()).vendor?.expiry;
        out[v.section] = expiry?.renewal ? (s, i, t) => expiry.renewal!(s, i, t) : undefined;
    }
    return out;
}

/** Whether the key's next rotation (keySchedule, the report's) comes before its expiry, said for a finding. */
function beforeOrAfter(type: string, o: Record<string, unknown>, now: number, renewals: Renewals | undefined): string {
    const vendor = vendorOf(type, o);
    const spec = vendors.find((v) => v.section === vendor)?.keyOutputs;
    const renewal = renewals?.[vendor];
    const s = keySchedule({
        standing: spec ? spec.standing(o) : "active",
        expires: spec?.expires && typeof o[spec.expires] === "string" ? (o[spec.expires] as string) : null,
        created: typeof o.created === "string" ? o.created : null,
        rotation: (o.rotation && typeof o.rotation === "object" ? o.rotation : null) as RotationPolicy | null,
        recordedNext: "nextRotation" in o ? (typeof o.nextRotation === "string" ? o.nextRotation : null) : undefined,
        renewal: renewal ? (t) => renewal(o, o, t) : undefined,
        now,
    });
    if (s.expiresFirst) return s.next ? `, before its next rotation (${s.next.at})` : ", and nothing rotates it";
    return s.next ? `; its next rotation replaces it first, on ${s.next.at} (${s.next.why})` : "";
}

/**
 * The findings of one drift check. `now` is the real time and `within` the --within horizon (12h,
 * 7d; none: now): a key expiring at or before now + within is a finding, with its date.
 */
export function driftFindings(events: Iterable<DriftEvent>, options: { now: number; within?: string | null; renewals?: Renewals }): Finding[] {
    const refreshed = new Map<string, { type: string; old: Record<string, unknown>; now: Record<string, unknown> | null }>();
    const planned = new Map<string, { ops: Set<string>; step: Step }>();
    for (const e of events) {
        const out = e.resOutputsEvent?.metadata;
        if (out && out.op === "refresh" && out.type.startsWith(KEY_TYPE)) {
            // The engine sends no diff for refreshes: state's outputs (old) against the vendor's (new).
            refreshed.set(out.urn, { type: out.type, old: out.old?.outputs ?? {}, now: out.new ? (out.new.outputs ?? {}) : null });
        }
        const pre = e.resourcePreEvent?.metadata;
        if (pre && pre.type.startsWith(KEY_TYPE) && !UNCHANGED.has(pre.op)) {
            const entry = planned.get(pre.urn) ?? { ops: new Set<string>(), step: pre };
            entry.ops.add(pre.op);
            if (pre.op !== "delete-replaced") entry.step = pre;
            planned.set(pre.urn, entry);
        }
    }
    const horizon = options.now + (options.within ? durationMs(options.within) : 0);
    const within = options.within ? ` within ${options.within}` : "";
    const findings: Finding[] = [];
    const expiring = new Set<string>();
    for (const [urn, r] of refreshed) {
        const at = expiryOf(r.type, r.old);
        if (Number.isNaN(at) || at > horizon) continue;
        const date = new Date(at).toISOString();
        expiring.add(urn);
        const detail = at <= options.now ? `expired on ${date}` : `expires${within}, on ${date}${beforeOrAfter(r.type, r.old, options.now, options.renewals)}`;
        findings.push({ key: nameOf(urn), kind: "expiring", detail });
    }
    for (const [urn, r] of refreshed) {
        if (expiring.has(urn)) continue;
        if (r.now === null) findings.push({ key: nameOf(urn), kind: "missing at the vendor", detail: "the refresh found no such key; apply makes a new one" });
        else {
            const fields = vendorChanges(r.type, r.old, r.now);
            if (fields.length > 0) findings.push({ key: nameOf(urn), kind: "changed at the vendor", detail: `${fields.join("; ")}; apply sets the YAML's values again` });
        }
    }
    for (const [urn, { ops, step }] of planned) {
        const key = nameOf(urn);
        const r = refreshed.get(urn);
        // Already said: the refresh explains this step (a key gone or changed at the vendor, or expiring).
        const explained = expiring.has(urn) || (r !== undefined && (r.now === null || vendorChanges(r.type, r.old, r.now).length > 0));
        const due = step.new?.inputs?.rotationDue;
        if (typeof due === "string" && due && (ops.has("replace") || ops.has("create-replacement") || ops.has("update"))) {
            if (!expiring.has(urn)) findings.push({ key, kind: "rotation due", detail: `${within ? `rotation due${within}` : "rotation due now"}: ${due}` });
            continue;
        }
        if (explained) continue;
        if (ops.has("create")) findings.push({ key, kind: "not yet applied", detail: "new in the YAML" });
        else if (ops.has("delete")) findings.push({ key, kind: "not yet applied", detail: "no longer in the YAML; apply deletes it" });
        else findings.push({ key, kind: "not yet applied", detail: `the YAML changed: ${planChanges(step).join("; ") || [...ops].join(", ")}` });
    }
    return findings;
}

/** Drift proper (the vendor's side changed), as against what an apply or the calendar brings. */
export const isDrift = (f: Finding) => f.kind === "changed at the vendor" || f.kind === "missing at the vendor";
export const isDue = (f: Finding) => f.kind === "expiring" || f.kind === "rotation due";
