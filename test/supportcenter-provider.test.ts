// The SupportCenter Plus key provider (the core's keyProvider over its lifecycle) driven directly,
// the way the engine calls it, against the sandbox over HTTP: reads of 250 keys through one paged
// list walk, owners without credentials refused before any call, a failed decrypt leaving nothing
// behind, adoption reading the value, and out-of-band changes (a deleted role, a deleted user).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setClock } from "../providers/shared/clock.ts";
import { asideName } from "../providers/shared/create.ts";
import { provider, type ScpKeyInputs, type ScpKeyOutputs } from "../providers/supportcenter/lifecycle.ts";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";

let t: ScpTestSandbox;
let owners = "";
const configure = () =>
    provider.configure({ config: { get: (k: string) => ({ "keyfleet:supportcenter": JSON.stringify({ url: t.url }), "keyfleet:supportcenterOwners": owners })[k] } });

beforeAll(async () => {
    t = await startScp();
    owners = t.owners();
    await configure();
});
afterAll(() => t.close());

const raw = (name: string, over: Partial<ScpKeyInputs> = {}) => ({ vendor: "supportcenter", name, roles: ["Technician"], owner: "admin", ...over });
async function checked(news: Record<string, unknown>): Promise<ScpKeyInputs> {
    const result = await provider.check!({} as ScpKeyInputs, news as unknown as ScpKeyInputs);
    expect(result.failures ?? []).toEqual([]);
    return result.inputs as ScpKeyInputs;
}
const calls = () => t.sandbox.stats.total;

// Before the tests that delete jane from the sandbox.
describe("SupportCenter Plus provider, owner change with an edit", () => {
    it("a refused edit leaves the key with its owner: edits run first as that owner, the reassignment last", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-move")));
        await provider.create(await checked(raw("p-taken")));
        const state = outs as ScpKeyOutputs;
        const err = await provider.update!(id, state, await checked(raw("P-TAKEN", { owner: "jane" }))).catch((e: Error) => e);
        // The operation's own hint for a taken name: an update has nothing to adopt.
        expect((err as Error).message).toMatch(/^updating SupportCenter Plus integration key "P-TAKEN" failed: 4008 .*; SupportCenter Plus names are unique .*: choose another name$/);
        expect((err as Error).message).not.toContain("adopt");
        // Nothing half-applied: the key still belongs to admin, as state says, under its old name.
        expect(t.sandbox.keys.get(id)).toMatchObject({ name: "p-move", ownerId: t.users.admin.id });
        // So the next run, from the same state, applies both: the edit as admin, then the reassignment.
        const { outs: after } = await provider.update!(id, state, await checked(raw("p-moved", { owner: "jane" })));
        expect(after).toMatchObject({ keyId: id, name: "p-moved", owner: "jane", ownerId: t.users.jane.id, apiKey: state.apiKey });
        expect(t.sandbox.keys.get(id)).toMatchObject({ name: "p-moved", ownerId: t.users.jane.id, value: state.apiKey });
    });
});

