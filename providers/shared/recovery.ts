// Recovery of lost answers, written once. A create whose answer is lost may have made the key: it
// is looked up (discovery.find), never repeated blindly. What a lookup cannot settle is recorded
// as a pending create (PartialCreate), and the next up reconciles it (update), a refresh resolves it
// (read), a destroy deletes what it made (delete). A run killed mid-create is the same loss, seen
// from the next run: CoreInputs.interrupted names what may be taken over.
import { clock } from "./clock.ts";
import type { CoreInputs, CoreOutputs } from "./contract.ts";
import type { Core } from "./core.ts";
import { VendorError } from "./errors.ts";
import { fingerprint } from "./settings.ts";
import type * as pulumi from "@pulumi/pulumi";

/** Lost answers are matched to keys made at most this long before the attempt (clock skew). */
export const SKEW_MS = 2 * 60_000;

export type Result<O> = { id: string; outs: O };

/** A failed create that made something: the engine records `id` and `properties` and the next up updates it. */
export class PartialCreate extends Error {
    readonly id: string;
    readonly properties: Record<string, unknown>;
    /** The engine shows these, not the message, for a resource that failed to initialize. */
    readonly reasons: string[];
    constructor(message: string, id: string, properties: Record<string, unknown>) {
        super(message);
        this.id = id;
        this.properties = properties;
        this.reasons = [message];
    }
}

/** The vendor's clock offset from keyfleet's, as its answers' Date header said (vendors without a clock call of their own). */
function offsetOf<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C): number | undefined {
    const d = core.v.discovery;
    return d?.now ? undefined : d?.clockOffset?.(c);
}

/**
 * Keys that a create attempted at `since` may have made (the name's holders made since then).
 * `since` is on the vendor's clock where discovery has `now`, else on keyfleet's: it is then moved
 * to the vendor's clock by the offset its answers' Date header gave (a host 10 minutes fast
 * otherwise ignored the very key its lost create had made, and the name stayed taken).
 */
export async function madeSince<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, since: number, except: Set<string>, exact = false): Promise<R[]> {
    const { model, discovery } = core.v;
    const found = await core.candidates(c, inputs);
    const offset = offsetOf(core, c);
    since += offset ?? 0;
    // `exact`: `since` is a bound to keep, not an attempt's start (the end of the last completed
    // run: a key made just before it is someone's). Only the Date header's whole seconds are
    // allowed for then, where the vendor's clock is known; else the skew window as for any lookup.
    const slack = exact && (discovery?.now || offset !== undefined) ? 1_000 : SKEW_MS;
    return found.filter((r) => {
        // The key being replaced was not made by this create, even where it carries the same name.
        if (except.has(model.resourceId(r)) || model.resourceId(r) === inputs.predecessor) return false;
        if (discovery?.madeByUs && !discovery.madeByUs(c, r)) return false;
        // A key without a readable creation time is never taken for ours.
        const created = Date.parse(model.outputs(inputs, r).created ?? "");
        return !Number.isNaN(created) && created >= since - slack;
    });
}

/**
 * When a lost create's lookup found nothing and the name turned out taken: a key of keyfleet's
 * account holding the name, made before the lookup window, points at a clock that is off (the
 * vendor's, or this machine's, with no Date header to settle it). Said, never taken over: it may
 * as well be another stack's key.
 */
export async function skewed<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, since: number, except: Set<string>): Promise<string | undefined> {
    const { model, discovery } = core.v;
    const holder = (await madeSince(core, c, inputs, Number.NEGATIVE_INFINITY, except))[0];
    if (!holder) return undefined;
    const created = model.outputs(inputs, holder).created!;
    const offset = offsetOf(core, c);
    const known = Boolean(discovery?.now) || offset !== undefined;
    // On the vendor's clock where it is known (its own, or this machine's moved by its Date header).
    const at = since + (offset ?? 0);
    const minutes = Math.round((at - Date.parse(created)) / 60_000);
    const vendorClock = discovery?.now
        ? ""
        : offset === undefined
          ? "; the vendor's answers carry no Date header, so its clock could not be compared with this machine's"
          : `; the vendor's clock is ${Math.round(offset / 1000)} s ${offset >= 0 ? "ahead of" : "behind"} this machine's`;
    return (
        `the name is held by key ${model.resourceId(holder)}, made by keyfleet's account at ${created}, ${minutes} min before this create started (${new Date(at).toISOString()} on ${known ? "the vendor's clock" : "this machine's clock"}), ` +
        `outside the ${SKEW_MS / 60_000}-minute window in which a lost create's key is recognized${vendorClock}. ` +
        "If this machine's clock is off, correct it (NTP) and run up again; if that key is the one this create made, take it over with adopt: true"
    );
}

/** What a run killed mid-create may have made for a resource new to state: the key, or why none was taken. */
export interface InterruptedFind<R> {
    found?: R;
    passedOver?: string;
}

