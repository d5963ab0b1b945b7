// The two slots of a key with `rotation.overlap` (planner.ts says when): rotation in place (the new
// key first, then the current key into the previous slot until retireAt, its vendor-side expiry set
// to it), and the previous slot's steps: retire, extend (held for consumers), arm.
import type { CoreInputs, CoreOutputs, PreviousSlot } from "./contract.ts";
import type { Core } from "./core.ts";
import { createKey } from "./create.ts";
import { isKind } from "./errors.ts";
import type { SlotStep } from "./planner.ts";
import { PartialCreate, type Result } from "./recovery.ts";
import { overlapMs } from "./rotation.ts";

/** The old key's outputs as they go into the slot: no slot of its own, and the attempt's bookkeeping left with the attempt. */
function asSlotState<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, olds: O): Record<string, unknown> {
    const old = { ...core.stateOf(olds), ...core.slot(null) } as unknown as Record<string, unknown>;
    delete old.nextRotation;
    // An absent field stays absent: the engine cannot carry undefined.
    if (olds.pending) Object.assign(old, { pending: null, note: null });
    return old;
}

/**
 * Rotation in place. `lostSince`: an earlier run's attempt lost its answer and could not look the
 * key up (the pending record keeps the current key and its slot); what that attempt made is taken
 * over, or the key is made now.
 */
export async function rotateInPlace<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, id: string, olds: O, news: I, now: number, lostSince?: number): Promise<{ outs: O }> {
    const old = asSlotState(core, olds);
    const retireAt = new Date(now + overlapMs(news.rotation)).toISOString();
    const oldId = olds.currentId ?? id;
    // With consumers, the old key's vendor-side expiry waits until they have the new one.
    const armed = !news.holdPrevious;
    const superseded = olds.previous;
    const expiry = core.v.expiry;
    const promote = async () => {
        // Only once the new key exists (and passed its probe): two slots, never three keys.
        if (superseded) await retire(core, c, news, superseded);
        // The old key dies at the end of its overlap even if no up runs, where the vendor can say so.
        // An old key already gone at the vendor (deleted out of band) needs no expiry.
        if (expiry?.expire && armed) {
            await expiry.expire(c, { state: core.stateOf(old), at: retireAt }).catch((err: unknown) => {
                if (!isKind(err, "notFound")) throw err;
            });
        }
    };
    const resume = lostSince === undefined ? undefined : { since: lostSince, except: [oldId, ...(superseded ? [superseded.id] : [])] };
    let fresh: Result<O>;
    try {
        fresh = await createKey(core, c, { ...news, predecessor: oldId }, { note: null, promote, resume });
    } catch (err) {
        if (!(err instanceof PartialCreate)) throw err;
        // The outcome is unknown: state keeps the current key and its slot (what the engine records
        // for this failed update), and notes the attempt; the next up finishes the rotation.
        const since = olds.pending?.since ?? (err.properties.pending as { since: string }).since;
        const message = `${err.message}; the current key ${oldId} stays current until then`;
        throw new PartialCreate(message, id, { ...(olds as unknown as Record<string, unknown>), pending: { since, replacing: oldId }, note: "rotation outcome unknown; the next up reconciles it" });
    }
    // predecessor as the engine gave it: the program's to say.
    return { outs: { ...fresh.outs, ...core.slot({ id: oldId, retireAt, state: old, armed }), predecessor: news.predecessor } as O };
}

/** Retires the previous slot's key: deletes it (a vendor whose delete only forgets the key forgets it). */
export async function retire<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, previous: PreviousSlot): Promise<void> {
    try {
        await core.v.backend.delete(c, { state: core.stateOf(previous.state) });
    } catch (err) {
        if (isKind(err, "notFound")) return;
        const e = core.fail("deleting", inputs, err);
        e.message = e.message.replace(/^deleting /, `retiring the previous key ${previous.id} of `);
        throw e;
    }
}

/** One previous-slot step; returns the slot it leaves (null: retired). */
export async function slotStep<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, news: I, previous: PreviousSlot, step: SlotStep, now: number): Promise<PreviousSlot | null> {
    if (step === "retire") {
        // Its overlap is over.
        await retire(core, c, news, previous);
        return null;
    }
    // extend: held (its consumers lack the current key), one more overlap, at the vendor too.
    // arm: its consumers have the current key now, so the old key may die at the vendor at retireAt.
    const next = step === "extend" ? { ...previous, retireAt: new Date(now + Math.max(overlapMs(news.rotation), 3_600_000)).toISOString(), armed: true } : { ...previous, armed: true };
    const expiry = core.v.expiry;
    if (expiry?.expire) {
        try {
            await expiry.expire(c, { state: core.stateOf(next.state), at: next.retireAt });
        } catch (err) {
            throw core.fail("updating", news, err);
        }
    }
    return next;
}
