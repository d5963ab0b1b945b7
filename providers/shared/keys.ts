// The key provider every vendor shares. A vendor supplies a narrow lifecycle (KeyLifecycle: connect,
// create, read, update, delete, find; one request type per operation, "delete must not fail if it is
// already gone", "a field absent from `changes` means no change requested") and this turns it into
// a Pulumi dynamic provider that owns every mechanism: validation from the vendor's zod schema,
// diff from field lists, rotation (new key first; where names are unique the old key is renamed
// aside), one-time adoption, secret outputs and fingerprint ids, the error shape, and recovery of
// lost answers, so that no key is ever duplicated or orphaned.
//
// Nothing here relies on `diff` and `create` sharing process memory: `pulumi up --replace` and
// `--target-replace` create without a diff, and the engine checks a replacement's inputs afresh,
// without the old ones. What `create` must know comes in the inputs, from the program, which reads
// the stack's state and its own outputs of the last run (api/environment.ts): `predecessor` (the id of the key this
// resource had: a create is then a replacement, never an adoption, and only that key's name may
// be taken over) and `rotationDue` (why this run rotates the key: a property the preview shows).
//
// TWO SLOTS. With `rotation.overlap`, a rotation is not a replacement but an in-place update of the
// same resource: update makes the new key (renaming the old one aside where names are unique),
// probes it when `verify` is set, sets the old key's vendor-side expiry to the end of the overlap
// where the vendor has one (`expire`), and moves the old key into the `previous` slot with its
// `retireAt`. A later `diff` sees `retireAt` passed, from state alone, and an update deletes the old
// key (`previousValue` and `previousRetireAt` go back to null). Without overlap, rotation stays a
// Pulumi replacement. The resource id stays the first key's until a refresh (as after a lost create):
// `currentId` always names the current key.
import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { clock } from "./clock.ts";
import { changedFields, planDiff, type FieldSpec, type KeyDiff } from "./diff.ts";
import { isKind, operationFailed, VendorError, type Fixes } from "./errors.ts";
import { nextRotationAt, overlapMs, rotationReason, type KeyStanding, type RotationPolicy } from "./rotation.ts";
import { rememberSecret } from "./redact.ts";
import { fingerprint, Settings, type RawConfig } from "./settings.ts";

/** Inputs the core keeps on every key resource, beside the vendor's own. */
export interface CoreInputs {
    /** The vendor whose lifecycle serves this key: its YAML section name. */
    vendor: string;
    /** keyfleet's name for the key (the vendor's name where it has one). */
    name: string;
    /** When keyfleet replaces the key; see providers/shared/rotation.ts. */
    rotation: RotationPolicy | null;
    /** On creation, take over an existing key instead of making one: true for the key with this name, or its id or fingerprint. */
    adopt: true | string | null;
    /** The resource id of the key this resource had at the end of the last run, or null for a new resource. */
    predecessor: string | null;
    /** Why this run replaces the key with no other change ("rotation due: older than 90d"), or null; shown in the preview. */
    rotationDue: string | null;
    /**
     * For a key with consumers (delivery): the id of the key they last all received, as the last
     * successful run recorded it. While the current key is another one, the previous slot's key is
     * kept past its retireAt (not retired; retireAt and the vendor-side expiry move one overlap
     * further), so a failed delivery never leaves a consumer without a valid key. Null: no consumers.
     */
    holdPrevious?: string | null;
    /**
     * What a run killed mid-create may have made for this resource (a new key's create, a
     * rotation's, a replacement's). The engine forgets a create cut off before its answer (the
     * pending operation is dropped), so nothing in state says that key exists; the vendor has it,
     * holding the name (409/4008 at every later up) or, where names are not unique, as a second row
     * with the marker. A create finding its name taken, or (names not unique, a resource new to
     * state) a marker row, takes over exactly one key that keyfleet's own login made after the last
     * completed run and that the last run did not record (a key removed from state with `pulumi
     * state delete` is recorded there, and is left alone), never the key being replaced. Null: a
     * last-run record from before this input. Bookkeeping: never shown as a change.
     */
    interrupted?: Interrupted | null;
}

/** See CoreInputs.interrupted. */
export interface Interrupted {
    /** When the last completed run ended (ISO 8601, keyfleet's clock), or null: the stack never completed one. */
    after: string | null;
    /** Keys the last run recorded under this resource's names: never taken over. */
    except: string[];
}

/** The key a rotation with overlap kept valid: the old key's outputs, until `retireAt`. */
export interface PreviousSlot {
    /** Its resource id, as resourceId gave it. */
    id: string;
    /** When keyfleet retires it (ISO 8601); its vendor-side expiry too, where the vendor has one. */
    retireAt: string;
    /** Its outputs when it was current (without a slot of its own): what `delete` and `expire` need. */
    state: Record<string, unknown>;
    /**
     * Whether its vendor-side expiry is set to retireAt. Not while consumers lack the current key:
     * the old key must not die at the vendor before they have the new one. Absent (older state): set.
     */
    armed?: boolean;
}

/** What a probe of a key on the vendor's usage endpoint asked and got. */
export interface ProbeAnswer {
    /** The request, for messages: "GET https://vendor.example.com/api/whoami". Never a key value. */
    probe: string;
    /** Whether the answer means the vendor accepted the key. */
    accepted: boolean;
    /** The vendor's answer, for messages: "401 Unauthorized". */
    answer: string;
}

/** Outputs the core adds to the vendor's. */
export interface CoreOutputs {
    /**
     * The id of the current key, as resourceId gives it. The same as the resource id, except for a
     * key taken over after a lost answer: the engine keeps the id it recorded until a refresh.
     */
    currentId: string;
    /** When the vendor made the key (or keyfleet first saw it); rotation by age counts from here. */
    created: string;
    /** What keyfleet did that the YAML did not spell out (adopt found nothing, an adopted key was rotated), or null. */
    note: string | null;
    /**
     * A create whose answer was lost and could not be looked up yet; the next up reconciles it.
     * `replacing`: the create was an in-place rotation (overlap) of the current key with this id,
     * which the record keeps as current (with its previous slot) until the reconcile moves it into
     * the previous slot; without it a rotation's lost answer forgot the old key, never retired.
     */
    pending?: { since: string; replacing?: string } | null;
    /** The key a rotation with overlap kept valid until its retireAt, or null. Secret (it holds the old key). */
    previous?: PreviousSlot | null;
    /** The previous slot's key value, or null. Secret. */
    previousValue?: string | null;
    /** When the previous slot's key is retired (ISO 8601), or null. */
    previousRetireAt?: string | null;
    /** When the key is next due for rotation by age (ISO 8601), or null (no `every`, or paused). */
    nextRotation?: string | null;
}

