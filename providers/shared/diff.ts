// The one diff every key provider uses. Each vendor lists its input fields as data (which are
// immutable, which an update can change, which only keyfleet reads) and this derives `replaces`
// and `changes` from the lists, so no vendor hand-writes its own comparison.
import type * as pulumi from "@pulumi/pulumi";

export interface FieldSpec<I> {
    /** Inputs the vendor cannot change after creation; a change replaces the key. */
    immutable: readonly (keyof I & string)[];
    /** Inputs an update call changes in place. */
    mutable: readonly (keyof I & string)[];
    /** Inputs only keyfleet reads (the rotation policy); a change rewrites state, no vendor call. */
    local: readonly (keyof I & string)[];
    /** Flags the vendor cannot clear once set (a revoked key stays revoked); clearing one replaces the key. */
    oneWay?: readonly (keyof I & string)[];
}

export interface KeyDiff extends pulumi.dynamic.DiffResult {
    /** Why the key rotates, when it does. */
    rotation?: string;
}

export function same(a: unknown, b: unknown): boolean {
    return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function changedFields<I>(fields: readonly (keyof I & string)[], olds: I, news: I): (keyof I & string)[] {
    return fields.filter((f) => !same(olds[f], news[f]));
}

/** `rotation`: why the key must be replaced with no input change (age, generation, expiry), if it must. */
export function planDiff<I extends object>(spec: FieldSpec<I>, olds: I, news: I, rotation?: string): KeyDiff {
    const replaces: string[] = changedFields(spec.immutable, olds, news);
    for (const flag of spec.oneWay ?? []) {
        if (olds[flag] === true && news[flag] !== true) replaces.push(flag);
    }
    if (rotation && !replaces.includes("rotation")) replaces.push("rotation");
    const updated = [...changedFields(spec.mutable, olds, news), ...changedFields(spec.local, olds, news)];
    const changes = replaces.length > 0 || updated.length > 0;
    return {
        changes,
        replaces,
        stables: spec.immutable.filter((f) => !replaces.includes(f)),
        deleteBeforeReplace: false,
        rotation,
    };
}