describe("SupportCenter Plus provider, lost answers", () => {
    it("a create whose answer is lost takes over the key it made, once", async () => {
        t.sandbox.loseNext("POST /api/v3/integration_keys");
        const { id, outs } = await provider.create(await checked(raw("p-lost-made")));
        expect(t.sandbox.keys.get(id)).toMatchObject({ name: "p-lost-made", ownerId: t.users.admin.id, value: (outs as ScpKeyOutputs).apiKey });
        expect([...t.sandbox.keys.values()].filter((k) => k.name === "p-lost-made")).toHaveLength(1);
    });

    for (const how of ["html", "truncated", "shape"] as const) {
        it(`a create answered 200 with an unreadable body (${how}) takes over the key it made, once (issue 17, defect 3)`, async () => {
            t.sandbox.garbleNext("POST /api/v3/integration_keys", how);
            const { id, outs } = await provider.create(await checked(raw(`p-garbled-${how}`)));
            expect(t.sandbox.keys.get(id)).toMatchObject({ name: `p-garbled-${how}`, ownerId: t.users.admin.id, value: (outs as ScpKeyOutputs).apiKey });
            expect([...t.sandbox.keys.values()].filter((k) => k.name === `p-garbled-${how}`)).toHaveLength(1);
        });
    }

    it("with this machine 10 minutes fast, a lost create's lookup matches on the instance's clock (its Date header) and takes the key over (issue 17, defect 5)", async () => {
        const restore = setClock(() => Date.now() + 10 * 60_000);
        try {
            t.sandbox.loseNext("POST /api/v3/integration_keys");
            const { id, outs } = await provider.create(await checked(raw("p-skew")));
            expect(t.sandbox.keys.get(id)).toMatchObject({ name: "p-skew", value: (outs as ScpKeyOutputs).apiKey });
            expect([...t.sandbox.keys.values()].filter((k) => k.name === "p-skew")).toHaveLength(1);
        } finally {
            restore();
        }
    });

    it("an overlap rotation whose new key is committed but unanswered, and cannot be looked up, keeps the current key; the next up moves it into the previous slot and retires it after the overlap (issue 17, defect 1)", async () => {
        const rotation = { overlap: "2d" as const };
        const existing = new Set(t.sandbox.keys.keys());
        // Every live key this test made (an aside name keeps only the start of the name).
        const keys = () => [...t.sandbox.keys.values()].filter((k) => !existing.has(k.id));
        const first = await provider.create(await checked(raw("p-pending-overlap", { rotation })));
        const state = first.outs as ScpKeyOutputs;
        const news = await checked(raw("p-pending-overlap", { rotation: { ...rotation, generation: 1 }, predecessor: first.id }));
        expect(await provider.diff!(first.id, state, news)).toMatchObject({ changes: true, replaces: [] });
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        // First POST: 4008 (the current key holds the name), which is renamed aside (one list walk: two
        // pages); the second POST is committed but its answer lost, and the lookup cannot list the keys.
        t.sandbox.loseNext("POST /api/v3/integration_keys", 1);
        for (let i = 0; i < 8; i++) t.sandbox.failNext("GET /api/v3/integration_keys", 503, "unavailable", 2);
        const err = (await provider.update!(first.id, state, news).catch((e) => e)) as Error & { properties?: ScpKeyOutputs };
        t.sandbox.clearFaults();
        process.env.KEYFLEET_RETRY_BUDGET_MS = "";
        // What the engine records for the failed update: the current key and the attempt, not the attempt alone.
        const pending = err.properties!;
        expect(pending).toMatchObject({ keyId: first.id, apiKey: state.apiKey, currentId: first.id, pending: { replacing: first.id } });
        expect(err.message).toMatch(/the outcome is unknown.*the current key \d+ stays current until then/);
        const made = keys().filter((k) => k.id !== first.id);
        expect(made).toHaveLength(1);
        expect(await provider.read!(first.id, pending)).toEqual({ id: first.id, props: pending });
        // The next up: the lost key is taken over, the old one moves into the previous slot with its validity.
        const next = await checked(raw("p-pending-overlap", { rotation: { ...rotation, generation: 1 }, predecessor: first.id }));
        expect((await provider.diff!(first.id, pending, next)).changes).toBe(true);
        const { outs } = await provider.update!(first.id, pending, next);
        expect(outs).toMatchObject({ keyId: made[0].id, currentId: made[0].id, apiKey: made[0].value, pending: null, previousValue: state.apiKey, previous: { id: first.id } });
        const retireAt = Date.parse(outs!.previousRetireAt!);
        expect(retireAt - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
        const validity = t.sandbox.keys.get(first.id)!.validity;
        expect(validity).not.toBe(0);
        expect(Math.abs(validity - retireAt)).toBeLessThan(86_400_000);
        expect(t.sandbox.keys.get(made[0].id)!.name).toBe("p-pending-overlap");
        expect(keys()).toHaveLength(2);
        // The first up after the overlap retires the old key: one key left, the current one.
        const restore = setClock(() => retireAt + 60_000);
        try {
            expect(await provider.diff!(first.id, outs as ScpKeyOutputs, next)).toMatchObject({ changes: true, replaces: [] });
            const { outs: retired } = await provider.update!(first.id, outs as ScpKeyOutputs, next);
            expect(retired).toMatchObject({ keyId: made[0].id });
            expect(retired).not.toHaveProperty("previous");
            expect(retired).not.toHaveProperty("previousValue");
        } finally {
            restore();
        }
        expect(keys().map((k) => k.id)).toEqual([made[0].id]);
    });

    it("a lost create never takes a key of a user keyfleet does not act as for its own (madeByUs)", async () => {
        owners = t.owners(["admin"]);
        await configure();
        try {
            // The lost attempt made nothing; meanwhile jane, whom this stack does not act as, made a key of that name.
            const since = new Date(Date.now() - 1000).toISOString();
            const theirs = await t.client.create(t.as("jane"), { name: "p-lost", roles: [{ id: "302", name: "Technician" }] });
            const pendingState = { ...(await checked(raw("p-lost"))), pending: { since } } as unknown as ScpKeyOutputs;
            const restore = setClock(() => Date.now() + 30_000);
            try {
                // Refresh: nothing of ours was made, so the pending resource is dropped (the next up creates it).
                expect(await provider.read!("pending_x", pendingState)).toEqual({});
                // Destroy of the pending resource deletes nothing of jane's.
                await provider.delete!("pending_x", pendingState);
            } finally {
                restore();
            }
            expect(t.sandbox.keys.get(theirs.id)).toMatchObject({ name: "p-lost", ownerId: t.users.jane.id });
        } finally {
            owners = t.owners();
            await configure();
        }
    });
});

describe("SupportCenter Plus provider", () => {
    it("creates a key whose value comes from the create answer (no decrypt) and whose id is the record id", async () => {
        t.sandbox.stats.reset();
        const { id, outs } = await provider.create(await checked(raw("p-create", { roles: ["Technician", "SDAdmin"], description: "d", expires: "2099-01-31T23:59:59.000Z" })));
        const record = t.sandbox.keys.get(id)!;
        expect(record).toMatchObject({ name: "p-create", description: "d", validity: Date.parse("2099-01-31T23:59:59.000Z"), ownerId: t.users.admin.id });
        expect(outs).toMatchObject({ keyId: id, apiKey: record.value, roles: ["SDAdmin", "Technician"], owner: "admin", status: "active", expires: "2099-01-31T23:59:59.000Z" });
        expect(t.sandbox.stats.byRoute["POST /api/v3/integration_keys/{id}/decrypt"] ?? 0).toBe(0);
        expect(await useScpKey(t.url, outs!.apiKey)).toBe(200);
    });

    it("refuses an unknown role by name before creating anything, listing the instance's roles", async () => {
        const before = t.sandbox.keys.size;
        const err = await provider.create(await checked(raw("p-role", { roles: ["SDadmin"] }))).catch((e: Error) => e);
        expect((err as Error).message).toMatch(/creating SupportCenter Plus integration key "p-role" failed: SupportCenter Plus has no role named "SDadmin" \(it has .*"SDAdmin".*fix roles:/);
        expect(t.sandbox.keys.size).toBe(before);
    });

    it("an owner without credentials fails before any call, naming that owner", async () => {
        const before = calls();
        const err = await provider.create(await checked(raw("p-owner", { owner: "tech" }))).catch((e: Error) => e);
        expect((err as Error).message).toContain('no credentials for owner "tech"');
        expect(calls()).toBe(before);
    });

    it("a create does not need the owner's login password (a wrong one changes nothing)", async () => {
        owners = JSON.stringify({ admin: { technicianKey: t.users.admin.technicianKey, password: "wrong" } });
        await configure();
        try {
            const { id, outs } = await provider.create(await checked(raw("p-decrypt")));
            expect(outs!.apiKey).toBe(t.sandbox.keys.get(id)!.value);
        } finally {
            owners = t.owners();
            await configure();
        }
    });

    it("adopting a key by name reads its value as its owner", async () => {
        const made = await t.client.create(t.as("jane"), { name: "p-adopt", roles: [{ id: "302", name: "Technician" }] });
        const { id, outs } = await provider.create(await checked(raw("p-adopt", { owner: "jane", adopt: true })));
        expect(id).toBe(made.id);
        expect(outs).toMatchObject({ owner: "jane", apiKey: t.sandbox.keys.get(made.id)!.value, note: "adopted" });
    });

    it("250 keys page correctly and 250 concurrent reads make one list walk", async () => {
        const states: ScpKeyOutputs[] = [];
        for (let i = 0; i < 250; i++) {
            const k = await t.client.create(t.as(i % 2 ? "admin" : "jane"), { name: `bulk ${i}`, roles: [{ id: "302", name: "Technician" }], status: i % 3 ? "active" : "inactive" });
            states.push({ ...(await checked(raw(`bulk ${i}`, { owner: i % 2 ? "admin" : "jane" }))), keyId: k.id, ownerId: k.owner.id, apiKey: "kept", roles: ["Technician"] } as ScpKeyOutputs);
        }
        const total = t.sandbox.keys.size;
        expect(total).toBeGreaterThan(250);
        t.sandbox.stats.reset();
        // A new process, as a refresh is: no list walked in the last seconds is reused.
        const restore = setClock(() => Date.now() + 60_000);
        const reads = await Promise.all(states.map((s) => provider.read!(s.keyId, s))).finally(restore);
        // One walk: ceil(total / 100) pages of the key list, and nothing else.
        expect(t.sandbox.stats.byRoute).toEqual({ "GET /api/v3/integration_keys": Math.ceil(total / 100) });
        reads.forEach((r, i) => {
            expect(r.id).toBe(states[i].keyId);
            expect(r.props).toMatchObject({ name: `bulk ${i}`, status: i % 3 ? "active" : "inactive", owner: i % 2 ? "admin" : "jane", apiKey: "kept" });
        });
        // A write forgets the walk: the next read sees the change.
        t.sandbox.stats.reset();
        const changed = await provider.update!(states[1].keyId, states[1], { ...states[1], description: "edited" });
        expect(changed.outs).toMatchObject({ description: "edited", apiKey: "kept" });
        const again = await provider.read!(states[1].keyId, changed.outs as ScpKeyOutputs);
        expect(again.props).toMatchObject({ description: "edited" });
        expect(t.sandbox.stats.byRoute["GET /api/v3/integration_keys"]).toBe(Math.ceil(total / 100));
        for (const s of states) t.sandbox.deleteKey(s.keyId);
    });

    it("refresh reports a role deleted in the product and the new owner of a deleted user's key", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-drift", { owner: "jane", roles: ["Integration Auditor", "Technician"] })));
        t.sandbox.deleteRole("Integration Auditor");
        t.sandbox.deleteUser("jane", "admin");
        await new Promise((r) => setTimeout(r, 0));
        const read = await provider.read!(id, outs as ScpKeyOutputs);
        expect(read.props).toMatchObject({ roles: ["Technician"], deletedRoles: ["Integration Auditor"], owner: "admin", ownerId: t.users.admin.id });
        // A later refresh still reports it: state's roles are the record's now, the report is carried.
        const restore = setClock(() => Date.now() + 30_000);
        const again = await provider.read!(id, read.props as ScpKeyOutputs).finally(restore);
        expect(again.props).toMatchObject({ roles: ["Technician"], deletedRoles: ["Integration Auditor"] });
        // The YAML still names jane: the reassignment is refused with what to do.
        const state = again.props as ScpKeyOutputs;
        const err = await provider.update!(id, state, { ...state, owner: "jane", roles: ["Technician"] }).catch((e: Error) => e);
        expect((err as Error).message).toMatch(/no user with the login "jane".*set owner: to that admin/);
    });
});

describe("SupportCenter Plus provider, aside names", () => {
    it("two keys whose names share their first 18 characters, rotated in one up at the same second, get distinct aside names (issue 17, defect 10)", async () => {
        // 20 characters each: the stamp alone left 18 of the 50 for the name, so both aside names were equal.
        const names = ["p-aside-collide-0001", "p-aside-collide-0002"];
        const firsts = await Promise.all(names.map(async (n) => provider.create(await checked(raw(n)))));
        const news = await Promise.all(names.map((n, i) => checked(raw(n, { rotation: { generation: 1 }, predecessor: firsts[i].id }))));
        const at = Date.parse("2026-12-03T08:00:00.000Z");
        const restore = setClock(() => at);
        let seconds;
        try {
            seconds = await Promise.all(news.map((n) => provider.create(n)));
        } finally {
            restore();
        }
        for (const [i, n] of names.entries()) {
            expect(t.sandbox.keys.get(seconds[i].id)).toMatchObject({ name: n });
            const aside = t.sandbox.keys.get(firsts[i].id)!.name;
            expect(aside.length).toBeLessThanOrEqual(50);
            expect(aside).toContain(firsts[i].id);
            expect(aside).toMatch(/^p-aside-\S* \(replaced 2026-12-03, \d+\)$/);
        }
        expect(t.sandbox.keys.get(firsts[0].id)!.name).not.toBe(t.sandbox.keys.get(firsts[1].id)!.name);
        for (const [i] of names.entries()) await provider.delete!(firsts[i].id, firsts[i].outs as ScpKeyOutputs);
    });

    it("an aside name keeps the whole id within the vendor's limit, giving way first the time, then the stamp, then the name", () => {
        expect(asideName("web chat", "2026-12-03T08:00:00Z", "nxk_0123456789abcdef")).toBe("web chat (replaced 2026-12-03T08:00:00Z, nxk_0123456789abcdef)");
        expect(asideName("a".repeat(50), "2026-12-03T08:00:00Z", "100000000000000042", 50)).toBe(`${"a".repeat(8)} (replaced 2026-12-03, 100000000000000042)`);
        expect(asideName("a".repeat(50), "2026-12-03T08:00:00Z", "100000000000000042", 30)).toBe(`${"a".repeat(9)} (100000000000000042)`);
    });
});

describe("SupportCenter Plus provider, keys gone", () => {
    it("read of a key deleted in the product returns no id; delete of it succeeds", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-gone")));
        t.sandbox.deleteKey(id);
        const restore = setClock(() => Date.now() + 120_000);
        try {
            expect(await provider.read!(id, outs as ScpKeyOutputs)).toEqual({});
        } finally {
            restore();
        }
        await provider.delete!(id, outs as ScpKeyOutputs);
    });
});

