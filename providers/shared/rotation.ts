// Rotation through `pulumi up`, shared by every vendor: when a key's policy says so, a new key is
// made, decided from state alone, so a preview shows it without calling the vendor and without any
// input having changed. With `overlap`, the old key stays valid in the resource's `previous` slot
// until the overlap ends (see planner.ts and slots.ts); without it, the key is replaced (new key first, old key
// deleted by the engine right after).
import { z } from "zod";

export interface RotationPolicy {
    /** Replace the key once it is older than this: a whole number of hours, days or weeks (`12h`, `90d`, `2w`). */
    every?: string;
    /** Rotate now by raising this number; any change rotates the key. */
    generation?: number;
    /** How long the old key stays valid after a rotation (`7d`); 0 (the default) deletes it at once. */
    overlap?: string | 0;
    /** Probe a new key on the vendor's usage endpoint before it replaces the current one. */
    verify?: boolean;
    /** Stops rotation by age (a generation change still rotates). */
    paused?: boolean;
    /** Rotation by age on a fixed schedule, shifted by this much: keys with different offsets never rotate in the same up. */
    offset?: string | 0;
}

export const DURATION_PATTERN = /^[1-9][0-9]*[hdw]$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export const Duration = z
    .string()
    .regex(DURATION_PATTERN, { error: "must be a duration like 12h, 90d or 2w" })
    .describe("A whole number of hours, days or weeks: 12h, 90d, 2w.");

/** A duration, or 0 for none (also written `0h`, `0d`, `0w`). */
const DurationOrZero = z
    .union(
        [
            z.literal(0),
            // Its own error too: a string that misses the pattern is reported by this branch, not the union.
            z.string().regex(/^(0|[1-9][0-9]*)[hdw]$/, { error: "must be 0 or a duration like 12h, 7d or 2w" }).describe("A whole number of hours, days or weeks (12h, 7d, 2w), or 0h/0d/0w for none."),
        ],
        { error: "must be 0 or a duration like 12h, 7d or 2w" },
    )
    .meta({ examples: [0, "12h", "7d"] });

export const Rotation = z
    .strictObject({
        every: Duration.optional().describe("Replace the key once it is older than this."),
        generation: z.int().min(0).optional().describe("Raise to rotate the key now (honouring overlap)."),
        overlap: DurationOrZero.optional().describe(
            "How long the old key stays valid after a rotation (its vendor-side expiry is set to the end of it where the vendor has one); 0 (default) deletes it at once.",
        ),
        verify: z.boolean().optional().describe("Probe a new key on the vendor's usage endpoint before it replaces the current one; a failed probe keeps the current key."),
        paused: z.boolean().optional().describe("true stops rotation by age; a generation change still rotates."),
        offset: DurationOrZero.optional().describe("Rotate by age on a fixed schedule shifted by this much, so that keys sharing `every` rotate in different runs."),
    })
    .superRefine((r, ctx) => {
        // The previous slot holds one key: an overlap as long as the schedule would still need it
        // when the next rotation comes. Checked where both are written together (defaults merge
        // field by field, so the key's own rotation object is where an operator reads the pair).
        if (!r.every || !r.overlap || !DURATION_PATTERN.test(r.every) || !/^[1-9][0-9]*[hdw]$/.test(String(r.overlap))) return;
        if (durationMs(String(r.overlap)) >= durationMs(r.every)) {
            ctx.addIssue({ code: "custom", path: ["overlap"], message: `must be shorter than every (${r.every}): the old key would still be valid when the next rotation comes` });
        }
    })
    .describe(
        "When keyfleet rotates a key: the new key is created before the old one is deleted, or kept for `overlap`. A key's own fields override " +
            "defaults.rotation field by field.",
    );

export function durationMs(text: string): number {
    if (!DURATION_PATTERN.test(text)) throw new Error(`"${text}" is not a duration like 12h, 90d or 2w`);
    return Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS];
}

/** A duration or 0 (state written by older keyfleet has none) in milliseconds. */
export function optionalMs(text: string | 0 | null | undefined): number {
    if (!text || /^0[hdw]$/.test(text)) return 0;
    return durationMs(text);
}

/** The overlap of a policy in milliseconds (0: the old key is deleted at once). */
export function overlapMs(policy: RotationPolicy | null | undefined): number {
    return optionalMs(policy?.overlap);
}

/**
 * The policy of one key: the environment's defaults overridden field by field by the key's own,
 * so `rotation: {generation: 2}` keeps the default `every`. Null when neither says anything.
 */