/**
 * What a run killed mid-create made for this resource new to state (CoreInputs.interrupted): the
 * one key of keyfleet's made since the last completed run and not recorded by it. Several, or one
 * that cannot be this entry's, are named (passedOver), never taken. A failed lookup throws.
 */
export async function interruptedKey<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, except: Set<string>): Promise<InterruptedFind<R>> {
    const { model, discovery } = core.v;
    const cut = inputs.interrupted;
    if (!cut || !discovery) return {};
    const after = cut.after === null ? Number.NEGATIVE_INFINITY : Date.parse(cut.after);
    // keyfleet's clock, as the program read it; a vendor with a clock of its own is asked.
    const vendorAhead = discovery.now ? (await discovery.now(c).catch(() => clock.now())) - clock.now() : 0;
    const found = await madeSince(core, c, inputs, after + vendorAhead, new Set([...except, ...cut.except]), true);
    const since = cut.after === null ? "" : ` since the last completed run (${cut.after})`;
    if (found.length > 1) {
        return {
            passedOver: `${found.length} keys made by keyfleet's account${since} carry this name (${found.map((r) => model.resourceId(r)).join(", ")}), so none was taken for the one an interrupted run made; keep one with adopt: "<id>" in the YAML and delete the others at the vendor`,
        };
    }
    const refusal = found[0] && discovery.adoptable?.(found[0], inputs);
    if (refusal) return { passedOver: `key ${model.resourceId(found[0])}, made by keyfleet's account${since}, may be what an interrupted run made, but it cannot be this entry's: ${refusal}` };
    return { found: found[0] };
}

/** The pending create a lost answer leaves in state when the key could not be looked up either. */
export function pendingCreate<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, inputs: I, started: number, err: VendorError): PartialCreate {
    const described = core.v.model.describe(inputs);
    const since = new Date(started).toISOString();
    const id = `pending_${fingerprint("", `${described}\0${since}`)}`;
    const message =
        `creating ${described} failed: ${err.message}; the outcome is unknown, and the key could not be looked up either. ` +
        "Nothing is lost: state records the attempt, and the next `pulumi up` finds the key and takes it over, or creates it if it was never made";
    return new PartialCreate(message, id, { ...(inputs as unknown as Record<string, unknown>), pending: { since }, note: "create outcome unknown; the next up reconciles it" });
}

const pendingSince = (pending: { since: string } | null | undefined) => Date.parse(pending?.since ?? "") || clock.now();

/** The next up after a lost answer: take over what the lost create made, or make it now (`create`). */
export async function reconcile<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, olds: O, create: () => Promise<Result<O>>): Promise<Result<O>> {
    const { model, backend } = core.v;
    let found: R[];
    try {
        found = await madeSince(core, c, inputs, pendingSince(olds.pending), new Set());
    } catch (err) {
        throw core.fail("creating", inputs, err);
    }
    if (found.length === 0) return create();
    let taken: R;
    try {
        taken = await core.reveal(c, found[0], inputs);
        // Where names are not unique, each attempt of the lost create may have committed a row with
        // the entry's marker (one answer lost, the next attempt's too): the first found is the key,
        // the rest would be keys nobody holds.
        for (const extra of found.slice(1)) await backend.delete(c, { state: core.makeOutputs(inputs, extra) });
    } catch (err) {
        throw core.fail("creating", inputs, err);
    }
    const key = await core.converge(c, inputs, taken, "creating");
    const also = found.length > 1 ? `; deleted ${found.length - 1} more it made (${found.slice(1).map((r) => model.resourceId(r)).join(", ")})` : "";
    return { id: model.resourceId(key), outs: core.makeOutputs(inputs, key, undefined, `took over the key of a create whose answer was lost${also}`) };
}

/** A refresh of a pending create: never made, it is dropped (the next up creates it); made once, it is this resource's key. */
export async function readPending<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, id: string, state: O, props: O): Promise<pulumi.dynamic.ReadResult<O>> {
    let found: R[];
    try {
        found = await madeSince(core, c, state, pendingSince(props.pending), new Set());
    } catch (err) {
        throw core.fail("reading", state, err);
    }
    if (found.length === 0) return {};
    // Made more than once: only an update may delete the others (see reconcile).
    if (found.length > 1) return { id, props };
    let taken: R;
    try {
        taken = await core.reveal(c, found[0], state);
    } catch (err) {
        throw core.fail("reading", state, err);
    }
    return { id: core.v.model.resourceId(taken), props: core.makeOutputs(state, taken, props, "took over the key of a create whose answer was lost") };
}

/** A destroy of a pending create: what it made, if anything, is deleted (never the key it was replacing, nor the previous slot's). */
export async function deletePending<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, state: O, props: O): Promise<void> {
    try {
        const except = new Set([props.pending?.replacing ?? "", props.previous?.id ?? ""]);
        const found = await madeSince(core, c, state, pendingSince(props.pending), except);
        for (const r of found) await core.v.backend.delete(c, { state: core.makeOutputs(state, r, props) });
    } catch (err) {
        throw core.fail("deleting", state, err);
    }
}
