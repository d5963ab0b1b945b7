// The core's plan table (providers/shared/planner.ts), row by row, as a pure function of state,
// inputs and time; then each plan executed by the core against an in-memory vendor
// (test/helpers/memory-vendor.ts), checking the vendor's side. No sandbox, no network.
import { afterEach, describe, expect, it } from "vitest";
import { setClock } from "../providers/shared/clock.ts";
import type { VendorKeys } from "../providers/shared/contract.ts";
import { makeCore } from "../providers/shared/core.ts";
import { plan, toDiff, type Plan } from "../providers/shared/planner.ts";
import { keyProvider } from "../providers/shared/provider.ts";
import { PartialCreate } from "../providers/shared/recovery.ts";
import { Settings } from "../providers/shared/settings.ts";
import { MemStore, memoryVendor, type MemInputs, type MemOptions, type MemOutputs, type MemRecord } from "./helpers/memory-vendor.ts";

const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.parse("2026-12-01T00:00:00Z");
let restore: (() => void) | undefined;
let now = T0;
const at = (t: number) => {
    now = t;
    restore ??= setClock(() => now);
};
afterEach(() => {
    restore?.();
    restore = undefined;
    now = T0;
});

const inputs = (over: Partial<MemInputs> = {}): MemInputs => ({
    vendor: "memory",
    name: "ci",
    scope: "tenant-a",
    label: null,
    enabled: true,
    rotation: null,
    adopt: null,
    predecessor: null,
    rotationDue: null,
    holdPrevious: null,
    interrupted: null,
    ...over,
});

/** Outputs of a key made `age` ms before T0, as the core writes them. */
function outputs(over: Partial<MemInputs> = {}, extra: Partial<MemOutputs> = {}, age = DAY): MemOutputs {
    const i = inputs(over);
    return { ...i, apiKey: "secret-mem-1", expiresAt: null, currentId: "mem-1", created: new Date(T0 - age).toISOString(), note: null, pending: null, previous: null, previousValue: null, previousRetireAt: null, nextRotation: null, ...extra };
}

function planner(opts: MemOptions & { renewal?: (s: Partial<MemOutputs>) => string | undefined } = {}) {
    const v = memoryVendor(new MemStore(), opts);
    const core = makeCore(v, new Settings());
    const model = { fields: v.model.fields, canonical: core.canonical, standing: core.standingOf };
    return (olds: MemOutputs, news: MemInputs, t = T0, id = "mem-1"): { p: Plan; d: ReturnType<typeof toDiff> } => {
        const p = plan(model, { id, olds }, news, t, { uniqueNames: Boolean(opts.uniqueNames), renewal: opts.renewal ? (s) => opts.renewal!(s) : undefined });
        return { p, d: toDiff(p, v.model.fields) };
    };
}

const previous = (retireAt: number, armed?: boolean) => ({ id: "mem-0", retireAt: new Date(retireAt).toISOString(), state: { ...outputs(), currentId: "mem-0", apiKey: "secret-mem-0" }, ...(armed === undefined ? {} : { armed }) });