export function mergeRotation(defaults: RotationPolicy | null | undefined, own: RotationPolicy | null | undefined): RotationPolicy | null {
    const merged: RotationPolicy = { ...(defaults ?? {}), ...(own ?? {}) };
    for (const k of Object.keys(merged) as (keyof RotationPolicy)[]) if (merged[k] === undefined) delete merged[k];
    return Object.keys(merged).length > 0 ? merged : null;
}

/**
 * When a key made at `since` is due by age, or undefined (no `every`, or paused). Without `offset`
 * the key is due once it is `every` old. With `offset` the key is due at the one point of a fixed
 * schedule (`offset + k × every` from 1970-01-01T00:00Z) within its first `every` of life: never
 * older than `every`, and keys sharing `every` with different offsets fall due at different times
 * (a new key may so live shorter than `every` until its first rotation).
 */
export function nextRotationAt(policy: RotationPolicy | null | undefined, since: string | null | undefined): number | undefined {
    if (!policy?.every || policy.paused || !since) return undefined;
    const made = Date.parse(since);
    if (Number.isNaN(made)) return undefined;
    const every = durationMs(policy.every);
    if (policy.offset === undefined) return made + every;
    const offset = optionalMs(policy.offset) % every;
    // The last schedule point at or before made + every: it is after `made`, as points are `every` apart.
    return Math.floor((made + every - offset) / every) * every + offset;
}

/**
 * Why the key must rotate now, or undefined. `since` is when the current key was made (the
 * vendor's creation time, or when keyfleet first saw it); the age test uses the new policy, so
 * shortening `every` takes effect on the next run. `standing`: the key as the YAML leaves it. By
 * age, only a key the schedule the report and summary show (keySchedule) rotates: a disabled or
 * revoked key has none, and rotating it would put a fresh key into use. A generation bump is
 * asked for by name and always rotates.
 */
export function rotationReason(
    old: { rotation?: RotationPolicy | null },
    since: string | null | undefined,
    next: { rotation?: RotationPolicy | null },
    now: number,
    standing: KeyStanding = "active",
): string | undefined {
    const before = old.rotation?.generation ?? 0;
    const after = next.rotation?.generation ?? 0;
    if (before !== after) return `rotation generation ${before} → ${after}`;
    if (keySchedule({ standing, expires: null, created: since ?? null, rotation: next.rotation ?? null, now }).next === null) return undefined;
    const due = nextRotationAt(next.rotation, since);
    if (due !== undefined && now >= due) {
        const offset = next.rotation?.offset;
        return offset === undefined ? `older than ${next.rotation!.every}` : `due on its ${next.rotation!.every} schedule (offset ${offset || "0"}) at ${new Date(due).toISOString()}`;
    }
    return undefined;
}

/**
 * Why a key with a rotation policy must be replaced for its expiry: the key's actual expiry
 * (`expiresAt`, ISO 8601; null for never) has passed. Undefined without a policy or an expiry.
 */
export function expiryReason(rotation: RotationPolicy | null | undefined, expiresAt: string | null | undefined, now: number, standing: KeyStanding = "active"): string | undefined {
    if (!rotation || !expiresAt || standing === "disabled" || standing === "revoked") return undefined;
    const at = Date.parse(expiresAt);
    return !Number.isNaN(at) && at <= now ? `expired on ${expiresAt}` : undefined;
}

/** A key's standing as tools beside the engine show it (report, up's summary, drift). */
export type KeyStanding = "active" | "disabled" | "revoked" | "expired";

/** A vendor's renewal (the vendor's expiry.renewal) asked at one instant: why the key is replaced then, or undefined. */
export type RenewalAt = (now: number) => string | undefined;

export interface KeySchedule {
    standing: KeyStanding;
    /** The key's actual expiry (ISO 8601), or null for never. */
    expires: string | null;
    /** When keyfleet next replaces the key and why, or null: never (revoked, disabled, no policy, paused). */
    next: { at: string; why: string; by: "age" | "renewal" } | null;
    /**
     * The key stops working before anything replaces it: it expires before (or at) its next
     * rotation, or it expires and nothing rotates it. False for a key already expired, revoked or disabled.
     */
    expiresFirst: boolean;
}

const MINUTE = 60_000;

/**
 * The first instant the vendor's renewal says "replace", between now and the horizon, to the minute.
 * A renewal is a threshold in time (an expiry minus a margin), so a bisection finds it.
 */