describe("SupportCenter Plus provider, a name only a deleted key holds", () => {
    it("a 4008 for it says the deleted key holds the name and that another name is the way on", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-held")));
        await provider.delete!(id, outs as ScpKeyOutputs);
        // Deleted keys stay in the product's list; whether they keep their names no source shows.
        t.sandbox.deletedKeysHoldNames = true;
        try {
            const err = (await provider.create(await checked(raw("P-Held"))).catch((e: Error) => e)) as Error;
            expect(err.message).toMatch(new RegExp(`held only by the deleted key ${id}.*give this key another name in the YAML`));
        } finally {
            t.sandbox.deletedKeysHoldNames = false;
        }
        // A name a live key holds still gets the usual advice (adopt or rename).
        await provider.create(await checked(raw("p-live")));
        const live = (await provider.create(await checked(raw("p-live"))).catch((e: Error) => e)) as Error;
        expect(live.message).toMatch(/adopt the existing one/);
        expect(live.message).not.toMatch(/deleted key/);
    });
});

describe("SupportCenter Plus provider, expiry kept as 23:59 of the day", () => {
    it("a product that keeps whole days (23:59) is no drift for the YAML's date, nor for a time on that day", async () => {
        t.sandbox.validityPerDay = true;
        try {
            for (const expires of ["2099-03-01T23:59:00.000Z", "2099-03-01T12:00:00.000Z"]) {
                const inputs = await checked(raw(`p-day ${expires.slice(11, 13)}`, { expires }));
                const { id, outs } = await provider.create(inputs);
                expect(t.sandbox.keys.get(id)!.validity).toBe(Date.parse("2099-03-01T23:59:00.000Z"));
                const read = await provider.read!(id, outs as ScpKeyOutputs);
                expect(read.props).toMatchObject({ expires, validUntil: "2099-03-01T23:59:00.000Z" });
                expect(await provider.diff!(id, read.props as ScpKeyOutputs, inputs)).toMatchObject({ changes: false });
            }
        } finally {
            t.sandbox.validityPerDay = false;
        }
    });
});

describe("SupportCenter Plus provider, rename", () => {
    it("a new name (renamedFrom in the YAML) is an in-place edit: same record, same value", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-old-name")));
        const diff = await provider.diff!(id, outs as ScpKeyOutputs, await checked(raw("p-new-name")));
        expect(diff).toMatchObject({ changes: true, replaces: [] });
        const { outs: after } = await provider.update!(id, outs as ScpKeyOutputs, await checked(raw("p-new-name")));
        expect(after).toMatchObject({ keyId: id, name: "p-new-name", apiKey: (outs as ScpKeyOutputs).apiKey });
        expect(t.sandbox.keys.get(id)).toMatchObject({ name: "p-new-name", value: (outs as ScpKeyOutputs).apiKey });
    });
});

