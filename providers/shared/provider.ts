// The key provider every vendor shares: a vendor's model, backend and capabilities (contract.ts)
// become a Pulumi dynamic provider that owns every mechanism: validation from the vendor's schema,
// the plan (planner.ts), creation with compensation (create.ts), adoption (adoption.ts), recovery of
// lost answers (recovery.ts), the two slots of an overlap rotation (slots.ts), secret outputs and
// fingerprint ids, and the error shape, so that no key is ever duplicated or orphaned.
//
// Nothing here relies on `diff` and `create` sharing process memory: `pulumi up --replace` and
// `--target-replace` create without a diff, and the engine checks a replacement's inputs afresh,
// without the old ones. What `create` must know comes in the inputs, from the program, which reads
// the stack's state and its own outputs of the last run (api/environment.ts): `predecessor` (the id
// of the key this resource had: a create is then a replacement, never an adoption, and only that
// key's name may be taken over) and `rotationDue` (why this run rotates the key: a property the
// preview shows). The resource id stays the first key's until a refresh (as after a lost create):
// `currentId` always names the current key.
import type * as pulumi from "@pulumi/pulumi";
import { adopt, adoptionDue } from "./adoption.ts";
import { clock } from "./clock.ts";
import { CORE_INPUTS, type CoreInputs, type CoreOutputs, type VendorKeys } from "./contract.ts";
import { makeCore, type Core } from "./core.ts";
import { createKey } from "./create.ts";
import { changedFields, type KeyDiff } from "./diff.ts";
import { isKind } from "./errors.ts";
import { plan, toDiff, type Plan } from "./planner.ts";
import { deletePending, PartialCreate, readPending, reconcile } from "./recovery.ts";
import { nextRotationAt } from "./rotation.ts";
import { Settings, type RawConfig } from "./settings.ts";
import { retire, rotateInPlace, slotStep } from "./slots.ts";

export type KeyProvider<I extends CoreInputs, O extends I & CoreOutputs, R, C> = pulumi.dynamic.ResourceProvider<I, O> & {
    configure(req: { config: RawConfig }): Promise<void>;
    /** For tools beside the engine (the inventory report): the vendor, e.g. when its own renewal will replace a key. */
    readonly vendor: VendorKeys<I, O, R, C>;
};

/** The plan of one key now, as diff and update both compute it. */
function planOf<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, id: string, olds: O, news: I, now: number): Plan {
    const model = { fields: core.v.model.fields, canonical: core.canonical, standing: core.standingOf };
    return plan(model, { id, olds }, news, now, { uniqueNames: Boolean(core.v.uniqueNames), renewal: core.v.expiry?.renewal ? (s, i, t) => core.v.expiry!.renewal!(s, i, t) : undefined });
}

/** check: the vendor's schema, then what the core refuses before any call; adoption looked up for the preview. */
async function check<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, news: Partial<I>): Promise<pulumi.dynamic.CheckResult<I>> {
    const { model } = core.v;
    const parsed = model.schema.safeParse(news);
    if (!parsed.success) {
        return { failures: parsed.error.issues.map((i) => ({ property: String(i.path[0] ?? ""), reason: `${i.path.join(".") || "inputs"}: ${i.message}` })) };
    }
    const inputs = core.canonical(news as Record<string, unknown>);
    const now = clock.now();
    if (inputs.rotation?.verify && !core.v.verify) {
        return { failures: [{ property: "rotation", reason: `rotation.verify: ${model.title} keys cannot be verified (the vendor has no usage endpoint without side effects); set verify: false for this key` }] };
    }
    const expires = (inputs as unknown as { expires?: unknown }).expires;
    if (!inputs.predecessor && !inputs.adopt && typeof expires === "string" && Date.parse(expires) <= now) {
        return { failures: [{ property: "expires", reason: `expires: ${expires} has passed; a new key cannot be created expired` }] };
    }
    if (inputs.adopt && !inputs.predecessor) {
        // Adoption is looked at now, so the preview shows what up will do with an old key.
        const due = await adoptionDue(core, inputs, now);
        if (due) inputs.rotationDue = due;
    }
    return { inputs };
}

/** The update of a key whose plan is not a rotation: the previous slot's step, then the fields that differ. */
async function updateFields<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, p: Plan, olds: O, news: I, now: number): Promise<{ outs: O }> {
    const { model, backend } = core.v;
    if (p.kind === "update" && p.deferred) {
        // A rotation that waits for the consumers stays due: state keeps the policy it is due under.
        news = { ...news, rotation: (olds as unknown as I).rotation };
    }
    if (p.kind === "update" && p.slot && olds.previous) {
        olds = { ...olds, ...core.slot(await slotStep(core, c, news, olds.previous, p.slot, now)) };
    }
    const state = core.stateOf(olds);
    const changes: Partial<I> = {};
    for (const f of changedFields(model.fields.mutable, state as unknown as I, news)) changes[f] = news[f];
    if (Object.keys(changes).length === 0) {
        // Only the core's and keyfleet's own fields change: state is rewritten, no vendor call.
        const keep: Record<string, unknown> = { ...(olds as unknown as Record<string, unknown>) };
        for (const f of [...model.fields.local, ...CORE_INPUTS]) keep[f] = news[f];
        const next = nextRotationAt(news.rotation, olds.created);
        keep.nextRotation = next === undefined ? null : new Date(next).toISOString();
        return { outs: keep as unknown as O };
    }
    try {
        const r = await backend.update(c, { state, inputs: news, changes });
        return { outs: core.makeOutputs(news, r, olds) };
    } catch (err) {
        throw core.fail("updating", news, err);
    }
}