function firstRenewal(renewal: RenewalAt, now: number, horizon: number): { at: number; why: string } | null {
    const ask = (t: number) => {
        try {
            return renewal(t);
        } catch {
            return undefined;
        }
    };
    const dueNow = ask(now);
    if (dueNow) return { at: now, why: dueNow };
    if (!ask(horizon)) return null;
    let lo = now;
    let hi = horizon;
    while (hi - lo > MINUTE) {
        const mid = Math.floor((lo + hi) / 2);
        if (ask(mid)) hi = mid;
        else lo = mid;
    }
    return { at: hi, why: ask(hi)! };
}

/**
 * The one schedule of a key that the report, `npm run up`'s summary and the drift checks show: the
 * earlier of rotation by age (the core's recorded nextRotation where state has one, else the policy
 * from creation) and the vendor's own renewal (BeyondTrust replaces a session key before it
 * expires); none for a revoked or disabled key, which keyfleet never rotates into use again.
 */
export function keySchedule(key: {
    standing: KeyStanding;
    expires: string | null;
    created: string | null;
    rotation: RotationPolicy | null;
    /** The core's nextRotation output: undefined when state has none (older keyfleet), null for none. */
    recordedNext?: string | null;
    renewal?: RenewalAt;
    now: number;
}): KeySchedule {
    const expiresMs = key.expires ? Date.parse(key.expires) : Number.NaN;
    const expires = Number.isNaN(expiresMs) ? null : new Date(expiresMs).toISOString();
    let standing = key.standing;
    if (standing === "active" && expires && expiresMs <= key.now) standing = "expired";
    if (standing === "revoked" || standing === "disabled") return { standing, expires, next: null, expiresFirst: false };

    const candidates: NonNullable<KeySchedule["next"]>[] = [];
    const policy = key.rotation;
    const ageWhy = policy?.offset !== undefined && policy?.offset !== null ? `every ${policy.every}, offset ${String(policy.offset || "0")}` : `older than ${policy?.every}`;
    if (key.recordedNext !== undefined) {
        const at = key.recordedNext ? Date.parse(key.recordedNext) : Number.NaN;
        if (!Number.isNaN(at)) candidates.push({ at: new Date(at).toISOString(), why: policy?.every ? ageWhy : "rotation schedule", by: "age" });
    } else {
        let at: number | undefined;
        try {
            at = nextRotationAt(policy, key.created);
        } catch {
            // A policy this keyfleet cannot read says nothing about the next rotation.
        }
        if (at !== undefined) candidates.push({ at: new Date(at).toISOString(), why: ageWhy, by: "age" });
    }
    if (key.renewal) {
        const horizon = Math.max(key.now, expires ? expiresMs : 0) + 5 * 365 * 86_400_000;
        const r = firstRenewal(key.renewal, key.now, horizon);
        if (r) candidates.push({ at: new Date(r.at).toISOString(), why: r.why, by: "renewal" });
    }
    const next = candidates.sort((a, b) => Date.parse(a.at) - Date.parse(b.at))[0] ?? null;
    const expiresFirst = standing === "active" && expires !== null && (next === null || expiresMs <= Date.parse(next.at));
    return { standing, expires, next, expiresFirst };
}

/** rotation.verify's value in a raw rotation block: true, false, or undefined when it says nothing. */
function verifies(rotation: unknown): boolean | undefined {
    const v = rotation && typeof rotation === "object" ? (rotation as { verify?: unknown }).verify : undefined;
    return typeof v === "boolean" ? v : undefined;
}

/**
 * The entries of a YAML key list that ask for verify: true, their own or from defaults.rotation:
 * where to say it (`path`, under the entry) and how (`said`). For a vendor's rules, so that every
 * vendor refuses what it cannot verify at the YAML's place, in the same words.
 */
export function askedToVerify(entries: readonly unknown[], root: unknown): { index: number; path: (string | number)[]; said: string }[] {
    const byDefault = verifies((root as { defaults?: { rotation?: unknown } } | undefined)?.defaults?.rotation);
    return entries.flatMap((entry, index) => {
        if (!entry || typeof entry !== "object") return [];
        const own = verifies((entry as { rotation?: unknown }).rotation);
        if (!(own ?? byDefault)) return [];
        return [{ index, path: own === undefined ? [] : ["rotation", "verify"], said: own === undefined ? "verify: true (from defaults.rotation)" : "verify: true" }];
    });
}
