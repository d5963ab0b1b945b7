// What a vendor supplies to the core, as types only. A vendor is a model (its fields, declared
// once, and how its record reads as outputs), a backend (five operations, one request and one
// response type each) and optional capabilities, each a separate object the core checks for by
// presence: discovery (find keys at the vendor: adoption, recovery of lost answers), unique names
// (rename aside for a successor; typed so it cannot exist without discovery, since a name held by
// a lost create can only be resolved by finding it), expiry (set a vendor-side end, renewal) and
// verify (probe a key). The shape follows HashiCorp Vault's database plugin interface v5: the
// compiler, not a comment, refuses an incoherent vendor; everything else (diff and plan, rotation,
// adoption, recovery, secret outputs, error shape) is the core's (provider.ts and its modules).
import type { z } from "zod";
import type { FieldSpec } from "./diff.ts";
import type { Fixes } from "./errors.ts";
import type { KeyStanding, RotationPolicy } from "./rotation.ts";
import type { Settings } from "./settings.ts";

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
    /** The key a rotation with overlap kept valid until its retireAt. Secret (it holds the old key). Absent when there is none (older state holds null). */
    previous?: PreviousSlot | null;
    /** The previous slot's key value. Secret. Absent with the slot. */
    previousValue?: string | null;
    /** When the previous slot's key is retired (ISO 8601), or null. */
    previousRetireAt?: string | null;
    /** When the key is next due for rotation by age (ISO 8601), or null (no `every`, or paused). */
    nextRotation?: string | null;
}

/** The core's own inputs, kept apart from the vendor's (a bookkeeping input is never shown as a change). */
export const CORE_INPUTS = ["vendor", "name", "rotation", "adopt", "predecessor", "rotationDue", "holdPrevious", "interrupted"] as const;

/** The operation in messages and hints ("creating … failed: …; <fix>"). */
export type Operation = "creating" | "adopting" | "reading" | "updating" | "deleting";

/** The vendor's outputs from one record: key value(s), read-only fields, the mutable fields as the vendor has them. */
export type VendorOutputs<I extends CoreInputs, O extends I & CoreOutputs> = Omit<O, keyof I | keyof CoreOutputs> & Partial<I> & { created?: string };

/** The vendor's key as data: its fields, their schema and defaults, and how a record reads. */
export interface KeyModel<I extends CoreInputs, O extends I & CoreOutputs, R> {
    /** The vendor's name in messages. */
    title: string;
    fields: FieldSpec<I>;
    /** The vendor's fields of one key (the same field schemas its YAML section uses); `check` validates with it. */
    schema: z.ZodType;
    /** Inputs with every vendor field present in one canonical form; a field missing from old state takes its default. */
    normalize(news: Record<string, unknown>): Omit<I, keyof CoreInputs>;
    /** The key in messages (kind, name and scope, e.g. `… key "ci" for tenant 578e…`): never a key value. */
    describe(key: I): string;
    outputs(inputs: I, r: R): VendorOutputs<I, O>;
    /** The resource id: a fingerprint when the vendor's id is the key itself. */
    resourceId(r: R): string;
    /** The output holding the key value, for `previousValue` (default `apiKey`). */
    valueOutput?: keyof O & string;
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
    secretOutputs?: readonly (keyof O & string)[];
    /** Hints per operation and error kind. */
    fixes?: Partial<Record<Operation, Fixes>>;
    /** Said when a create's answer is lost and the vendor has no way to look the key up. */
    lostCreate?: string;
}

export interface CreateRequest<I> {
    /** Makes the key with the fields the vendor takes on creation; the core applies the rest as an update. */
    inputs: I;
}
export interface ReadRequest<O> {
    state: O;
}
export interface UpdateRequest<I, O> {
    state: O;
    inputs: I;
    /** Only the mutable fields that differ: a field absent means no change requested. */
    changes: Partial<I>;
}
export interface DeleteRequest<O> {
    state: O;
}

/** The five operations every vendor has. */
export interface KeyBackend<I extends CoreInputs, O extends I & CoreOutputs, R, C> {
    connect(settings: Settings, key: I): C;
    create(c: C, req: CreateRequest<I>): Promise<R>;
    /** The key as the vendor has it now, or undefined when it is gone. */
    read(c: C, req: ReadRequest<O>): Promise<R | undefined>;
    update(c: C, req: UpdateRequest<I, O>): Promise<R>;
    /** Deletes the key; succeeds when it is already gone. */
    delete(c: C, req: DeleteRequest<O>): Promise<void>;
}

/** Finding keys at the vendor: adoption, and recovery of a create whose answer was lost. */
export interface Discovery<I extends CoreInputs, R, C> {
    /** The vendor's keys in this key's scope that carry its name. */
    find(c: C, req: { inputs: I }): Promise<R[]>;
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
    reveal?(c: C, r: R, inputs: I): Promise<R>;
    /** Why this record cannot be adopted for `inputs` (an immutable field differs), or undefined. */
    adoptable?(r: R, inputs: I): string | undefined;
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
}

/** Where names are unique: a successor needs its predecessor's name, so the old key is renamed aside. */
export interface UniqueNames<O, R, C> {
    /** Renames the key the vendor's record `r` is (the core renames only keys it has just found). */
    rename(c: C, r: R, name: string): Promise<void>;
    /** The vendor's longest name, for the aside name of a renamed key. */
    nameMax: number;
}

/** A key's end at the vendor: at least one of the two (an empty expiry is refused by the compiler). */
export type Expiry<I, O, C> = ExpiryMembers<I, O, C> & ({ expire: NonNullable<ExpiryMembers<I, O, C>["expire"]> } | { renewal: NonNullable<ExpiryMembers<I, O, C>["renewal"]> });

interface ExpiryMembers<I, O, C> {
    /**
     * Sets the key's vendor-side expiry to `at` (ISO 8601), so that a key kept for an overlap stops
     * working at its end even if no up runs. Absent: the vendor has no expiry that can be set later.
     */
    expire?(c: C, req: { state: O; at: string }): Promise<void>;
    /** Why the key must be replaced with no input change besides rotation (an expiry close), from state; or undefined. */
    renewal?(state: Partial<O>, inputs: I, now: number): string | undefined;
}

/** Proving a key works before it is promoted (rotation.verify). */
export interface Verify<O, C> {
    /** Uses the key once on the vendor's usage endpoint, with no side effect (nothing created, no session started). */
    probe(c: C, req: { state: O }): Promise<ProbeAnswer>;
}

/** Unique names without discovery cannot be written: the compiler refuses it. */
type Naming<I extends CoreInputs, O, R, C> =
    | { discovery?: undefined; uniqueNames?: undefined }
    | { discovery: Discovery<I, R, C>; uniqueNames?: UniqueNames<O, R, C> };

/** One vendor's keys, as the core drives them. */
export type VendorKeys<I extends CoreInputs, O extends I & CoreOutputs, R, C> = {
    model: KeyModel<I, O, R>;
    backend: KeyBackend<I, O, R, C>;
    expiry?: Expiry<I, O, C>;
    verify?: Verify<O, C>;
} & Naming<I, O, R, C>;