describe("the plan table", () => {
    const p = planner();
    const unique = planner({ uniqueNames: true, discovery: true });

    it("none: nothing differs", () => {
        const { p: plan, d } = p(outputs({ predecessor: "mem-1" }), inputs({ predecessor: "mem-1" }));
        expect(plan.kind).toBe("none");
        expect(d).toMatchObject({ changes: false, replaces: [], detailedDiff: {} });
    });

    it("update: a mutable field differs, named in the detailed diff", () => {
        const { p: plan, d } = p(outputs(), inputs({ label: "ops" }));
        expect(plan).toMatchObject({ kind: "update", dueShown: false });
        expect(d).toMatchObject({ changes: true, replaces: [], detailedDiff: { label: "add" } });
    });

    it("update: keyfleet's own field (the rotation policy) changes, nothing due", () => {
        const { p: plan, d } = p(outputs(), inputs({ rotation: { every: "90d" } }));
        expect(plan.kind).toBe("update");
        expect(d.detailedDiff).toEqual({ rotation: "add" });
    });

    it("replace: an immutable field differs; the old key is kept until the new one exists", () => {
        const { p: plan, d } = p(outputs({ predecessor: "mem-1" }), inputs({ scope: "tenant-b", predecessor: "mem-1" }));
        expect(plan).toMatchObject({ kind: "replace", deleteBeforeReplace: false });
        expect(d).toMatchObject({ changes: true, replaces: ["scope"], deleteBeforeReplace: false, detailedDiff: { scope: "update-replace" } });
    });

    it("replace, delete first: names unique and the program's predecessor does not name the current key", () => {
        expect(unique(outputs(), inputs({ scope: "tenant-b", predecessor: "mem-9" })).d).toMatchObject({ replaces: ["scope"], deleteBeforeReplace: true });
        expect(unique(outputs(), inputs({ scope: "tenant-b", predecessor: "mem-1" })).d.deleteBeforeReplace).toBe(false);
    });

    it("replace, delete first: an entry with adopt and no predecessor would take over the very key it replaces", () => {
        expect(p(outputs(), inputs({ scope: "tenant-b", adopt: true })).d.deleteBeforeReplace).toBe(true);
    });

    it("replace: rotation without overlap, the program's new reason shown", () => {
        const { p: plan, d } = p(outputs({ rotation: { generation: 1 }, predecessor: "mem-1" }), inputs({ rotation: { generation: 2 }, predecessor: "mem-1", rotationDue: "rotation due: generation" }));
        expect(plan.kind).toBe("replace");
        expect(d).toMatchObject({ replaces: ["rotation"], rotation: "rotation generation 1 → 2", detailedDiff: { rotationDue: "update-replace" } });
    });

    it("replace: the vendor's renewal (an expiry close) rotates with no input change", () => {
        const renewing = planner({ renewal: () => "expires within a tenth of its lifetime" });
        expect(renewing(outputs({ predecessor: "mem-1" }), inputs({ predecessor: "mem-1" })).d).toMatchObject({ replaces: ["rotation"], rotation: "expires within a tenth of its lifetime" });
    });

    it("none: a disabled key is never rotated by age", () => {
        const old = outputs({ enabled: false, rotation: { every: "1d" } }, {}, 3 * DAY);
        expect(p(old, inputs({ enabled: false, rotation: { every: "1d" } })).p.kind).toBe("none");
        expect(p(outputs({ rotation: { every: "1d" } }, {}, 3 * DAY), inputs({ rotation: { every: "1d" } })).p.kind).toBe("replace");
    });

    it("rotate in place: a rotation with overlap is an update that keeps the old key", () => {
        const { p: plan, d } = p(outputs({ rotation: { generation: 1, overlap: "1h" } }), inputs({ rotation: { generation: 2, overlap: "1h" }, rotationDue: "rotation due" }));
        expect(plan).toMatchObject({ kind: "rotate", reason: "rotation generation 1 → 2" });
        expect(d).toMatchObject({ changes: true, replaces: [], stables: ["scope"], detailedDiff: { rotationDue: "update" } });
    });

    it("rotate in place: names unique and a stale predecessor, even without overlap", () => {
        expect(unique(outputs({ rotation: { generation: 1 } }), inputs({ rotation: { generation: 2 }, predecessor: "mem-9" })).p.kind).toBe("rotate");
        expect(unique(outputs({ rotation: { generation: 1 } }), inputs({ rotation: { generation: 2 }, predecessor: "mem-1" })).p.kind).toBe("replace");
    });

    it("update, retire: the previous slot's overlap is over", () => {
        const { p: plan, d } = p(outputs({}, { previous: previous(T0 - 1) }), inputs());
        expect(plan).toMatchObject({ kind: "update", slot: "retire" });
        expect(d).toMatchObject({ changes: true, replaces: [] });
    });

    it("update, extend: over, but its consumers still lack the current key", () => {
        expect(p(outputs({}, { previous: previous(T0 - 1) }), inputs({ holdPrevious: "mem-0" })).p).toMatchObject({ kind: "update", slot: "extend" });
    });

    it("update, arm: the consumers caught up, so the old key's vendor-side expiry is set", () => {
        expect(p(outputs({}, { previous: previous(T0 + H, false) }), inputs({ holdPrevious: "mem-1" })).p).toMatchObject({ kind: "update", slot: "arm" });
        expect(p(outputs({}, { previous: previous(T0 + H, true) }), inputs()).p.kind).toBe("none");
    });

    it("deferred: a due rotation waits while the consumers lack the current key; other changes still apply", () => {
        const olds = outputs({ rotation: { generation: 1, overlap: "1h" } }, { previous: previous(T0 - 1) });
        const held = { rotation: { generation: 2, overlap: "1h" }, holdPrevious: "mem-0" };
        expect(p(olds, inputs(held)).p).toMatchObject({ kind: "update", slot: "extend", deferred: "rotation generation 1 → 2" });
        const quiet = outputs({ rotation: { generation: 1, overlap: "1h" } });
        expect(p(quiet, inputs({ ...held, label: "x" })).p).toMatchObject({ kind: "update", deferred: "rotation generation 1 → 2" });
        expect(p(quiet, inputs({ ...held, scope: "tenant-b" })).p.kind).toBe("replace");
    });

    it("deferred with nothing else to do is no change at all: a rotation by age waiting for consumers leaves the preview empty", () => {
        const policy = { every: "1d", overlap: "1h" };
        const old = outputs({ rotation: policy }, {}, 3 * DAY);
        const { p: plan, d } = p(old, inputs({ rotation: policy, holdPrevious: "mem-0" }));
        expect(plan.kind).toBe("none");
        expect(d.changes).toBe(false);
        // A generation bump is a change of the policy itself, shown (and kept out of state) until it can rotate.
        expect(p(old, inputs({ rotation: { ...policy, generation: 1 }, holdPrevious: "mem-0" })).p).toMatchObject({ kind: "update", deferred: "rotation generation 0 → 1" });
    });

    it("a slot step shows the program's new reason (retiring the previous key), and only a new one", () => {
        const olds = outputs({}, { previous: previous(T0 - 1) });
        expect(p(olds, inputs({ rotationDue: "previous key retiring" })).d.detailedDiff).toEqual({ rotationDue: "update" });
        expect(p({ ...olds, rotationDue: "previous key retiring" }, inputs({ rotationDue: "previous key retiring" })).d.detailedDiff).toEqual({});
    });

    it("reconcile: a pending rotation whose only change is the rotation itself is finished in place", () => {
        const { p: plan, d } = p(outputs({ rotation: { generation: 1 } }, { pending: { since: new Date(T0).toISOString(), replacing: "mem-1" } }), inputs({ rotation: { generation: 2 } }));
        expect(plan).toMatchObject({ kind: "reconcile", replacing: "mem-1", replaceFirst: [] });
        expect(d).toMatchObject({ changes: true, replaces: [] });
    });

    it("reconcile: a pending create is reconciled by the update, with the engine's own input comparison", () => {
        const pending = outputs({}, { pending: { since: new Date(T0).toISOString() } });
        const { p: plan, d } = p(pending, inputs());
        expect(plan).toMatchObject({ kind: "reconcile", replacing: null, replaceFirst: [] });
        expect(d).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false, detailedDiff: undefined });
    });

    it("reconcile: a pending create whose key must move is replaced, deleting what it made first", () => {
        const { d } = p(outputs({}, { pending: { since: new Date(T0).toISOString() } }), inputs({ scope: "tenant-b" }));
        expect(d).toMatchObject({ changes: true, replaces: ["scope"], deleteBeforeReplace: true });
    });

    it("reconcile: a pending rotation whose key must move finishes the rotation first, in place", () => {
        const { p: plan, d } = p(outputs({}, { pending: { since: new Date(T0).toISOString(), replacing: "mem-1" } }), inputs({ scope: "tenant-b" }));
        expect(plan).toMatchObject({ kind: "reconcile", replacing: "mem-1", replaceFirst: [] });
        expect(d).toMatchObject({ changes: true, replaces: [], stables: ["scope"] });
    });
});

