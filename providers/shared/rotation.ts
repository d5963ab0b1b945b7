// Rotation through `pulumi up`, shared by every vendor: a key is replaced (new key first, old key
// deleted after) when its policy says so, decided from state alone, so a preview shows it without
// calling the vendor and without any input having changed.
import { z } from "zod";

export interface RotationPolicy {
    /** Replace the key once it is older than this: a whole number of hours, days or weeks (`12h`, `90d`, `2w`). */
    every?: string;
    /** Rotate now by raising this number; any change replaces the key. */
    generation?: number;
}

export const DURATION_PATTERN = /^[1-9][0-9]*[hdw]$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export const Duration = z
    .string()
    .regex(DURATION_PATTERN, { error: "must be a duration like 12h, 90d or 2w" })
    .describe("A whole number of hours, days or weeks: 12h, 90d, 2w.");

export const Rotation = z
    .strictObject({
        every: Duration.optional().describe("Replace the key once it is older than this."),
        generation: z.int().min(0).optional().describe("Raise to rotate the key now."),
    })
    .describe(
        "When keyfleet replaces a key: the new key is created before the old one is deleted. A key's own fields override " +
            "defaults.rotation field by field.",
    );

export function durationMs(text: string): number {
    if (!DURATION_PATTERN.test(text)) throw new Error(`"${text}" is not a duration like 12h, 90d or 2w`);
    return Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS];
}

/**
 * The policy of one key: the environment's defaults overridden field by field by the key's own,
 * so `rotation: {generation: 2}` keeps the default `every`. Null when neither says anything.
 */
export function mergeRotation(defaults: RotationPolicy | null | undefined, own: RotationPolicy | null | undefined): RotationPolicy | null {
    const merged: RotationPolicy = { ...(defaults ?? {}), ...(own ?? {}) };
    for (const k of Object.keys(merged) as (keyof RotationPolicy)[]) if (merged[k] === undefined) delete merged[k];
    return merged.every !== undefined || merged.generation !== undefined ? merged : null;
}

/**
 * Why the key must rotate now, or undefined. `since` is when the current key was made (the
 * vendor's creation time, or when keyfleet first saw it); the age test uses the new policy, so
 * shortening `every` takes effect on the next run.
 */
export function rotationReason(
    old: { rotation?: RotationPolicy | null },
    since: string | null | undefined,
    next: { rotation?: RotationPolicy | null },
    now: number,
): string | undefined {
    const before = old.rotation?.generation ?? 0;
    const after = next.rotation?.generation ?? 0;
    if (before !== after) return `rotation generation ${before} → ${after}`;
    const every = next.rotation?.every;
    if (every && since) {
        const age = now - Date.parse(since);
        if (age >= durationMs(every)) return `older than ${every}`;
    }
    return undefined;
}

/**
 * Why a key with a rotation policy must be replaced for its expiry: the key's actual expiry
 * (`expiresAt`, ISO 8601; null for never) has passed. Undefined without a policy or an expiry.
 */
export function expiryReason(rotation: RotationPolicy | null | undefined, expiresAt: string | null | undefined, now: number): string | undefined {
    if (!rotation || !expiresAt) return undefined;
    const at = Date.parse(expiresAt);
    return !Number.isNaN(at) && at <= now ? `expired on ${expiresAt}` : undefined;
}