const CORE_INPUTS = ["vendor", "name", "rotation", "adopt", "predecessor", "rotationDue", "holdPrevious", "interrupted"] as const;

export type Operation = "creating" | "adopting" | "reading" | "updating" | "deleting";

export interface KeyLifecycle<I extends CoreInputs, O extends I & CoreOutputs, R, C> {
    /** The vendor's name in messages. */
    title: string;
    fields: FieldSpec<I>;
    /** The vendor's fields of one key (the same field schemas its YAML section uses); `check` validates with it. */
    schema: z.ZodType;
    /** Inputs with every vendor field present in one canonical form; a field missing from old state takes its default. */
    normalize(news: Record<string, unknown>): Omit<I, keyof CoreInputs>;
    /** The key in messages (kind, name and scope, e.g. `… key "ci" for tenant 578e…`): never a key value. */
    describe(key: I): string;
    connect(settings: Settings, key: I): C;
    /** Makes the key with the fields the vendor takes on creation; the core applies the rest as an update. */
    create(c: C, req: { inputs: I }): Promise<R>;
    /** The key as the vendor has it now, or undefined when it is gone. */
    read(c: C, req: { state: O }): Promise<R | undefined>;
    /** Applies `changes` (only the mutable fields that differ) to the key. */
    update(c: C, req: { state: O; inputs: I; changes: Partial<I> }): Promise<R>;
    /** Deletes the key; succeeds when it is already gone. */
    delete(c: C, req: { state: O }): Promise<void>;
    /** The vendor's keys in this key's scope that carry its name; adoption and recovery of lost answers use it. */
    find?(c: C, req: { inputs: I }): Promise<R[]>;
    /** The key with this id or fingerprint, for `adopt: "<id>"`, when `find` by name would not list it. */
    findById?(c: C, id: string): Promise<R | undefined>;
    /** Whether `adopt: "<text>"` names this record (an id or a fingerprint). */
    adopts?(r: R, adopt: string): boolean;
    /** Whether the record was made by the account keyfleet acts as (so a lost create may have made it). */
    madeByUs?(c: C, r: R): boolean;
    /**
     * A record the core takes over without having created it in this call (adopted, or made by a
     * create whose answer was lost), completed as `create` would have returned it: e.g. with a key
     * value the vendor reveals only through a separate call. Absent: the record is used as found.
     */
    takeOver?(c: C, r: R, inputs: I): Promise<R>;
    /** Why this record cannot be adopted for `inputs` (an immutable field differs), or undefined. */
    adoptable?(r: R, inputs: I): string | undefined;
    /** The vendor's outputs from its record: key value(s), read-only fields, and the mutable fields as the vendor has them. */
    outputs(inputs: I, r: R): Omit<O, keyof I | keyof CoreOutputs> & Partial<I> & { created?: string };
    /** The resource id: a fingerprint when the vendor's id is the key itself. */
    resourceId(r: R): string;
    /** Where names are unique: renames a key so that its successor can take the name. */
    rename?(c: C, r: R | O, name: string): Promise<void>;
    /** The vendor's longest name, for the aside name of a renamed key. */
    nameMax?: number;
    /** Why the key must be replaced with no input change besides rotation (an expiry close), from state; or undefined. */
    renewal?(state: Partial<O>, inputs: I, now: number): string | undefined;
    /** Hints per operation and error kind. */
    fixes?: Partial<Record<Operation, Fixes>>;
    /** Said when a create's answer is lost and the vendor has no way to look the key up. */
    lostCreate?: string;
    /**
     * The vendor's clock (ms since the epoch), where the creation times `outputs` gives come from
     * the vendor's clock rather than keyfleet's: a lost create is then matched against it. Absent,
     * or failing: keyfleet's clock.
     */
    now?(c: C): Promise<number>;
    /**
     * How far the vendor's clock (the one `outputs`' creation times come from) is ahead of
     * keyfleet's, in ms, as the vendor's latest answer said (its HTTP Date header); undefined when
     * no answer said. Read right after a lookup, so that a lost create is matched on the vendor's
     * clock even when the create was the first request. For vendors without `now`.
     */
    clockOffset?(c: C): number | undefined;
    /** The output holding the key value, for `previousValue` (default `apiKey`). */
    valueOutput?: string;
    /**
     * The key's standing from its inputs or outputs (the descriptor's keyOutputs.standing, the one
     * rule the report reads too); absent: always active. A disabled or revoked key is never rotated by age.
     */
    standing?(o: Record<string, unknown>): KeyStanding;
    /**
     * The outputs that hold secrets (the resource's secret outputs). The engine hands state to the
     * provider unmarked, so the core remembers these from every state it is given, for redaction of
     * what the provider process prints; the value output is always one of them.
     */
    secretOutputs?: readonly string[];
    /**
     * Sets the key's vendor-side expiry to `at` (ISO 8601), so that a key kept for an overlap stops
     * working at its end even if no up runs. Absent: the vendor has no expiry that can be set later.
     */
    expire?(c: C, req: { state: O; at: string }): Promise<void>;
    /**
     * Uses the key once on the vendor's usage endpoint, with no side effect (nothing created, no
     * session started), for `rotation.verify`. Absent: the key cannot be verified.
     */
    probe?(c: C, req: { state: O }): Promise<ProbeAnswer>;
}