/** A provider over a fresh in-memory vendor, with the engine's calls as the tests make them. */
function engine(opts: MemOptions = { discovery: true }) {
    const store = new MemStore();
    const vendor = memoryVendor(store, opts) as VendorKeys<MemInputs, MemOutputs, MemRecord, { store: MemStore }>;
    const provider = keyProvider(vendor);
    return { store, provider };
}

describe("the provider's diff is the planner's, with the vendor's capabilities wired in", () => {
    it("the vendor's renewal rotates a key with no input change", async () => {
        const { provider } = engine({ discovery: true, renewal: (s) => (s.created && Date.parse(s.created) < T0 ? "expires within a tenth of its lifetime" : undefined) });
        at(T0);
        const d = await provider.diff!("mem-1", outputs({ predecessor: "mem-1" }), inputs({ predecessor: "mem-1" }));
        expect(d).toMatchObject({ changes: true, replaces: ["rotation"], rotation: "expires within a tenth of its lifetime" });
    });

    it("unique names make a rotation with a stale predecessor an in-place one", async () => {
        at(T0);
        const unique = engine({ discovery: true, uniqueNames: true });
        const plain = engine({ discovery: true });
        const olds = outputs({ rotation: { generation: 1 } });
        const news = inputs({ rotation: { generation: 2 }, predecessor: "mem-9" });
        expect(await unique.provider.diff!("mem-1", olds, news)).toMatchObject({ changes: true, replaces: [], stables: ["scope"] });
        expect(await plain.provider.diff!("mem-1", olds, news)).toMatchObject({ replaces: ["rotation"] });
    });
});

