// The plan of one key, from state, the desired inputs and the time alone: no vendor call, no
// process memory. `diff` maps it to the engine's answer (toDiff); `update` executes it (provider.ts)
// by computing it again, because nothing may rely on `diff` and `update` sharing a process.
//
// TWO SLOTS. With `rotation.overlap`, a rotation is not a replacement but an in-place update of the
// same resource ("rotate"): the new key first, the old one kept in the previous slot until its
// `retireAt`. A later plan sees `retireAt` passed and retires it ("update" with slot "retire"). A key
// with consumers (holdPrevious) holds its previous key while they lack the current one: a due
// rotation waits ("deferred") and an overdue previous key gets one more overlap ("extend"); once they
// have it, its vendor-side expiry is set ("arm"). Without overlap, rotation is a replacement.
import type { CoreInputs, CoreOutputs } from "./contract.ts";
import { planDiff, type FieldChange, type FieldSpec, type KeyDiff } from "./diff.ts";
import { overlapMs, rotationReason, type KeyStanding } from "./rotation.ts";

/** What the planner reads of the vendor's model. */
export interface PlanModel<I extends CoreInputs> {
    fields: FieldSpec<I>;
    canonical(raw: Record<string, unknown>): I;
    standing(inputs: object): KeyStanding;
}

/** What the planner needs to know of the vendor's capabilities. */
export interface PlanCapabilities<I, O> {
    /** The vendor's names are unique (a successor needs its predecessor's name). */
    uniqueNames: boolean;
    /** The vendor's own reason to replace a key (an expiry close), from state. */
    renewal?(state: Partial<O>, inputs: I, now: number): string | undefined;
}

/** A step on the previous slot: delete its key (overlap over), keep it one more overlap (held), set its vendor-side expiry (consumers caught up). */
export type SlotStep = "retire" | "extend" | "arm";

export type Plan =
    /** Nothing to do. */
    | { kind: "none"; compare: KeyDiff }
    /** Fields change in place, and maybe a previous-slot step; `deferred`: the rotation due that waits for consumers. */
    | { kind: "update"; compare: KeyDiff; slot?: SlotStep; deferred?: string; dueShown: boolean }
    /** Rotation in place (overlap): a new key, the current one into the previous slot. */
    | { kind: "rotate"; reason: string; compare: KeyDiff; dueShown: boolean }
    /** A new key replaces this one (an immutable field, or a rotation without overlap). */
    | { kind: "replace"; compare: KeyDiff; deleteBeforeReplace: boolean; dueShown: boolean }
    /**
     * A create whose answer was lost (pending): the update takes over what it made or makes it.
     * `replacing`: it was an in-place rotation of that key, finished first in its old scope.
     * `replaceFirst`: fields that move the key; the engine then replaces the pending resource,
     * whose delete removes what the lost create made, in the old scope.
     */
    | { kind: "reconcile"; replacing: string | null; moved: string[]; replaceFirst: string[] };

export interface PlanState<O> {
    /** The resource id the engine holds. */
    id: string;
    olds: O;
}

/** The rotation due from state (the vendor's creation time), whatever the program showed. */
function dueOf<I extends CoreInputs, O extends I & CoreOutputs>(model: PlanModel<I>, before: I, olds: O, news: I, now: number, caps: PlanCapabilities<I, O>): string | undefined {
    return rotationReason(before, olds.created, news, now, model.standing(news)) ?? caps.renewal?.(olds, news, now);
}

