// What every module of the key provider shares for one vendor: canonical inputs, outputs from a
// record, the error shape, redaction of what state holds, and the update that makes a record match
// its inputs. The modules (planner, recovery, adoption, create, slots, provider) take this context
// rather than closing over one another, so each mechanism is written once, in its own file.
import { clock } from "./clock.ts";
import type { CoreInputs, CoreOutputs, Interrupted, Operation, PreviousSlot, VendorKeys } from "./contract.ts";
import { changedFields } from "./diff.ts";
import { operationFailed } from "./errors.ts";
import { rememberSecret } from "./redact.ts";
import { nextRotationAt, type KeyStanding, type RotationPolicy } from "./rotation.ts";
import type { Settings } from "./settings.ts";

/** The previous-slot outputs, all three together. */
export type SlotOutputs = Pick<CoreOutputs, "previous" | "previousValue" | "previousRetireAt">;

export interface Core<I extends CoreInputs, O extends I & CoreOutputs, R, C> {
    readonly v: VendorKeys<I, O, R, C>;
    readonly settings: Settings;
    /** The error of a failed operation on `key`: the operation, the key, the vendor's answer, the vendor's fix. */
    fail(op: Operation, key: I, err: unknown): Error;
    /** Canonical inputs: the vendor's fields normalized, the core's with their defaults (old state has none). */
    canonical(raw: Record<string, unknown>): I;
    /** State as the core works with it: outputs over their canonical inputs. */
    stateOf(o: object): O;
    standingOf(inputs: object): KeyStanding;
    /** Remembers every secret a state holds before any vendor call (redact.ts). */
    rememberState(o: object | undefined): void;
    /** The key value of outputs, remembered for redaction. */
    valueOf(o: Record<string, unknown>): string | null;
    slot(previous: PreviousSlot | null | undefined): SlotOutputs;
    makeOutputs(inputs: I, r: R, prior?: Partial<O>, note?: string | null): O;
    /** The update that makes the record match the inputs' mutable fields, made when any differ. */
    converge(c: C, inputs: I, r: R, op: Operation): Promise<R>;
    /** A record found at the vendor, completed as create would have returned it (discovery.reveal). */
    reveal(c: C, r: R, inputs: I): Promise<R>;
    /** The vendor's keys with this key's name, or none where the vendor cannot be searched. */
    candidates(c: C, inputs: I): Promise<R[]>;
}

/** CoreInputs.interrupted as the program gave it, or null when absent or not of that shape. */
function interruptedOf(raw: unknown): Interrupted | null {
    if (!raw || typeof raw !== "object") return null;
    const { after, except } = raw as Record<string, unknown>;
    if (after !== null && (typeof after !== "string" || Number.isNaN(Date.parse(after)))) return null;
    return { after, except: Array.isArray(except) ? except.filter((e): e is string => typeof e === "string") : [] };
}

const text = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

export function makeCore<I extends CoreInputs, O extends I & CoreOutputs, R, C>(v: VendorKeys<I, O, R, C>, settings: Settings): Core<I, O, R, C> {
    const { model, backend } = v;
    const valueName = model.valueOutput ?? "apiKey";

    const canonical = (raw: Record<string, unknown>): I =>
        ({
            ...model.normalize(raw),
            vendor: String(raw.vendor ?? ""),
            name: String(raw.name ?? ""),
            rotation: (raw.rotation as RotationPolicy | null) ?? null,
            adopt: (raw.adopt as true | string | null) ?? null,
            predecessor: text(raw.predecessor),
            rotationDue: typeof raw.rotationDue === "string" ? raw.rotationDue : null,
            holdPrevious: text(raw.holdPrevious),
            interrupted: interruptedOf(raw.interrupted),
        }) as I;

    const valueOf = (o: Record<string, unknown>): string | null => {
        const value = o[valueName];
        // Every key value the core handles passes here: what this process prints must not hold it.
        rememberSecret(value);
        return typeof value === "string" && value ? value : null;
    };

    const slot = (previous: PreviousSlot | null | undefined): SlotOutputs =>
        previous ? { previous, previousValue: valueOf(previous.state), previousRetireAt: previous.retireAt } : { previous: null, previousValue: null, previousRetireAt: null };

    function makeOutputs(inputs: I, r: R, prior?: Partial<O>, note: string | null = null): O {
        const vendor = model.outputs(inputs, r);
        valueOf(vendor as Record<string, unknown>);
        // The vendor's creation time when it gives one; else what state knew; else now.
        const created = vendor.created && !Number.isNaN(Date.parse(vendor.created)) ? new Date(vendor.created).toISOString() : (prior?.created ?? new Date(clock.now()).toISOString());
        const next = nextRotationAt(inputs.rotation, created);
        return {
            ...inputs,
            ...vendor,
            currentId: model.resourceId(r),
            created,
            note: note ?? prior?.note ?? null,
            pending: null,
            // A previous slot belongs to the resource, not to one record: it carries over every write but a new key's.
            ...slot(prior?.previous),
            nextRotation: next === undefined ? null : new Date(next).toISOString(),
        } as unknown as O;
    }

    const core: Core<I, O, R, C> = {
        v,
        settings,
        fail: (op, key, err) => operationFailed(op, model.describe(key), err, model.fixes?.[op] ?? {}),
        canonical,
        stateOf: (o) => ({ ...o, ...canonical(o as Record<string, unknown>) }) as unknown as O,
        // Read the way the vendor's descriptor reads the report's outputs: the rotation decision and the schedule the report shows are one rule.
        standingOf: (inputs) => model.standing?.(inputs as Record<string, unknown>) ?? "active",
        rememberState(o) {
            if (!o) return;
            const raw = o as Record<string, unknown>;
            for (const name of new Set([valueName, ...(model.secretOutputs ?? []), "previousValue"])) rememberSecret(raw[name]);
            for (const s of [raw.previous, raw.pending]) if (s && typeof s === "object") rememberSecret(s);
        },
        valueOf,
        slot,
        makeOutputs,
        async converge(c, inputs, r, op) {
            const have = { ...inputs, ...model.outputs(inputs, r) } as I;
            const changes: Partial<I> = {};
            for (const f of changedFields(model.fields.mutable, have, inputs)) changes[f] = inputs[f];
            if (Object.keys(changes).length === 0) return r;
            try {
                return await backend.update(c, { state: makeOutputs(inputs, r), inputs, changes });
            } catch (err) {
                throw core.fail(op, inputs, err);
            }
        },
        reveal: (c, r, inputs) => (v.discovery?.reveal ? v.discovery.reveal(c, r, inputs) : Promise.resolve(r)),
        candidates: async (c, inputs) => (v.discovery ? v.discovery.find(c, { inputs }) : []),
    };
    return core;
}