describe("plans executed against an in-memory vendor", () => {
    it("create, empty plan, update in place, delete; a delete of a missing key succeeds", async () => {
        const { store, provider } = engine();
        const made = await provider.create!(inputs());
        expect(store.live().map((k) => k.name)).toEqual(["ci"]);
        const outs = made.outs as MemOutputs;
        expect(await provider.diff!(made.id, outs, inputs({ predecessor: made.id }))).toMatchObject({ changes: false });
        const updated = await provider.update!(made.id, outs, inputs({ label: "ops", predecessor: made.id }));
        expect(store.keys.get(made.id)!.label).toBe("ops");
        expect((updated.outs as MemOutputs).label).toBe("ops");
        await provider.delete!(made.id, updated.outs as MemOutputs);
        expect(store.live()).toEqual([]);
        await provider.delete!(made.id, updated.outs as MemOutputs);
    });

    it("rotate in place: the new key first, the old one kept with its vendor-side expiry, then retired after the overlap", async () => {
        at(T0);
        const { store, provider } = engine({ discovery: true, expiry: true });
        const rot = (generation: number) => ({ rotation: { generation, overlap: "1h" } });
        const made = await provider.create!(inputs(rot(1)));
        expect(made.outs).not.toHaveProperty("previous");
        expect(made.outs).not.toHaveProperty("previousValue");
        const news = inputs({ ...rot(2), predecessor: made.id });
        expect((await provider.diff!(made.id, made.outs as MemOutputs, news)).replaces).toEqual([]);
        const rotated = (await provider.update!(made.id, made.outs as MemOutputs, news)).outs as MemOutputs;
        expect(store.live()).toHaveLength(2);
        expect(rotated.currentId).not.toBe(made.id);
        expect(rotated.previous).toMatchObject({ id: made.id, retireAt: new Date(T0 + H).toISOString(), armed: true });
        expect(rotated.previousValue).toBe(`secret-${made.id}`);
        expect(store.keys.get(made.id)!.expiresAt).toBe(new Date(T0 + H).toISOString());
        at(T0 + 2 * H);
        const later = inputs({ ...rot(2), predecessor: rotated.currentId });
        expect(await provider.diff!(made.id, rotated, later)).toMatchObject({ changes: true, replaces: [] });
        const retired = (await provider.update!(made.id, rotated, later)).outs as MemOutputs;
        expect(store.live().map((k) => k.id)).toEqual([rotated.currentId]);
        expect(retired).toMatchObject({ previousRetireAt: null });
        // An empty slot is no property: the engine encrypts a secret null as it does a key.
        expect(retired).not.toHaveProperty("previous");
        expect(retired).not.toHaveProperty("previousValue");
        const read = await provider.read!(made.id, retired);
        expect(read.props).not.toHaveProperty("previous");
        expect(read.props).not.toHaveProperty("previousValue");
        // Older state's null slot is read back as it was: a refresh shows no change after an upgrade.
        const older = { ...retired, previous: null, previousValue: null };
        expect((await provider.read!(made.id, older)).props).toMatchObject({ previous: null, previousValue: null });
    });

    it("replace where names are unique: the old key is renamed aside for its successor, then deleted by the engine", async () => {
        at(T0);
        const { store, provider } = engine({ discovery: true, uniqueNames: true });
        const made = await provider.create!(inputs({ rotation: { generation: 1 } }));
        const news = inputs({ rotation: { generation: 2 }, predecessor: made.id });
        expect(await provider.diff!(made.id, made.outs as MemOutputs, news)).toMatchObject({ replaces: ["rotation"], deleteBeforeReplace: false });
        const fresh = await provider.create!(news);
        expect(store.live().map((k) => k.name).sort()).toEqual(["ci", `ci (replaced 2026-12-01T00:00:00Z, ${made.id})`]);
        expect(store.keys.get(fresh.id)!.name).toBe("ci");
        await provider.delete!(made.id, made.outs as MemOutputs);
        expect(store.live().map((k) => k.id)).toEqual([fresh.id]);
    });

    it("compensation: a new key its probe refuses is deleted, and the old key gets its name back", async () => {
        const { store, provider } = engine({ discovery: true, uniqueNames: true, verify: true });
        const made = await provider.create!(inputs({ rotation: { generation: 1 } }));
        store.faults.rejectProbes = true;
        const err = await provider.create!(inputs({ rotation: { generation: 2, verify: true }, predecessor: made.id })).catch((e: Error) => e);
        expect((err as Error).message).toMatch(/^creating Memory key "ci" in tenant-a failed: verifying the new key failed: GET mem:\/\/whoami answered "401".*the current key mem-1 was kept/);
        expect(store.live().map((k) => [k.id, k.name])).toEqual([[made.id, "ci"]]);
    });

    it("a lost answer is looked up, never repeated: one key, taken over", async () => {
        const { store, provider } = engine();
        store.faults.loseCreates = 1;
        const made = await provider.create!(inputs());
        expect(store.live()).toHaveLength(1);
        expect(made.id).toBe(store.live()[0].id);
        expect(store.calls.filter((c) => c.startsWith("create"))).toHaveLength(1);
    });

    it("a lost answer that cannot be looked up is recorded as pending; the next update takes the key over", async () => {
        const { store, provider } = engine();
        store.faults.loseCreates = 1;
        store.faults.failFinds = 1;
        const err = await provider.create!(inputs()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PartialCreate);
        const pending = (err as PartialCreate).properties as unknown as MemOutputs;
        expect(pending.pending).toMatchObject({ since: expect.any(String) });
        expect(await provider.diff!((err as PartialCreate).id, pending, inputs())).toMatchObject({ changes: true, replaces: [] });
        const done = (await provider.update!((err as PartialCreate).id, pending, inputs())).outs as MemOutputs;
        expect(store.live()).toHaveLength(1);
        expect(done).toMatchObject({ currentId: store.live()[0].id, pending: null, note: "took over the key of a create whose answer was lost" });
    });

    it("a rotation in place from older state (its empty slot an explicit null) that loses its answer leaves no slot property in what the engine records", async () => {
        at(T0);
        const { store, provider } = engine({ discovery: true, expiry: true });
        const rot = (generation: number) => ({ rotation: { generation, overlap: "1h" } });
        const made = await provider.create!(inputs(rot(1)));
        const older = { ...(made.outs as MemOutputs), previous: null, previousValue: null };
        store.faults.loseCreates = 1;
        store.faults.failFinds = 1;
        const err = await provider.update!(made.id, older, inputs({ ...rot(2), predecessor: made.id })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PartialCreate);
        const recorded = (err as PartialCreate).properties;
        expect(recorded).toMatchObject({ pending: { replacing: made.id } });
        expect(recorded).not.toHaveProperty("previous");
        expect(recorded).not.toHaveProperty("previousValue");
    });

    it("adoption takes over the named key once, making none", async () => {
        const { store, provider } = engine();
        const theirs = store.make("tenant-a", "ci", null, true, "someone");
        const made = await provider.create!(inputs({ adopt: true }));
        expect(made.id).toBe(theirs.id);
        expect((made.outs as MemOutputs).note).toBe("adopted");
        expect(store.live()).toHaveLength(1);
    });

    it("without discovery, a lost answer is said with the vendor's own words and its hint, and the create is not repeated", async () => {
        const { store, provider } = engine({ discovery: false, lostCreate: "the key may exist; it expires unused" });
        store.faults.loseCreates = 1;
        await expect(provider.create!(inputs())).rejects.toThrow(/^creating Memory key "ci" in tenant-a failed: connection reset.*; the key may exist; it expires unused/);
        expect(store.calls.filter((c) => c.startsWith("create"))).toHaveLength(1);
    });

    it("a deferred rotation keeps the policy it is due under in state, so the next run still rotates", async () => {
        at(T0);
        const { store, provider } = engine({ discovery: true, expiry: true });
        const made = await provider.create!(inputs({ rotation: { generation: 1, overlap: "1h" } }));
        const held = inputs({ rotation: { generation: 2, overlap: "1h" }, predecessor: made.id, holdPrevious: "mem-0", label: "x" });
        const outs = (await provider.update!(made.id, made.outs as MemOutputs, held)).outs as MemOutputs;
        expect(outs.rotation).toEqual({ generation: 1, overlap: "1h" });
        expect(outs.label).toBe("x");
        expect(store.live()).toHaveLength(1);
        const caught = inputs({ rotation: { generation: 2, overlap: "1h" }, predecessor: made.id, holdPrevious: made.id, label: "x" });
        expect(await provider.diff!(made.id, outs, caught)).toMatchObject({ changes: true, replaces: [] });
    });

    it("an adopted key past its rotation age is replaced in the same run, the adopted one deleted", async () => {
        at(T0);
        const { store, provider } = engine();
        const theirs = store.make("tenant-a", "ci", null, true, "someone");
        theirs.created = new Date(T0 - 10 * DAY).toISOString();
        const made = await provider.create!(inputs({ adopt: true, rotation: { every: "7d" } }));
        expect(made.id).not.toBe(theirs.id);
        expect((made.outs as MemOutputs).note).toBe("adopted, then rotated: older than 7d");
        expect(store.live().map((k) => k.id)).toEqual([made.id]);
    });

    it("a create whose answer lacks the value is completed by reveal; a failed reveal deletes the key", async () => {
        const { store, provider } = engine();
        store.faults.hideValues = true;
        const made = await provider.create!(inputs());
        expect((made.outs as MemOutputs).apiKey).toBe(`secret-${made.id}`);
        store.faults.failReveals = 1;
        const err = (await provider.create!(inputs({ name: "other" })).catch((e: Error) => e)) as Error;
        expect(err.message).toMatch(/^creating Memory key "other" in tenant-a failed: 503 reading the new key's value failed: decrypt refused/);
        expect(store.live().map((k) => k.name)).toEqual(["ci"]);
    });
});