export function plan<I extends CoreInputs, O extends I & CoreOutputs>(model: PlanModel<I>, state: PlanState<O>, news: I, now: number, caps: PlanCapabilities<I, O>): Plan {
    const { id, olds } = state;
    const before = model.canonical(olds as unknown as Record<string, unknown>);
    if (olds.pending) {
        const moved = planDiff(model.fields, before, news).replaces ?? [];
        const replacing = olds.pending.replacing ?? null;
        // A rotation's lost answer still holds the current key: a replacement's delete would take it
        // too, before its successor exists. The update finishes the rotation in the old scope first.
        const replaceFirst = replacing ? [] : moved.filter((f) => f !== "rotation");
        return { kind: "reconcile", replacing, moved, replaceFirst };
    }
    const due = dueOf(model, before, olds, news, now, caps);
    const compare = planDiff(model.fields, before, news, due);
    const dueShown = Boolean(news.rotationDue && news.rotationDue !== olds.rotationDue);
    const replaces = compare.replaces ?? [];
    const onlyRotation = Boolean(due) && replaces.every((f) => f === "rotation");
    const current = olds.currentId ?? id;
    // Where names are unique and the last run's record does not name the current key (a run that
    // rotated it and then failed elsewhere), a replacement's create could not tell the current key
    // from a stranger's and would have to delete it first: gone if the create is then refused.
    // State knows the current key, so the rotation is made in place instead, new key first, and the
    // old key waits in the previous slot (retireAt now, so the next up retires it).
    const stale = onlyRotation && caps.uniqueNames && news.predecessor !== current;
    const inPlace = onlyRotation && (overlapMs(news.rotation) > 0 || stale);
    const previous = olds.previous;
    const over = Boolean(previous) && Date.parse(previous!.retireAt) <= now;
    const held = Boolean(news.holdPrevious) && news.holdPrevious !== olds.currentId;
    // While consumers lack the current key, a due rotation waits: rotating now would retire the key
    // they still use (two slots, never three keys).
    if (inPlace && !held) return { kind: "rotate", reason: due!, compare, dueShown };
    const slot: SlotStep | undefined = over ? (held ? "extend" : "retire") : previous && previous.armed === false && !held ? "arm" : undefined;
    if (inPlace && held) {
        // Whatever else changed still applies (and the program's "rotation due" is not shown: nothing rotates now).
        const rest = planDiff(model.fields, before, news);
        const step = slot === "retire" ? undefined : slot;
        if ((rest.replaces?.length ?? 0) === 0) return rest.changes || step ? { kind: "update", compare: rest, slot: step, deferred: due, dueShown: false } : { kind: "none", compare: rest };
    }
    if (replaces.length === 0 && slot) return { kind: "update", compare, slot, dueShown };
    if (replaces.length === 0) return compare.changes ? { kind: "update", compare, dueShown: false } : { kind: "none", compare };
    // The program learns each key's predecessor from state (currentId), else from the last run's
    // outputs. When neither names the current key, create could not tell the old key from a
    // stranger's: delete it first. Only where it matters: names unique (the new key needs the old
    // one's name), or an entry with adopt (it would take over the very key being replaced).
    const ambiguous = caps.uniqueNames || (Boolean(news.adopt) && !news.predecessor);
    return { kind: "replace", compare, deleteBeforeReplace: ambiguous && news.predecessor !== current, dueShown: Boolean(compare.rotation) && dueShown };
}

/** The engine's answer for a plan: what changes, what replaces, and the fields the preview shows. */
export function toDiff<I>(p: Plan, fields: FieldSpec<I>): KeyDiff {
    // The program's reason (rotation due, previous key retiring) is what the plan shows for a step
    // that changes no field, when this run's reason is new. Bookkeeping inputs never show.
    const shown = (d: KeyDiff, dueShown: boolean, kind: FieldChange): KeyDiff => {
        const withDue = dueShown ? { ...d, detailedDiff: { ...d.detailedDiff, rotationDue: kind } } : d;
        return { ...withDue, detailedDiff: withDue.detailedDiff ?? {} };
    };
    switch (p.kind) {
        case "none":
            return shown(p.compare, false, "update");
        case "update":
            return shown({ ...p.compare, changes: true }, p.dueShown, "update");
        case "rotate":
            return shown({ ...p.compare, changes: true, replaces: [], stables: [...fields.immutable] }, p.dueShown, "update");
        case "replace": {
            const d = shown(p.compare, p.dueShown, "update-replace");
            return p.deleteBeforeReplace ? { ...d, deleteBeforeReplace: true } : d;
        }
        case "reconcile":
            // A lost create has no outputs to compare with: the engine keeps its own input comparison.
            if (p.replacing && p.moved.some((f) => f !== "rotation")) return { changes: true, replaces: [], stables: [...fields.immutable], detailedDiff: undefined };
            return { changes: true, replaces: p.replaceFirst, deleteBeforeReplace: p.moved.length > 0, detailedDiff: undefined };
    }
}
