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

/**
 * How one property differs, in the engine's terms (pulumirpc.PropertyDiff.Kind). `replace` kinds
 * make the step a replacement; the engine shows old outputs against new inputs for each.
 */
export type FieldChange = "add" | "delete" | "update" | "update-replace";

export interface KeyDiff extends pulumi.dynamic.DiffResult {
    /** Why the key rotates, when it does. */
    rotation?: string;
    /**
     * The fields that differ, for the plan: the vendor's and the YAML's fields, never the core's
     * bookkeeping. @pulumi/pulumi's dynamic-provider server drops this field; keyfleet's launcher
     * (toolchain/dynamic-provider.ts) sends it to the engine as the detailed diff. Without it the
     * engine compares old and new *inputs*, so drift (an output) is invisible and a bookkeeping input
     * (`predecessor`) shows as the change.
     */
    detailedDiff?: Record<string, FieldChange>;
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
    const detailedDiff: Record<string, FieldChange> = {};
    const absent = (v: unknown) => v === undefined || v === null;
    // A field only one side has shows as added or removed (`+ expires`), not as `null => value`.
    for (const f of updated) detailedDiff[f] = absent(olds[f]) ? "add" : absent(news[f]) ? "delete" : "update";
    for (const f of replaces) if (f !== "rotation") detailedDiff[f] = "update-replace";
    return {
        changes,
        replaces,
        stables: spec.immutable.filter((f) => !replaces.includes(f)),
        deleteBeforeReplace: false,
        rotation,
        detailedDiff,
    };
}

/**
 * Where the dynamic-provider plugin collects the fields of the Diff call in progress
 * (toolchain/dynamic-provider.ts puts an AsyncLocalStorage there). A global symbol, because the
 * plugin and the providers it loads from state are separate module graphs in one process.
 */
export const DETAILED_DIFF_SINK = Symbol.for("keyfleet.detailedDiff");

export interface DetailedDiffStore {
    detailedDiff?: Record<string, FieldChange>;
}

/** Hands a diff's field list to the plugin serving this call; with Pulumi's own plugin, a no-op. */
export function reportDetailedDiff(diff: pulumi.dynamic.DiffResult & Pick<KeyDiff, "detailedDiff">): void {
    const sink = (globalThis as Record<symbol, { getStore(): DetailedDiffStore | undefined } | undefined>)[DETAILED_DIFF_SINK];
    const store = sink?.getStore();
    if (store && diff.detailedDiff) store.detailedDiff = diff.detailedDiff;
}