/** A failed create that made something: the engine records `id` and `properties` and the next up updates it. */
class PartialCreate extends Error {
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

/** CoreInputs.interrupted as the program gave it, or null when absent or not of that shape. */
function interruptedOf(raw: unknown): Interrupted | null {
    if (!raw || typeof raw !== "object") return null;
    const { after, except } = raw as Record<string, unknown>;
    if (after !== null && (typeof after !== "string" || Number.isNaN(Date.parse(after)))) return null;
    return { after, except: Array.isArray(except) ? except.filter((e): e is string => typeof e === "string") : [] };
}

/** Lost answers are matched to keys made at most this long before the attempt (clock skew). */
const SKEW_MS = 2 * 60_000;

type Result<O> = { id: string; outs: O };

export function keyProvider<I extends CoreInputs, O extends I & CoreOutputs, R, C>(
    lc: KeyLifecycle<I, O, R, C>,
): pulumi.dynamic.ResourceProvider<I, O> & { configure(req: { config: RawConfig }): Promise<void>; readonly lifecycle: KeyLifecycle<I, O, R, C> } {
    const settings = new Settings();
    const fixes = (op: Operation) => lc.fixes?.[op] ?? {};
    const fail = (op: Operation, key: I, err: unknown) => operationFailed(op, lc.describe(key), err, fixes(op));

    /** Canonical inputs: the vendor's fields normalized, the core's with their defaults (old state has none). */
    function canonical(raw: Record<string, unknown>): I {
        return {
            ...lc.normalize(raw),
            vendor: String(raw.vendor ?? ""),
            name: String(raw.name ?? ""),
            rotation: (raw.rotation as RotationPolicy | null) ?? null,
            adopt: (raw.adopt as true | string | null) ?? null,
            predecessor: typeof raw.predecessor === "string" && raw.predecessor ? raw.predecessor : null,
            rotationDue: typeof raw.rotationDue === "string" ? raw.rotationDue : null,
            holdPrevious: typeof raw.holdPrevious === "string" && raw.holdPrevious ? raw.holdPrevious : null,
            interrupted: interruptedOf(raw.interrupted),
        } as I;
    }

    /**
     * The key's standing as these inputs leave it, read the way its vendor's descriptor reads the
     * report's outputs: the rotation decision and the schedule the report shows are one rule.
     */
    const standingOf = (inputs: object): KeyStanding => {
        const raw = inputs as Record<string, unknown>;
        return lc.standing?.(raw) ?? "active";
    };

    /**
     * Every secret a state the engine handed over holds (its value output, the vendor's secret
     * outputs, the previous slot's and a pending create's): remembered before any vendor call, so a
     * line the provider prints while deleting or reading the key cannot show it (redact.ts).
     */
    const rememberState = (o: object | undefined) => {
        if (!o) return;
        const raw = o as Record<string, unknown>;
        for (const name of new Set([lc.valueOutput ?? "apiKey", ...(lc.secretOutputs ?? []), "previousValue"])) rememberSecret(raw[name]);
        for (const slot of [raw.previous, raw.pending]) if (slot && typeof slot === "object") rememberSecret(slot);
    };

    const valueOf = (o: Record<string, unknown>): string | null => {
        const v = o[lc.valueOutput ?? "apiKey"];
        // Every key value the core handles passes here: what this process prints must not hold it.
        rememberSecret(v);
        return typeof v === "string" && v ? v : null;
    };

    /** The slot outputs for `previous` (null: no previous key). */
    function slot(previous: PreviousSlot | null | undefined): Pick<CoreOutputs, "previous" | "previousValue" | "previousRetireAt"> {
        if (!previous) return { previous: null, previousValue: null, previousRetireAt: null };
        return { previous, previousValue: valueOf(previous.state), previousRetireAt: previous.retireAt };
    }

    function makeOutputs(inputs: I, r: R, prior?: Partial<O>, note: string | null = null): O {
        const vendor = lc.outputs(inputs, r);
        valueOf(vendor as Record<string, unknown>);
        // The vendor's creation time when it gives one; else what state knew; else now.
        const created = vendor.created && !Number.isNaN(Date.parse(vendor.created)) ? new Date(vendor.created).toISOString() : (prior?.created ?? new Date(clock.now()).toISOString());
        const next = nextRotationAt(inputs.rotation, created);
        return {
            ...inputs,
            ...vendor,
            currentId: lc.resourceId(r),
            created,
            note: note ?? prior?.note ?? null,
            pending: null,
            // A previous slot belongs to the resource, not to one record: it carries over every write but a new key's.
            ...slot(prior?.previous),
            nextRotation: next === undefined ? null : new Date(next).toISOString(),
        } as unknown as O;
    }

    /** The mutable fields where the record differs from the desired inputs: the update that makes them match. */
    function changesFor(inputs: I, r: R): Partial<I> {
        const have = { ...inputs, ...lc.outputs(inputs, r) } as I;
        const changes: Partial<I> = {};
        for (const f of changedFields(lc.fields.mutable, have, inputs)) changes[f] = inputs[f];
        return changes;
    }

    async function converge(c: C, inputs: I, r: R, op: Operation): Promise<R> {
        const changes = changesFor(inputs, r);
        if (Object.keys(changes).length === 0) return r;
        const state = makeOutputs(inputs, r);
        try {
            return await lc.update(c, { state, inputs, changes });
        } catch (err) {
            throw fail(op, inputs, err);
        }
    }

    function takeOver(c: C, r: R, inputs: I): Promise<R> {
        return lc.takeOver ? lc.takeOver(c, r, inputs) : Promise.resolve(r);
    }

    async function candidates(c: C, inputs: I): Promise<R[]> {
        return lc.find ? lc.find(c, { inputs }) : [];
    }

    /**
     * Keys that a create attempted at `since` may have made (the name's holders made since then).
     * `since` is on the vendor's clock where the lifecycle has `now`, else on keyfleet's: it is then
     * moved to the vendor's clock by the offset its answers' Date header gave (a host 10 minutes
     * fast otherwise ignored the very key its lost create had made, and the name stayed taken).
     */
    async function madeSince(c: C, inputs: I, since: number, except: Set<string>, exact = false): Promise<R[]> {
        const found = await candidates(c, inputs);
        const offset = lc.now ? undefined : lc.clockOffset?.(c);
        since += offset ?? 0;
        // `exact`: `since` is a bound to keep, not an attempt's start (the end of the last completed
        // run: a key made just before it is someone's). Only the Date header's whole seconds are
        // allowed for then, where the vendor's clock is known; else the skew window as for any lookup.
        const slack = exact && (lc.now || offset !== undefined) ? 1_000 : SKEW_MS;
        return found.filter((r) => {
            // The key being replaced was not made by this create, even where it carries the same name.
            if (except.has(lc.resourceId(r)) || lc.resourceId(r) === inputs.predecessor) return false;
            if (lc.madeByUs && !lc.madeByUs(c, r)) return false;
            // A key without a readable creation time is never taken for ours.
            const created = Date.parse(lc.outputs(inputs, r).created ?? "");
            return !Number.isNaN(created) && created >= since - slack;
        });
    }

    /**
     * When a lost create's lookup found nothing and the name turned out taken: a key of keyfleet's
     * account holding the name, made before the lookup window, points at a clock that is off (the
     * vendor's, or this machine's, with no Date header to settle it). Said, never taken over: it may
     * as well be another stack's key.
     */
    async function skewed(c: C, inputs: I, since: number, except: Set<string>): Promise<string | undefined> {
        const holder = (await madeSince(c, inputs, Number.NEGATIVE_INFINITY, except))[0];
        if (!holder) return undefined;
        const created = lc.outputs(inputs, holder).created!;
        const offset = lc.now ? undefined : lc.clockOffset?.(c);
        // On the vendor's clock where it is known (its own, or this machine's moved by its Date header).
        const at = since + (offset ?? 0);
        const clockWas = lc.now || offset !== undefined ? "the vendor's clock" : "this machine's clock";
        const minutes = Math.round((at - Date.parse(created)) / 60_000);
        const vendorClock = lc.now
            ? ""
            : offset === undefined
              ? "; the vendor's answers carry no Date header, so its clock could not be compared with this machine's"
              : `; the vendor's clock is ${Math.round(offset / 1000)} s ${offset >= 0 ? "ahead of" : "behind"} this machine's`;
        return (
            `the name is held by key ${lc.resourceId(holder)}, made by keyfleet's account at ${created}, ${minutes} min before this create started (${new Date(at).toISOString()} on ${clockWas}), ` +
            `outside the ${SKEW_MS / 60_000}-minute window in which a lost create's key is recognized${vendorClock}. ` +
            "If this machine's clock is off, correct it (NTP) and run up again; if that key is the one this create made, take it over with adopt: true"
        );
    }

    /**
     * Creates a key. When names are unique and the resource is being replaced, a name held by the
     * old key is freed by renaming that key aside (it stays valid until the engine deletes it); if
     * anything fails, what was made is deleted and the name given back. A lost answer is resolved
     * by looking the key up, never by repeating the create blindly.
     */
    async function createNew(c: C, inputs: I, note: string | null, promote?: (outs: O) => Promise<void>, resume?: { since: number; except: string[] }): Promise<Result<O>> {
        const except = new Set<string>(resume?.except ?? []);
        let aside: R | undefined;
        let made: R | undefined;
        const undo = async (): Promise<string[]> => {
            const left: string[] = [];
            if (made) {
                const id = lc.resourceId(made);
                await lc.delete(c, { state: makeOutputs(inputs, made) }).catch((e: Error) => left.push(`the new key ${id} is still at the vendor (${e.message}); delete it there`));
            }
            if (aside && lc.rename) {
                const id = lc.resourceId(aside);
                await lc.rename(c, aside, inputs.name).catch((e: Error) => left.push(`the old key ${id} kept its aside name (${e.message}); run up again`));
            }
            return left;
        };
        /** Why a lost create's key may have been missed (a clock off), when that is the likely cause. */
        let skew: string | undefined;
        /** Why a key that a killed run may have made was not taken over, when one was seen. */
        let passedOver: string | undefined;
        const abandon = async (err: unknown): Promise<never> => {
            const left = await undo();
            const error = fail("creating", inputs, err);
            if (skew) error.message += `; ${skew}`;
            if (passedOver) error.message += `; ${passedOver}`;
            if (left.length > 0) error.message += `; also, ${left.join("; ")}`;
            throw error;
        };

        /**
         * Takes over a key keyfleet made but never heard of (an answer lost, late, or cut off by a
         * killed run), completed as create would have returned it: the one way such a key becomes
         * this resource's. False when there is none.
         */
        const recover = async (found: R | undefined, why?: string): Promise<boolean> => {
            if (!found) return false;
            try {
                made = await takeOver(c, found, inputs);
            } catch (e) {
                made = found;
                return abandon(e);
            }
            if (why) note ??= why;
            return true;
        };
        /**
         * What a run killed mid-create made for this resource new to state (CoreInputs.interrupted):
         * the one key of keyfleet's made since the last completed run and not recorded by it. Several,
         * or one that cannot be this entry's, are named for the error, never taken.
         */
        const interruptedKey = async (): Promise<R | undefined> => {
            const cut = inputs.interrupted;
            if (!cut || !lc.find) return undefined;
            const after = cut.after === null ? Number.NEGATIVE_INFINITY : Date.parse(cut.after);
            let found: R[];
            try {
                // keyfleet's clock, as the program read it; a vendor with a clock of its own is asked.
                const vendorAhead = lc.now ? (await lc.now(c).catch(() => clock.now())) - clock.now() : 0;
                found = await madeSince(c, inputs, after + vendorAhead, new Set([...except, ...cut.except]), true);
            } catch (e) {
                return abandon(e);
            }
            const since = cut.after === null ? "" : ` since the last completed run (${cut.after})`;
            if (found.length > 1) {
                passedOver = `${found.length} keys made by keyfleet's account${since} carry this name (${found.map((r) => lc.resourceId(r)).join(", ")}), so none was taken for the one an interrupted run made; keep one with adopt: "<id>" in the YAML and delete the others at the vendor`;
                return undefined;
            }
            const refusal = found[0] && lc.adoptable?.(found[0], inputs);
            if (refusal) {
                passedOver = `key ${lc.resourceId(found[0])}, made by keyfleet's account${since}, may be what an interrupted run made, but it cannot be this entry's: ${refusal}`;
                return undefined;
            }
            return found[0];
        };
        const INTERRUPTED = "took over the key that a create cut off by an interrupted run had made";

        /** When an earlier attempt of this create lost its answer: it may commit late. */
        let lostAt: number | undefined;
        if (resume) {
            // An earlier run's attempt lost its answer and could not look: what it made is this create's key.
            let found: R[];
            try {
                found = await madeSince(c, inputs, resume.since, except);
            } catch (err) {
                throw fail("creating", inputs, err);
            }
            if (!(await recover(found[0]))) lostAt = resume.since;
        }
        // Where names are not unique the vendor would take a second key with the same marker, so a
        // create looks first (one query) for the key a killed run made.
        if (!made && inputs.interrupted && !lc.rename && !(await recover(await interruptedKey(), INTERRUPTED)) && passedOver) {
            // Another insert would only add to the keys nobody knows: the operator picks.
            return abandon(new VendorError("conflict", "the entry's marker is already on keys keyfleet did not record", { hint: "" }));
        }
        /** Whether a refused name was looked up for a killed run's key (once). */
        let lookedForInterrupted = false;
        for (let attempt = 1; !made; attempt++) {
            const started = lc.now ? await lc.now(c).catch(() => clock.now()) : clock.now();
            try {
                made = await lc.create(c, { inputs });
            } catch (caught) {
                // A success keyfleet cannot read (a proxy's HTML page, JSON cut short, another shape)
                // may have made the key: its outcome is unknown, and the key is looked up as after a
                // lost answer. Refused as invalid, it stayed at the vendor holding the name (409/4008
                // at every later up). When the lookup finds nothing, the vendor's own answer is told.
                const unreadable = isKind(caught, "invalidAnswer") && !caught.notProcessed ? caught : undefined;
                const err = unreadable
                    ? new VendorError("outcomeUnknown", `the answer to the create could not be read (${unreadable.vendorMessage}), so the key may have been made`, { code: unreadable.code })
                    : caught;
                if (isKind(err, "conflict") && lostAt !== undefined) {
                    // The lost attempt committed after all (late): take over what it made.
                    let late: R | undefined;
                    try {
                        late = (await madeSince(c, inputs, lostAt, except))[0];
                        if (!late) skew = await skewed(c, inputs, lostAt, except);
                    } catch (e) {
                        return abandon(e);
                    }
                    if (await recover(late)) break;
                }
                if (isKind(err, "conflict") && lc.rename && inputs.predecessor && !aside && attempt <= 2) {
                    // The name is held; only the very key this one replaces may be moved aside.
                    let holder: R | undefined;
                    try {
                        holder = (await candidates(c, inputs)).find((r) => lc.resourceId(r) === inputs.predecessor);
                        if (holder) {
                            const stamp = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
                            await lc.rename(c, holder, asideName(inputs.name, stamp, lc.resourceId(holder), lc.nameMax));
                            aside = holder;
                            except.add(lc.resourceId(holder));
                        }
                    } catch (e) {
                        return abandon(e);
                    }
                    if (holder) continue;
                }
                if (isKind(err, "conflict") && inputs.interrupted && lc.rename && !lookedForInterrupted) {
                    // The name is held, not by the key this one replaces: by the key a killed run made for this
                    // resource, maybe. (After that rename: a rotation's own lookups stay as they were.)
                    lookedForInterrupted = true;
                    if (await recover(await interruptedKey(), INTERRUPTED)) break;
                }
                if (isKind(err, "outcomeUnknown")) {
                    if (!lc.find) {
                        const e = new VendorError("outcomeUnknown", err.vendorMessage, { hint: lc.lostCreate });
                        return abandon(e);
                    }
                    let found: R[];
                    try {
                        found = await madeSince(c, inputs, started, except);
                    } catch {
                        // The vendor cannot be asked now: record what was attempted, so the next up looks again.
                        // The old key keeps its aside name and stays valid: the lost key may hold the name now.
                        throw pending(inputs, started, err);
                    }
                    if (await recover(found[0])) break;
                    lostAt ??= started;
                    if (attempt < 3) continue; // not made as far as the vendor can tell; a late commit is caught above
                }
                return abandon(unreadable ?? err);
            }
        }

        try {
            // Set by the loop or by recover (a closure, which the compiler does not follow).
            const key = await converge(c, inputs, made!, "creating");
            const outs = makeOutputs(inputs, key, undefined, note);
            // Nothing is promoted unproven: a failed probe (or whatever promote does) undoes the create.
            await verify(c, inputs, outs);
            if (promote) await promote(outs);
            return { id: lc.resourceId(key), outs };
        } catch (err) {
            return abandon(err);
        }
    }

    /**
     * Rotation in place (overlap): the new key first, then the current key moves to the previous
     * slot until retireAt, its vendor-side expiry set to it. `lostSince`: an earlier run's attempt
     * lost its answer and could not look the key up (the pending record keeps the current key and
     * its slot); what that attempt made is taken over, or the key is made now.
     */
    async function rotateInPlace(c: C, id: string, olds: O, news: I, now: number, lostSince?: number): Promise<{ outs: O }> {
        const state = { ...olds, ...canonical(olds as unknown as Record<string, unknown>) } as O;
        const old = { ...state, ...slot(null) } as unknown as Record<string, unknown>;
        delete old.nextRotation;
        // The attempt's bookkeeping stays with the attempt (and an absent field stays absent: the engine cannot carry undefined).
        if (olds.pending) Object.assign(old, { pending: null, note: null });
        const retireAt = new Date(now + overlapMs(news.rotation)).toISOString();
        const oldId = state.currentId ?? id;
        // With consumers, the old key's vendor-side expiry waits until they have the new one.
        const armed = !news.holdPrevious;
        const superseded = olds.previous;
        const promote = async () => {
            // Only once the new key exists (and passed its probe): two slots, never three keys.
            if (superseded) await retire(c, news, superseded);
            // The old key dies at the end of its overlap even if no up runs, where the vendor can say so.
            // An old key already gone at the vendor (deleted out of band) needs no expiry.
            if (lc.expire && armed) await lc.expire(c, { state: { ...old, ...canonical(old) } as unknown as O, at: retireAt }).catch((err: unknown) => {
                if (!isKind(err, "notFound")) throw err;
            });
        };
        const resume = lostSince === undefined ? undefined : { since: lostSince, except: [oldId, ...(superseded ? [superseded.id] : [])] };
        let fresh: Result<O>;
        try {
            fresh = await createNew(c, { ...news, predecessor: oldId }, null, promote, resume);
        } catch (err) {
            if (!(err instanceof PartialCreate)) throw err;
            // The outcome is unknown: state keeps the current key and its slot (what the engine records
            // for this failed update), and notes the attempt; the next up finishes the rotation.
            const since = olds.pending?.since ?? (err.properties.pending as { since: string }).since;
            const message = `${err.message}; the current key ${oldId} stays current until then`;
            throw new PartialCreate(message, id, { ...(olds as unknown as Record<string, unknown>), pending: { since, replacing: oldId }, note: "rotation outcome unknown; the next up reconciles it" });
        }
        // predecessor as the engine gave it: the program's to say.
        return { outs: { ...fresh.outs, ...slot({ id: oldId, retireAt, state: old, armed }), predecessor: news.predecessor } as O };
    }

    /** With rotation.verify: probes the new key on the vendor's usage endpoint; throws when the vendor does not accept it. */
    async function verify(c: C, inputs: I, outs: O): Promise<void> {
        if (!inputs.rotation?.verify) return;
        if (!lc.probe) throw new Error(`${lc.title} keys cannot be verified (the vendor has no usage endpoint without side effects); set rotation.verify: false for this key`);
        let answer: ProbeAnswer;
        try {
            answer = await lc.probe(c, { state: outs });
        } catch (err) {
            throw new Error(`verifying the new key failed: the probe got no usable answer (${(err as Error).message}); the new key was not promoted`);
        }
        if (!answer.accepted) {
            const current = inputs.predecessor ? ` and the current key ${inputs.predecessor} was kept` : "";
            throw new Error(
                `verifying the new key failed: ${answer.probe} answered ${JSON.stringify(answer.answer)}, not what the key's probe expects; the new key was deleted${current}. ` +
                    "Check the probe settings (probeUrl, probeExpect) and the key's rights at the vendor",
            );
        }
    }

    /** Retires the previous slot's key: deletes it (a vendor whose delete only forgets the key forgets it). */
    async function retire(c: C, inputs: I, previous: PreviousSlot): Promise<void> {
        const state = { ...previous.state, ...canonical(previous.state) } as unknown as O;
        try {
            await lc.delete(c, { state });
        } catch (err) {
            if (isKind(err, "notFound")) return;
            const e = fail("deleting", inputs, err);
            e.message = e.message.replace(/^deleting /, `retiring the previous key ${previous.id} of `);
            throw e;
        }
    }

    /** The plan of one key: replace, update in place or nothing, and which fields differ. */
    function decide(id: string, olds: O, news: I): KeyDiff {
        const before = canonical(olds as unknown as Record<string, unknown>);
        if (olds.pending) {
            // A lost create: the next update reconciles it, unless the key must move (then the
            // delete of the pending resource removes what the lost create made, in the old scope).
            const moved = planDiff(lc.fields, before, news).replaces ?? [];
            // A rotation's lost answer still holds the current key: that delete would take it too,
            // before its successor exists, and a refused create then left none. The update finishes
            // the rotation in the old scope first (update below); the next run replaces the key.
            if (olds.pending.replacing && moved.some((f) => f !== "rotation")) return { changes: true, replaces: [], stables: [...lc.fields.immutable] };
            return { changes: true, replaces: moved.filter((f) => f !== "rotation"), deleteBeforeReplace: moved.length > 0 };
        }
        const now = clock.now();
        // Decided from state (the vendor's creation time), whatever the program showed.
        const due = rotationReason(before, olds.created, news, now, standingOf(news)) ?? lc.renewal?.(olds, news, now);
        const plan = planDiff(lc.fields, before, news, due);
        const slots = twoSlotPlan(id, olds, news, now);
        // The program's reason (rotation due, previous key retiring) is what the plan shows for a
        // step that changes no field, when this run's reason is new.
        const why = (d: KeyDiff, kind: "update" | "update-replace"): KeyDiff =>
            news.rotationDue && news.rotationDue !== olds.rotationDue ? { ...d, detailedDiff: { ...d.detailedDiff, rotationDue: kind } } : d;
        // With overlap, a rotation with nothing else to replace is an update that keeps the old key.
        if (slots.rotate) return why({ ...plan, changes: true, replaces: [], stables: [...lc.fields.immutable] }, "update");
        if (slots.deferred) {
            // The rotation waits for the consumers; whatever else changed still applies (and the
            // program's "rotation due" is not shown: nothing rotates in this step).
            const rest = planDiff(lc.fields, before, news);
            if ((rest.replaces?.length ?? 0) === 0) return { ...rest, changes: Boolean(rest.changes) || slots.extend || slots.arm };
        }
        if ((plan.replaces?.length ?? 0) === 0 && (slots.retire || slots.extend || slots.arm)) return why({ ...plan, changes: true }, "update");
        // The program learns each key's predecessor from state (the resource's currentId), else from
        // the last successful run's outputs. When neither names the current key (state from before
        // currentId, with no record or an older one), create could not tell the old key from a
        // stranger's: delete it first.
        // Only where it matters: a vendor whose names are unique (the new key needs the old one's
        // name) or an entry with adopt (it would take over the very key being replaced).
        // (A rotation alone never gets here where names are unique: twoSlotPlan makes it in place.)
        // Where names are not unique, only a create that may adopt is ambiguous: one with a
        // predecessor, even a stale one, never adopts, so it can make the new key first.
        const current = olds.currentId ?? id;
        const ambiguous = Boolean(lc.rename) || (Boolean(news.adopt) && !news.predecessor);
        const replaced = plan.rotation ? why(plan, "update-replace") : plan;
        if ((plan.replaces?.length ?? 0) > 0 && ambiguous && news.predecessor !== current) return { ...replaced, deleteBeforeReplace: true };
        return replaced;
    }

    /**
     * The fields the plan shows for this step (decide names them; bookkeeping inputs never show). A
     * lost create has no outputs to compare with, so it keeps the engine's own input comparison.
     */
    function explain(plan: KeyDiff, olds: O): KeyDiff {
        if (olds.pending) return { ...plan, detailedDiff: undefined };
        return { ...plan, detailedDiff: plan.detailedDiff ?? {} };
    }

    /** The decision diff and update share: rotate in place (overlap), retire the previous slot, extend it (held). */
    function twoSlotPlan(id: string, olds: O, news: I, now: number): { rotate?: string; retire: boolean; extend: boolean; deferred: boolean; arm: boolean } {
        const before = canonical(olds as unknown as Record<string, unknown>);
        const due = rotationReason(before, olds.created, news, now, standingOf(news)) ?? lc.renewal?.(olds, news, now);
        const plan = planDiff(lc.fields, before, news, due);
        const onlyRotation = Boolean(due) && (plan.replaces ?? []).every((f) => f === "rotation");
        // Where names are unique and the last run's record does not name the current key (a run that
        // rotated it and then failed elsewhere), a replacement's create could not tell the current
        // key from a stranger's and would have to delete it first: gone if the create is then
        // refused. State knows the current key, so the rotation is made in place instead, new key
        // first, and the old key waits in the previous slot (retireAt now, so the next up retires it).
        const stale = onlyRotation && Boolean(lc.rename) && news.predecessor !== (olds.currentId ?? id);
        const inPlace = onlyRotation && (overlapMs(news.rotation) > 0 || stale);
        const previous = olds.previous;
        const over = Boolean(previous) && Date.parse(previous!.retireAt) <= now;
        const held = Boolean(news.holdPrevious) && news.holdPrevious !== olds.currentId;
        // While consumers lack the current key, a due rotation waits: rotating now would retire the
        // key they still use (two slots, never three keys).
        const rotate = inPlace && !held;
        return {
            rotate: rotate ? due : undefined,
            retire: !rotate && over && !held,
            extend: over && held,
            deferred: inPlace && held,
            arm: Boolean(previous) && previous!.armed === false && !held && !over && !rotate,
        };
    }

    function pending(inputs: I, started: number, err: VendorError): PartialCreate {
        const since = new Date(started).toISOString();
        const id = `pending_${fingerprint("", `${lc.describe(inputs)}\0${since}`)}`;
        const message =
            `creating ${lc.describe(inputs)} failed: ${err.message}; the outcome is unknown, and the key could not be looked up either. ` +
            "Nothing is lost: state records the attempt, and the next `pulumi up` finds the key and takes it over, or creates it if it was never made";
        return new PartialCreate(message, id, { ...(inputs as unknown as Record<string, unknown>), pending: { since }, note: "create outcome unknown; the next up reconciles it" });
    }

    /** The next up after a lost answer: take over what the lost create made, or make it now. */
    async function reconcile(c: C, inputs: I, olds: O): Promise<Result<O>> {
        const since = Date.parse(olds.pending?.since ?? "") || clock.now();
        let found: R[];
        try {
            found = await madeSince(c, inputs, since, new Set());
        } catch (err) {
            throw fail("creating", inputs, err);
        }
        if (found.length > 0) {
            let taken: R;
            try {
                taken = await takeOver(c, found[0], inputs);
                // Where names are not unique, each attempt of the lost create may have committed a row
                // with the entry's marker (one answer lost, the next attempt's too): the first found is
                // the key, the rest would be keys nobody holds.
                for (const extra of found.slice(1)) await lc.delete(c, { state: makeOutputs(inputs, extra) });
            } catch (err) {
                throw fail("creating", inputs, err);
            }
            const key = await converge(c, inputs, taken, "creating");
            const also = found.length > 1 ? `; deleted ${found.length - 1} more it made (${found.slice(1).map((r) => lc.resourceId(r)).join(", ")})` : "";
            return { id: lc.resourceId(key), outs: makeOutputs(inputs, key, undefined, `took over the key of a create whose answer was lost${also}`) };
        }
        return createNew(c, inputs, null);
    }

    async function adopt(c: C, inputs: I): Promise<Result<O> | undefined> {
        let found: R | undefined;
        try {
            const all = await candidates(c, inputs);
            found = inputs.adopt === true ? all[0] : all.find((r) => lc.adopts?.(r, String(inputs.adopt)));
            if (!found && inputs.adopt !== true && lc.findById) found = await lc.findById(c, String(inputs.adopt));
        } catch (err) {
            throw fail("adopting", inputs, err);
        }
        if (!found) return undefined;
        const refusal = lc.adoptable?.(found, inputs);
        if (refusal) throw new Error(`adopting ${lc.describe(inputs)} failed: ${refusal}`);
        try {
            found = await takeOver(c, found, inputs);
        } catch (err) {
            throw fail("adopting", inputs, err);
        }
        const key = await converge(c, inputs, found, "adopting");
        const outs = makeOutputs(inputs, key, undefined, "adopted");
        const due = rotationReason(inputs, outs.created, inputs, clock.now(), standingOf(inputs));
        if (!due) return { id: lc.resourceId(key), outs };
        // Adopted past its rotation age: replace it in the same run, as the preview said.
        const fresh = await createNew(c, { ...inputs, predecessor: lc.resourceId(key) }, `adopted, then rotated: ${due}`);
        try {
            await lc.delete(c, { state: outs });
        } catch (err) {
            // The new key is made and must reach state; the old one is named for the user to delete.
            fresh.outs.note = `adopted, then rotated: ${due}; the adopted key ${lc.resourceId(key)} could not be deleted (${(err as Error).message}); delete it at the vendor`;
        }
        return fresh;
    }

    const provider = {
        // For tools beside the engine (the inventory report): when the vendor's own renewal will replace a key.
        lifecycle: lc,
        async configure(req: { config: RawConfig }) {
            settings.configure(req.config);
        },

        async check(olds: Partial<I>, news: Partial<I>): Promise<pulumi.dynamic.CheckResult<I>> {
            const parsed = lc.schema.safeParse(news);
            if (!parsed.success) {
                return {
                    failures: parsed.error.issues.map((i) => ({ property: String(i.path[0] ?? ""), reason: `${i.path.join(".") || "inputs"}: ${i.message}` })),
                };
            }
            const inputs = canonical(news as Record<string, unknown>);
            const now = clock.now();
            if (inputs.rotation?.verify && !lc.probe) {
                return { failures: [{ property: "rotation", reason: `rotation.verify: ${lc.title} keys cannot be verified (the vendor has no usage endpoint without side effects); set verify: false for this key` }] };
            }
            const expires = (inputs as unknown as { expires?: unknown }).expires;
            if (!inputs.predecessor && !inputs.adopt && typeof expires === "string" && Date.parse(expires) <= now) {
                return { failures: [{ property: "expires", reason: `expires: ${expires} has passed; a new key cannot be created expired` }] };
            }
            if (inputs.adopt && !inputs.predecessor) {
                // Adoption is looked at now, so the preview shows what up will do with an old key.
                try {
                    const c = lc.connect(settings, inputs);
                    const all = await candidates(c, inputs);
                    const found = inputs.adopt === true ? all[0] : all.find((r) => lc.adopts?.(r, String(inputs.adopt)));
                    const created = found ? lc.outputs(inputs, found).created : undefined;
                    const due = created ? rotationReason(inputs, created, inputs, now, standingOf(inputs)) : undefined;
                    if (due) inputs.rotationDue = `rotation due: adopted key ${due}`;
                } catch {
                    // The preview goes without the detail; create reports any real failure.
                }
            }
            return { inputs };
        },

        async diff(id: string, olds: O, news: I): Promise<KeyDiff> {
            rememberState(olds);
            return explain(decide(id, olds, news), olds);
        },

        async create(inputs: I): Promise<pulumi.dynamic.CreateResult<O>> {
            const c = lc.connect(settings, inputs);
            if (inputs.adopt && !inputs.predecessor) {
                const adopted = await adopt(c, inputs);
                if (adopted) return adopted;
                const which = inputs.adopt === true ? `no key named "${inputs.name}"` : `no key ${inputs.adopt}`;
                return createNew(c, inputs, `adopt: the vendor had ${which}; created a new key`);
            }
            return createNew(c, inputs, null);
        },

        async read(id: string, props?: O): Promise<pulumi.dynamic.ReadResult<O>> {
            rememberState(props);
            if (!props) throw new Error(`reading ${lc.title} key ${id} failed: keyfleet reads keys from state only; adopt an existing key with adopt: in the YAML`);
            const state = { ...props, ...canonical(props as unknown as Record<string, unknown>) } as O;
            const c = lc.connect(settings, state);
            // A pending rotation: the current key is in state; only an update may move it into the
            // previous slot (it sets its expiry, retires the older one), so a refresh leaves it pending.
            if (props.pending?.replacing) return { id, props };
            if (props.pending) {
                const since = Date.parse(props.pending.since) || clock.now();
                let found: R[];
                try {
                    found = await madeSince(c, state, since, new Set());
                } catch (err) {
                    throw fail("reading", state, err);
                }
                // Never made: drop it, and the next up creates it. Made: it is this resource's key.
                if (found.length === 0) return {};
                // Made more than once: only an update may delete the others (see reconcile).
                if (found.length > 1) return { id, props };
                let taken: R;
                try {
                    taken = await takeOver(c, found[0], state);
                } catch (err) {
                    throw fail("reading", state, err);
                }
                const outs = makeOutputs(state, taken, props, "took over the key of a create whose answer was lost");
                return { id: lc.resourceId(taken), props: outs };
            }
            let r: R | undefined;
            try {
                r = await lc.read(c, { state });
            } catch (err) {
                throw fail("reading", state, err);
            }
            // Deleted out of band: no id, so the engine drops it from state and the next up recreates it.
            if (!r) return {};
            const outs = makeOutputs(state, r, props);
            return { id: lc.resourceId(r) || id, props: outs };
        },

        async update(id: string, olds: O, news: I): Promise<pulumi.dynamic.UpdateResult<O>> {
            rememberState(olds);
            const c = lc.connect(settings, news);
            // A rotation whose new key's answer was lost: finish it, the old key into the previous slot.
            if (olds.pending?.replacing) {
                // In the scope the lost key was made in (see decide): a changed immutable field is the next run's replacement.
                const before = canonical(olds as unknown as Record<string, unknown>);
                const scope = Object.fromEntries(lc.fields.immutable.map((f) => [f, before[f]]));
                return rotateInPlace(c, id, olds, { ...news, ...scope }, clock.now(), Date.parse(olds.pending.since) || clock.now());
            }
            if (olds.pending) return { outs: (await reconcile(c, news, olds)).outs };
            let state = { ...olds, ...canonical(olds as unknown as Record<string, unknown>) } as O;
            const now = clock.now();
            const slots = twoSlotPlan(id, olds, news, now);
            // A rotation that waits for the consumers stays due: state keeps the policy it is due under.
            if (slots.deferred) news = { ...news, rotation: (olds as unknown as I).rotation };
            if (slots.retire && olds.previous) {
                // Its overlap is over.
                await retire(c, news, olds.previous);
                state = { ...state, ...slot(null) };
                olds = { ...olds, ...slot(null) };
            }
            if (slots.extend && olds.previous) {
                // Held (its consumers lack the current key): one more overlap, at the vendor too.
                const retireAt = new Date(now + Math.max(overlapMs(news.rotation), 3_600_000)).toISOString();
                const previous = { ...olds.previous, retireAt, armed: true };
                if (lc.expire) {
                    try {
                        await lc.expire(c, { state: { ...previous.state, ...canonical(previous.state) } as unknown as O, at: retireAt });
                    } catch (err) {
                        throw fail("updating", news, err);
                    }
                }
                state = { ...state, ...slot(previous) };
                olds = { ...olds, ...slot(previous) };
            }
            if (slots.arm && olds.previous) {
                // Its consumers have the current key now: the old key may die at the vendor at retireAt.
                const previous = { ...olds.previous, armed: true };
                if (lc.expire) {
                    try {
                        await lc.expire(c, { state: { ...previous.state, ...canonical(previous.state) } as unknown as O, at: previous.retireAt });
                    } catch (err) {
                        throw fail("updating", news, err);
                    }
                }
                state = { ...state, ...slot(previous) };
                olds = { ...olds, ...slot(previous) };
            }
            if (slots.rotate) return rotateInPlace(c, id, olds, news, now);
            const changes: Partial<I> = {};
            for (const f of changedFields(lc.fields.mutable, state as unknown as I, news)) changes[f] = news[f];
            if (Object.keys(changes).length === 0) {
                const keep: Record<string, unknown> = { ...(olds as unknown as Record<string, unknown>) };
                for (const f of [...lc.fields.local, ...CORE_INPUTS]) keep[f] = news[f];
                const next = nextRotationAt(news.rotation, olds.created);
                keep.nextRotation = next === undefined ? null : new Date(next).toISOString();
                return { outs: keep as unknown as O };
            }
            try {
                const r = await lc.update(c, { state, inputs: news, changes });
                return { outs: makeOutputs(news, r, olds) };
            } catch (err) {
                throw fail("updating", news, err);
            }
        },

        async delete(_id: string, props: O): Promise<void> {
            rememberState(props);
            if (props.pending) {
                // A lost create: delete what it made, if anything.
                const state = { ...props, ...canonical(props as unknown as Record<string, unknown>) } as O;
                const c = lc.connect(settings, state);
                try {
                    const except = new Set([props.pending.replacing ?? "", props.previous?.id ?? ""]);
                    const found = await madeSince(c, state, Date.parse(props.pending.since) || clock.now(), except);
                    for (const r of found) await lc.delete(c, { state: makeOutputs(state, r, props) });
                } catch (err) {
                    throw fail("deleting", state, err);
                }
                // A pending rotation still holds the current key (and its previous slot): those go too.
                if (!props.pending.replacing) return;
            }
            const state = { ...props, ...canonical(props as unknown as Record<string, unknown>) } as O;
            const c = lc.connect(settings, state);
            if (props.previous) await retire(c, state, props.previous);
            try {
                await lc.delete(c, { state });
            } catch (err) {
                // Already gone is fine: the desired end state is reached either way.
                if (isKind(err, "notFound")) return;
                throw fail("deleting", state, err);
            }
        },
    };
    return provider;
}

/**
 * The name a key carries while its successor takes its name, within the vendor's length limit. It
 * carries the key's own id (its resource id: a record id, or a fingerprint where the id is the key),
 * so that two keys whose names share their first characters never get the same aside name: with a
 * stamp alone, two SupportCenter keys (50 characters) sharing their first 18, rotated in one up,
 * collided and the second failed with 4008. The id is kept whole; what gives way is the stamp's time
 * of day, then the stamp, then the name (at least ASIDE_KEEP characters of it where that fits).
 */
export function asideName(name: string, stamp: string, id: string, max = 255): string {
    const day = stamp.slice(0, 10);
    const suffixes = [` (replaced ${stamp}, ${id})`, ` (replaced ${day}, ${id})`, ` (${id})`];
    const keep = Math.min(name.length, ASIDE_KEEP);
    const suffix = suffixes.find((s) => s.length + keep <= max) ?? suffixes[suffixes.length - 1];
    return (name.slice(0, Math.max(0, max - suffix.length)) + suffix).slice(0, max);
}

/** The characters of a key's name its aside name keeps, where the vendor's limit allows: enough to tell it in a list. */
const ASIDE_KEEP = 8;