async function update<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, id: string, olds: O, news: I): Promise<pulumi.dynamic.UpdateResult<O>> {
    core.rememberState(olds);
    const c = core.v.backend.connect(core.settings, news);
    const now = clock.now();
    const p = planOf(core, id, olds, news, now);
    if (p.kind === "reconcile" && p.replacing) {
        // A rotation whose new key's answer was lost: finish it, the old key into the previous slot,
        // in the scope the lost key was made in (a changed immutable field is the next run's replacement).
        const before = core.canonical(olds as unknown as Record<string, unknown>);
        const scope = Object.fromEntries(core.v.model.fields.immutable.map((f) => [f, before[f]]));
        return rotateInPlace(core, c, id, olds, { ...news, ...scope }, now, Date.parse(olds.pending!.since) || now);
    }
    if (p.kind === "reconcile") return { outs: (await reconcile(core, c, news, olds, () => createKey(core, c, news, { note: null }))).outs };
    if (p.kind === "rotate") return rotateInPlace(core, c, id, olds, news, now);
    return updateFields(core, c, p, olds, news, now);
}

async function read<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, id: string, props?: O): Promise<pulumi.dynamic.ReadResult<O>> {
    core.rememberState(props);
    if (!props) throw new Error(`reading ${core.v.model.title} key ${id} failed: keyfleet reads keys from state only; adopt an existing key with adopt: in the YAML`);
    const state = core.stateOf(props);
    const c = core.v.backend.connect(core.settings, state);
    // A pending rotation: the current key is in state; only an update may move it into the previous
    // slot (it sets its expiry, retires the older one), so a refresh leaves it pending.
    if (props.pending?.replacing) return { id, props };
    if (props.pending) return readPending(core, c, id, state, props);
    let r: R | undefined;
    try {
        r = await core.v.backend.read(c, { state });
    } catch (err) {
        throw core.fail("reading", state, err);
    }
    // Deleted out of band: no id, so the engine drops it from state and the next up recreates it.
    if (!r) return {};
    return { id: core.v.model.resourceId(r) || id, props: core.makeOutputs(state, r, props) };
}

async function destroy<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, props: O): Promise<void> {
    core.rememberState(props);
    const state = core.stateOf(props);
    const c = core.v.backend.connect(core.settings, state);
    if (props.pending) {
        // A lost create: delete what it made, if anything. A pending rotation still holds the
        // current key (and its previous slot): those go too.
        await deletePending(core, c, state, props);
        if (!props.pending.replacing) return;
    }
    if (props.previous) await retire(core, c, state, props.previous);
    try {
        await core.v.backend.delete(c, { state });
    } catch (err) {
        // Already gone is fine: the desired end state is reached either way.
        if (isKind(err, "notFound")) return;
        throw core.fail("deleting", state, err);
    }
}

/**
 * What leaves the provider: an empty previous slot as no property at all. The engine encrypts a
 * secret null as it does a key (~150 bytes each for `previous` and `previousValue`, and again in the
 * program's stack output), about a tenth of a key's checkpoint; every reader takes absent as none.
 */
function withoutEmptySlot<T extends object | undefined>(o: T): T {
    const r = o as Record<string, unknown> | undefined;
    if (!r || r.previous) return o;
    const { previous: _slot, previousValue: _value, ...rest } = r;
    return rest as T;
}

/** A failed create or update that made something leaves its properties the same way. */
async function emitting<T>(run: () => Promise<T>): Promise<T> {
    try {
        return await run();
    } catch (err) {
        if (err instanceof PartialCreate) Object.defineProperty(err, "properties", { value: withoutEmptySlot(err.properties) });
        throw err;
    }
}

export function keyProvider<I extends CoreInputs, O extends I & CoreOutputs, R, C>(vendor: VendorKeys<I, O, R, C>): KeyProvider<I, O, R, C> {
    const core = makeCore(vendor, new Settings());
    const create = async (inputs: I): Promise<pulumi.dynamic.CreateResult<O>> => {
        const c = vendor.backend.connect(core.settings, inputs);
        if (!inputs.adopt || inputs.predecessor) return createKey(core, c, inputs, { note: null });
        const adopted = await adopt(core, c, inputs);
        if (adopted) return adopted;
        const which = inputs.adopt === true ? `no key named "${inputs.name}"` : `no key ${inputs.adopt}`;
        return createKey(core, c, inputs, { note: `adopt: the vendor had ${which}; created a new key` });
    };
    return {
        vendor,
        async configure(req) {
            core.settings.configure(req.config);
        },
        check: (_olds, news) => check(core, news),
        async diff(id: string, olds: O, news: I): Promise<KeyDiff> {
            core.rememberState(olds);
            return toDiff(planOf(core, id, olds, news, clock.now()), vendor.model.fields);
        },
        create: (inputs) => emitting(async () => {
            const r = await create(inputs);
            return { ...r, outs: withoutEmptySlot(r.outs) };
        }),
        read: async (id, props) => {
            const r = await read(core, id, props);
            // State written with an encrypted null keeps it until the key's next write: a refresh
            // that dropped it would show every key of an upgraded stack as changed.
            return r.props && !(props && "previous" in props) ? { ...r, props: withoutEmptySlot(r.props) } : r;
        },
        update: (id, olds, news) => emitting(async () => ({ outs: withoutEmptySlot((await update(core, id, olds, news)).outs) })),
        delete: (_id, props) => destroy(core, props),
    };
}
