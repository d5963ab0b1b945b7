// Rotation through `pulumi up`, shared by every vendor: a key is replaced (new key first, old key
// deleted after) when its policy says so, decided in `diff` from state alone, so a preview shows
// it without calling the vendor and without any input having changed.

export interface RotationPolicy {
    /** Replace the key once it is older than this: a whole number of hours, days or weeks (`12h`, `90d`, `2w`). */
    every?: string;
    /** Rotate now by raising this number; any change replaces the key. */
    generation?: number;
}

export const DURATION_PATTERN = /^[1-9][0-9]*[hdw]$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export function durationMs(text: string): number {
    if (!DURATION_PATTERN.test(text)) throw new Error(`"${text}" is not a duration like 12h, 90d or 2w`);
    return Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS];
}

/**
 * Why the key must rotate now, or undefined. `created` is the vendor's creation time from state;
 * the age test uses the new policy, so shortening `every` takes effect on the next run.
 */
export function rotationReason(
    old: { created?: string | null; rotation?: RotationPolicy | null },
    next: { rotation?: RotationPolicy | null },
    now: number,
): string | undefined {
    const before = old.rotation?.generation ?? 0;
    const after = next.rotation?.generation ?? 0;
    if (before !== after) return `rotation generation ${before} → ${after}`;
    const every = next.rotation?.every;
    if (every && old.created) {
        const age = now - Date.parse(old.created);
        if (age >= durationMs(every)) return `older than ${every}`;
    }
    return undefined;
}
