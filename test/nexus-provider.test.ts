// The Nexus key provider (the core's keyProvider over the Nexus lifecycle) driven directly, the way
// the engine calls it (check, then diff/create/update/delete), against the sandbox over HTTP.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { provider, type NexusKeyInputs, type NexusKeyOutputs } from "../providers/nexus/lifecycle.ts";
import { fingerprint } from "../providers/shared/settings.ts";
import { setClock } from "../providers/shared/clock.ts";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";

let t: TestSandbox;
let configValues: Record<string, string> = {};
const configure = (over: Record<string, string> = {}) => provider.configure({ config: { get: (k: string) => over[k] ?? configValues[k] } });
beforeAll(async () => {
    t = await startSandbox();
    configValues = {
        "keyfleet:nexus": JSON.stringify({ authUrl: t.url, nexusUrl: t.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops" }),
        "keyfleet:nexusClientSecret": t.creds.clientSecret,
        "keyfleet:nexusTenantPassword": t.creds.tenantPassword,
        "keyfleet:nexusOpsPassword": t.creds.opsPassword,
    };
    await configure();
});
afterAll(() => t.close());
afterEach(() => {
    process.env.KEYFLEET_RETRY_BUDGET_MS = "";
});

type Raw = Partial<Omit<NexusKeyInputs, "tenant">> & { tenant?: string };
const raw = (name: string, over: Raw = {}): Raw => ({ vendor: "nexus", kind: "tenant", tenant: CC, name, permissions: ["nexus:consumer:chat"], ...over });
/** What the engine hands create: check's inputs for a resource not in state yet (or, with `olds`, one that is). */
async function checked(news: Raw, olds: Partial<NexusKeyInputs> = {}): Promise<NexusKeyInputs> {
    const result = await provider.check!(olds as NexusKeyInputs, news as NexusKeyInputs);
    expect(result.failures ?? []).toEqual([]);
    return result.inputs as NexusKeyInputs;
}
const byName = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name === name);
const named = (prefix: string) => [...t.sandbox.keys.values()].filter((k) => k.name.startsWith(prefix));

describe("Nexus provider", () => {
    it("check returns failures as {property, reason} from the YAML's own field schemas", async () => {
        const result = await provider.check!({} as NexusKeyInputs, { vendor: "nexus", kind: "cluster", tenant: "*", name: "   ", permissions: ["nexus:consumer:chat"] } as never);
        expect(result.failures).toEqual([
            { property: "name", reason: "name: must not be blank" },
            { property: "permissions", reason: 'permissions: unknown permission "nexus:consumer:chat" for a cluster key; expected nexus:cluster:*' },
        ]);
    });

    it("creates a key whose value is a secret output and whose id is a fingerprint", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-create", { expires: "2027-01-31T23:59:59.000Z" })));
        const record = t.sandbox.keys.get(outs!.apiKey)!;
        expect(record).toMatchObject({ name: "p-create", tenant: CC, expires: "2027-01-31T23:59:59.000Z" });
        expect(id).toBe(fingerprint("nxk_", outs!.apiKey));
        expect(outs).toMatchObject({ fingerprint: id, capacity: 120, frequency: 60, createdBy: `${CC}\\nexus`, predecessor: null, note: null });
    });

    it("creates tenant keys with nexus:consumer:* and with a Secure Mail permission the deployment names", async () => {
        const star = await provider.create(await checked(raw("p-star", { permissions: ["nexus:consumer:*"] })));
        expect(t.sandbox.keys.get(star.outs!.apiKey)!.permissions).toEqual(["nexus:consumer:*"]);
        // The YAML's rules checked it against keyfleet:nexus.permissions; check accepts its form.
        const mail = await provider.create(await checked(raw("p-mail", { permissions: ["nexus:consumer:securemail"] })));
        expect(t.sandbox.keys.get(mail.outs!.apiKey)!.permissions).toEqual(["nexus:consumer:securemail"]);
        const bad = await provider.check!({} as NexusKeyInputs, raw("p-bad", { permissions: ["consumer chat"] }) as never);
        expect(bad.failures).toEqual([{ property: "permissions", reason: 'permissions: unknown permission "consumer chat" for a tenant key; expected nexus:consumer:chat or nexus:consumer:* or nexus:designer:chat' }]);
    });

    it("the stack setting nexus.requestStyle scripts sends Bearer and {\"data\": …} bodies", async () => {
        const box = await startSandbox({ requireStyle: "scripts" });
        try {
            const nexus = JSON.stringify({ authUrl: box.url, nexusUrl: box.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops", requestStyle: "scripts" });
            await configure({ "keyfleet:nexus": nexus, "keyfleet:nexusClientSecret": box.creds.clientSecret, "keyfleet:nexusTenantPassword": box.creds.tenantPassword });
            const { outs } = await provider.create(await checked(raw("p-style")));
            expect(box.sandbox.keys.get(outs!.apiKey)!.name).toBe("p-style");
            expect(box.sandbox.styles).toMatchObject({ bareToken: 0, bareBody: 0 });
            // An unknown style is refused, naming the setting, before any request.
            const calls = box.sandbox.stats.total;
            await configure({ "keyfleet:nexus": nexus.replace('"scripts"', '"bearer"'), "keyfleet:nexusClientSecret": box.creds.clientSecret, "keyfleet:nexusTenantPassword": box.creds.tenantPassword });
            await expect(provider.create(await checked(raw("p-style-bad")))).rejects.toThrow(/keyfleet:nexus.requestStyle must be seed .* or scripts .*; it is "bearer"/);
            expect(box.sandbox.stats.total).toBe(calls);
        } finally {
            await configure();
            await box.close();
        }
    });

    it("sends an upper-case contact center id in lower case (defect 13)", async () => {
        const { outs } = await provider.create(await checked(raw("p-upper", { tenant: CC.toUpperCase() })));
        expect(t.sandbox.keys.get(outs!.apiKey)!.tenant).toBe(CC);
    });

    it("names the operation, the key, the vendor's answer and a fix when the name is taken", async () => {
        await t.client.create(t.tenantLogin, { tenant: CC, name: "ci", permissions: ["nexus:consumer:chat"], enabled: true });
        await expect(provider.create(await checked(raw("ci")))).rejects.toThrow(
            'creating Nexus tenant key "ci" for tenant 578e… failed: 409 name exists: an API key named "ci" already exists in tenant 578ec98e-f07c-46ad-9675-f36c22f3ba9f; rename it or adopt it (adopt: true in the YAML)',
        );
        expect(byName("ci")).toHaveLength(1);
    });

    it("leaves nothing behind when the follow-up update of a create fails", async () => {
        t.sandbox.failNext("PUT /nexus/v3/apikeys/{id}", 400, "refused");
        await expect(provider.create(await checked(raw("p-half", { enabled: false, revoked: true })))).rejects.toThrow(
            'creating Nexus tenant key "p-half" for tenant 578e… failed: 400 refused; check the key\'s entry in the YAML',
        );
        expect(byName("p-half")).toEqual([]);
    });

    it("replaces a key under the same name: new key first, old one renamed aside, then deleted", async () => {
        const first = await provider.create(await checked(raw("p-rotate")));
        const olds = first.outs as NexusKeyOutputs;
        const news = await checked(raw("p-rotate", { rotation: { generation: 1 }, predecessor: first.id }));
        expect(await provider.diff!(first.id, olds, news)).toMatchObject({ changes: true, replaces: ["rotation"] });
        const second = await provider.create(news);
        expect(second.outs!.apiKey).not.toBe(olds.apiKey);
        expect(t.sandbox.keys.get(second.outs!.apiKey)!.name).toBe("p-rotate");
        expect(t.sandbox.keys.get(olds.apiKey)!.name).toMatch(/^p-rotate \(replaced \d{4}-\d\d-\d\dT[\d:]+Z, nxk_[0-9a-f]{16}\)$/);
        expect(t.sandbox.keys.get(olds.apiKey)!.name).toContain(first.id);
        expect(await useKey(t.url, olds.apiKey)).toBe(200); // both work while the engine swaps them
        await provider.delete!(first.id, olds);
        expect(await useKey(t.url, olds.apiKey)).toBe(401);
        expect(await useKey(t.url, second.outs!.apiKey)).toBe(200);
    });

    it("replaces without a diff (pulumi up --replace): create alone makes a new key and frees the name (defect 2)", async () => {
        const first = await provider.create(await checked(raw("p-forced")));
        // A fresh process and no diff: only the predecessor input (from the last run's outputs) says whose name it may take.
        const news = await checked(raw("p-forced", { predecessor: first.id }));
        const second = await provider.create(news);
        expect(second.outs!.apiKey).not.toBe(first.outs!.apiKey);
        await provider.delete!(first.id, first.outs as NexusKeyOutputs);
        expect(byName("p-forced").map((k) => k.id)).toEqual([second.outs!.apiKey]);
    });

    it("replacing an adopted key without a diff makes a new key instead of re-adopting the old one (defect 2)", async () => {
        const existing = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-adopted", permissions: ["nexus:consumer:chat"], enabled: true });
        const first = await provider.create(await checked(raw("p-adopted", { adopt: true })));
        expect(first.outs!.apiKey).toBe(existing.id);
        const second = await provider.create(await checked(raw("p-adopted", { adopt: true, predecessor: first.id })));
        expect(second.outs!.apiKey).not.toBe(existing.id);
        await provider.delete!(first.id, first.outs as NexusKeyOutputs);
        expect(await useKey(t.url, existing.id)).toBe(401);
        expect(await useKey(t.url, second.outs!.apiKey)).toBe(200);
        expect(t.sandbox.keys.get(second.outs!.apiKey)!.name).toBe("p-adopted");
    });

    it("a rotation whose last-run record is stale never deletes the current key before its successor exists (issue 17, defect 4)", async () => {
        // Run 1 rotated A0 into A1 and failed elsewhere: the last-run record still names A0.
        const a0 = await provider.create(await checked(raw("p-stale")));
        const a1 = await provider.create(await checked(raw("p-stale", { rotation: { generation: 1 }, predecessor: a0.id })));
        await provider.delete!(a0.id, a0.outs as NexusKeyOutputs);
        const state = a1.outs as NexusKeyOutputs;
        // Run 2 rotates A again, with the stale record (or none at all: the first run after an upgrade).
        for (const predecessor of [a0.id, null]) {
            const stale = await checked(raw("p-stale", { rotation: { generation: 2 }, predecessor }));
            const plan = await provider.diff!(a1.id, state, stale);
            expect(plan).toMatchObject({ changes: true, replaces: [], deleteBeforeReplace: false });
        }
        const news = await checked(raw("p-stale", { rotation: { generation: 2 }, predecessor: a0.id }));
        // The vendor refuses the create: the current key A1 is untouched and still works under its name.
        t.sandbox.failNext("POST /nexus/v3/apikeys", 422, "refused");
        await expect(provider.update!(a1.id, state, news)).rejects.toThrow(/^creating Nexus .*"p-stale".* failed: 422/);
        expect(byName("p-stale").map((k) => k.id)).toEqual([state.apiKey]);
        expect(await useKey(t.url, state.apiKey)).toBe(200);
        // Accepted: the new key first, under the name; A1 moved aside into the previous slot, retired by the next up.
        const { outs } = await provider.update!(a1.id, state, news);
        expect(outs!.apiKey).not.toBe(state.apiKey);
        expect(byName("p-stale").map((k) => k.id)).toEqual([outs!.apiKey]);
        expect(outs).toMatchObject({ currentId: fingerprint("nxk_", outs!.apiKey), previousValue: state.apiKey, previous: { id: a1.id } });
        expect(t.sandbox.keys.get(state.apiKey)!.name).toContain(a1.id);
        const next = await checked(raw("p-stale", { rotation: { generation: 2 }, predecessor: outs!.currentId }));
        expect(await provider.diff!(a1.id, outs as NexusKeyOutputs, next)).toMatchObject({ changes: true, replaces: [] });
        const { outs: retired } = await provider.update!(a1.id, outs as NexusKeyOutputs, next);
        expect(retired).toMatchObject({ apiKey: outs!.apiKey });
        // The empty slot leaves no property (an encrypted null cost state bytes).
        expect(retired).not.toHaveProperty("previous");
        expect(retired).not.toHaveProperty("previousValue");
        expect(t.sandbox.keys.has(state.apiKey)).toBe(false);
        expect(named("p-stale").map((k) => k.id)).toEqual([outs!.apiKey]);
        // A replacement whose record names the current key is an ordinary one (new key first, old deleted by the engine).
        const known = await checked(raw("p-stale", { rotation: { generation: 3 }, predecessor: outs!.currentId }));
        expect(await provider.diff!(a1.id, retired as NexusKeyOutputs, known)).toMatchObject({ replaces: ["rotation"], deleteBeforeReplace: false });
    });

    it("a replacement never moves aside a key it does not own", async () => {
        const stranger = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-stranger", permissions: ["nexus:consumer:chat"], enabled: true });
        await expect(provider.create(await checked(raw("p-stranger", { predecessor: "nxk_0000000000000000" })))).rejects.toThrow(/409 name exists: an API key named "p-stranger" already exists in tenant [0-9a-f-]+; rename it or adopt it/);
        expect(t.sandbox.keys.get(stranger.id)!.name).toBe("p-stranger");
    });

    it("undoes a replacement whose follow-up update fails: new key deleted, old key's name restored", async () => {
        const first = await provider.create(await checked(raw("p-undo")));
        const news = await checked(raw("p-undo", { rotation: { generation: 1 }, expires: "2030-01-01T00:00:00.000Z", predecessor: first.id }));
        // The first PUT renames the old key aside; the second (the new key's expiry) fails.
        t.sandbox.failNext("PUT /nexus/v3/apikeys/{id}", 400, "refused", 1);
        await expect(provider.create(news)).rejects.toThrow('creating Nexus tenant key "p-undo" for tenant 578e… failed: 400 refused');
        expect(named("p-undo").map((k) => k.id)).toEqual([first.outs!.apiKey]);
        expect(byName("p-undo")).toHaveLength(1);
    });

    it("takes over the key of a create whose answer was lost, without creating a second (defect 1)", async () => {
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys");
        const { outs } = await provider.create(await checked(raw("p-lost")));
        expect(byName("p-lost").map((k) => k.id)).toEqual([outs!.apiKey]);
        expect(t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"]).toBeGreaterThan(0);
    });

    it("a rotation whose second POST is committed but unanswered converges in the same call (defect 1)", async () => {
        const first = await provider.create(await checked(raw("p-lost-rotate")));
        const news = await checked(raw("p-lost-rotate", { rotation: { generation: 1 }, predecessor: first.id }));
        // First POST: 409 (the old key holds the name); it is renamed aside; the second POST is lost.
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys", 1);
        const second = await provider.create(news);
        expect(byName("p-lost-rotate").map((k) => k.id)).toEqual([second.outs!.apiKey]);
        await provider.delete!(first.id, first.outs as NexusKeyOutputs);
        expect(named("p-lost-rotate")).toHaveLength(1);
    });

    for (const how of ["html", "truncated", "shape"] as const) {
        it(`an unreadable 2xx answer to a create (${how}) is an unknown outcome: the key is looked up and taken over, never orphaned (issue 17, defect 3)`, async () => {
            t.sandbox.garbleNextAnswer("POST /nexus/v3/apikeys", how);
            const { id, outs } = await provider.create(await checked(raw(`p-garbled-${how}`)));
            expect(byName(`p-garbled-${how}`).map((k) => k.id)).toEqual([outs!.apiKey]);
            expect(id).toBe(fingerprint("nxk_", outs!.apiKey));
            expect(outs).toMatchObject({ name: `p-garbled-${how}`, createdBy: `${CC}\\nexus` });
            // The name is not stuck: the key in state is the one holding it, and it can be deleted.
            await provider.delete!(id, outs as NexusKeyOutputs);
            expect(byName(`p-garbled-${how}`)).toEqual([]);
        });
    }

    it("a rotation whose new key's answer is unreadable takes that key over and frees nothing twice (issue 17, defect 3)", async () => {
        const first = await provider.create(await checked(raw("p-garbled-rotate")));
        const news = await checked(raw("p-garbled-rotate", { rotation: { generation: 1 }, predecessor: first.id }));
        // First POST: 409 (the old key holds the name); it is renamed aside; the second POST's 200 is an HTML page.
        t.sandbox.garbleNextAnswer("POST /nexus/v3/apikeys", "html", 1);
        const second = await provider.create(news);
        expect(byName("p-garbled-rotate").map((k) => k.id)).toEqual([second.outs!.apiKey]);
        await provider.delete!(first.id, first.outs as NexusKeyOutputs);
        expect(named("p-garbled-rotate")).toHaveLength(1);
    });

    it("with this machine 10 minutes fast, a lost create's lookup matches on Nexus's clock (its Date header) and takes the key over (issue 17, defect 5)", async () => {
        const restore = setClock(() => Date.now() + 10 * 60_000);
        try {
            t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys");
            const { outs } = await provider.create(await checked(raw("p-skew")));
            expect(byName("p-skew").map((k) => k.id)).toEqual([outs!.apiKey]);
            await provider.delete!(outs!.fingerprint, outs as NexusKeyOutputs);
        } finally {
            restore();
        }
    });

    it("with this machine 10 minutes fast and no Date header to settle it, the error names the clock as the cause (issue 17, defect 5)", async () => {
        const restore = setClock(() => Date.now() + 10 * 60_000);
        const box = await startSandbox();
        box.sandbox.dateHeader = false;
        try {
            await configure({
                "keyfleet:nexus": JSON.stringify({ authUrl: box.url, nexusUrl: box.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops" }),
                "keyfleet:nexusClientSecret": box.creds.clientSecret,
                "keyfleet:nexusTenantPassword": box.creds.tenantPassword,
            });
            box.sandbox.loseNextAnswer("POST /nexus/v3/apikeys");
            const err = (await provider.create(await checked(raw("p-skew-unknown"))).catch((e) => e)) as Error;
            const [made] = [...box.sandbox.keys.values()].filter((k) => k.name === "p-skew-unknown");
            expect(err.message).toMatch(/^creating Nexus .*failed: 409 .*; the name is held by key nxk_[0-9a-f]{16}, made by keyfleet's account at .*, 10 min before this create started .* outside the 2-minute window .*; the vendor's answers carry no Date header, so its clock could not be compared with this machine's\. If this machine's clock is off, correct it \(NTP\) and run up again; if that key is the one this create made, take it over with adopt: true/);
            expect(err.message).toContain(fingerprint("nxk_", made.id));
            expect(err.message).not.toContain(made.id);
        } finally {
            restore();
            await configure();
            await box.close();
        }
    });

    it("a lost answer that cannot be looked up is recorded as pending and reconciled by the next run (defect 1)", async () => {
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys");
        t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable");
        t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable");
        t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable");
        t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable");
        const inputs = await checked(raw("p-pending"));
        const err = (await provider.create(inputs).catch((e) => e)) as Error & { id?: string; properties?: NexusKeyOutputs };
        expect(err.message).toMatch(/the outcome is unknown.*the next `pulumi up` finds the key and takes it over/);
        expect(err.message).not.toMatch(/check the endpoint/);
        expect(err.id).toMatch(/^pending_/);
        const pending = err.properties!;
        expect(pending.pending).toBeTruthy();
        process.env.KEYFLEET_RETRY_BUDGET_MS = "";
        // The next up: the engine diffs the partial state and calls update.
        const next = await checked(raw("p-pending"), pending);
        expect((await provider.diff!(err.id!, pending, next)).changes).toBe(true);
        const { outs } = await provider.update!(err.id!, pending, next);
        expect(byName("p-pending").map((k) => k.id)).toEqual([outs!.apiKey]);
        expect(outs!.pending).toBeNull();
        // The engine keeps the pending id; currentId names the real key, and the next rotation takes its name aside.
        expect(outs!.currentId).toBe(fingerprint("nxk_", outs!.apiKey));
        const rotated = await provider.create(await checked(raw("p-pending", { rotation: { generation: 1 }, predecessor: outs!.currentId })));
        expect(byName("p-pending").map((k) => k.id)).toEqual([rotated.outs!.apiKey]);
        await provider.delete!(err.id!, outs as NexusKeyOutputs);
        expect(named("p-pending")).toHaveLength(1);
    });

    it("an overlap rotation whose new key is committed but unanswered, and cannot be looked up, keeps the current key; the next up moves it into the previous slot and retires it after the overlap (issue 17, defect 1)", async () => {
        const rotation = { overlap: "2d" as const };
        const first = await provider.create(await checked(raw("p-pending-overlap", { rotation })));
        const state = first.outs as NexusKeyOutputs;
        const news = await checked(raw("p-pending-overlap", { rotation: { ...rotation, generation: 1 }, predecessor: first.id }), state);
        expect(await provider.diff!(first.id, state, news)).toMatchObject({ changes: true, replaces: [] });
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        // First POST: 409 (the current key holds the name), which is renamed aside (one list: two pages); the second
        // POST is committed but its answer lost, and the lookup after it cannot list the keys.
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys", 1);
        for (let i = 0; i < 8; i++) t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable", 2);
        const err = (await provider.update!(first.id, state, news).catch((e) => e)) as Error & { properties?: NexusKeyOutputs };
        t.sandbox.clearFaults();
        process.env.KEYFLEET_RETRY_BUDGET_MS = "";
        // What the engine records for the failed update: the current key and the attempt, not the attempt alone.
        const pending = err.properties!;
        expect(pending).toMatchObject({ apiKey: state.apiKey, currentId: first.id, pending: { replacing: first.id } });
        expect(err.message).toMatch(/the outcome is unknown.*the current key nxk_[0-9a-f]{16} stays current until then/);
        const made = named("p-pending-overlap").filter((k) => k.id !== state.apiKey);
        expect(made).toHaveLength(1);
        // A refresh cannot finish the rotation (it writes nothing): the record stays as it is.
        expect(await provider.read!(first.id, pending)).toEqual({ id: first.id, props: pending });
        // The next up: the lost key is taken over, the old one moves into the previous slot with its expiry.
        const next = await checked(raw("p-pending-overlap", { rotation: { ...rotation, generation: 1 }, predecessor: first.id }), pending);
        expect((await provider.diff!(first.id, pending, next)).changes).toBe(true);
        const before = Date.now();
        const { outs } = await provider.update!(first.id, pending, next);
        expect(outs).toMatchObject({ apiKey: made[0].id, currentId: fingerprint("nxk_", made[0].id), pending: null, previousValue: state.apiKey, previous: { id: first.id } });
        const retireAt = Date.parse(outs!.previousRetireAt!);
        expect(retireAt).toBeGreaterThanOrEqual(before + 2 * 86_400_000);
        expect(retireAt).toBeLessThanOrEqual(Date.now() + 2 * 86_400_000);
        expect(t.sandbox.keys.get(state.apiKey)!.expires).toBe(outs!.previousRetireAt);
        expect(byName("p-pending-overlap").map((k) => k.id)).toEqual([made[0].id]);
        expect(named("p-pending-overlap")).toHaveLength(2);
        expect(await provider.diff!(first.id, outs as NexusKeyOutputs, next)).toMatchObject({ changes: false });
        // The first up after the overlap retires the old key: one key left, the current one.
        const restore = setClock(() => retireAt + 60_000);
        try {
            expect(await provider.diff!(first.id, outs as NexusKeyOutputs, next)).toMatchObject({ changes: true, replaces: [] });
            const { outs: retired } = await provider.update!(first.id, outs as NexusKeyOutputs, next);
            expect(retired).toMatchObject({ apiKey: made[0].id });
            expect(retired).not.toHaveProperty("previous");
            expect(retired).not.toHaveProperty("previousValue");
        } finally {
            restore();
        }
        expect(named("p-pending-overlap").map((k) => k.id)).toEqual([made[0].id]);
    });

    it("a pending rotation (its new key's answer lost) whose immutable field then changes keeps the current key through a refused create: the rotation is finished first, the replacement made new key first (issue 17, defect 4)", async () => {
        const rotation = { generation: 1 };
        const first = await provider.create(await checked(raw("p-pending-scope")));
        const state = first.outs as NexusKeyOutputs;
        // The rotation is made in place (the record is stale: it names no current key), its new key's answer lost and not looked up.
        const news = await checked(raw("p-pending-scope", { rotation, predecessor: null }), state);
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys", 1);
        for (let i = 0; i < 8; i++) t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable", 2);
        const err = (await provider.update!(first.id, state, news).catch((e) => e)) as Error & { properties?: NexusKeyOutputs };
        t.sandbox.clearFaults();
        process.env.KEYFLEET_RETRY_BUDGET_MS = "";
        const pending = err.properties!;
        expect(pending).toMatchObject({ apiKey: state.apiKey, currentId: first.id, pending: { replacing: first.id } });
        const lost = named("p-pending-scope").filter((k) => k.id !== state.apiKey);
        expect(lost).toHaveLength(1);

        /** One step of the engine for this resource, as the diff plans it; returns the resource's id and outputs after it. */
        const step = async (id: string, olds: NexusKeyOutputs, inputs: NexusKeyInputs) => {
            const plan = await provider.diff!(id, olds, inputs);
            if ((plan.replaces ?? []).length === 0) return { id, outs: (await provider.update!(id, olds, inputs)).outs as NexusKeyOutputs };
            if (plan.deleteBeforeReplace) {
                await provider.delete!(id, olds);
                const made = await provider.create(inputs);
                return { id: made.id, outs: made.outs as NexusKeyOutputs };
            }
            const made = await provider.create(inputs);
            await provider.delete!(id, olds);
            return { id: made.id, outs: made.outs as NexusKeyOutputs };
        };
        // The next up also changes the permissions, and Nexus refuses every create of this run.
        const wide = (olds: NexusKeyOutputs) => checked(raw("p-pending-scope", { rotation, permissions: ["nexus:consumer:*"], predecessor: olds.currentId }), olds);
        t.sandbox.failNext("POST /nexus/v3/apikeys", 400, "refused by policy");
        t.sandbox.failNext("POST /nexus/v3/apikeys", 400, "refused by policy");
        let at = { id: first.id, outs: pending };
        let refused: unknown;
        try {
            at = await step(at.id, at.outs, await wide(at.outs));
            at = await step(at.id, at.outs, await wide(at.outs));
        } catch (e) {
            refused = e;
        }
        t.sandbox.clearFaults();
        expect(String(refused)).toMatch(/400 refused by policy/);
        // The rotation was finished in the old scope (the lost key taken over, the old one in the
        // previous slot), and the refused replacement deleted nothing first: the current key works.
        expect(await useKey(t.url, at.outs.apiKey)).toBe(200);
        // Every key of the name is one state holds.
        expect(named("p-pending-scope").map((k) => k.id).sort()).toEqual([lost[0].id, state.apiKey].sort());
        expect(at.outs).toMatchObject({ apiKey: lost[0].id, permissions: ["nexus:consumer:chat"], pending: null, previous: { id: first.id } });
        // Without faults it converges: one key of the name, with the new permission, nothing else left.
        for (let i = 0; i < 3; i++) {
            const inputs = await wide(at.outs);
            if (!(await provider.diff!(at.id, at.outs, inputs)).changes) break;
            at = await step(at.id, at.outs, inputs);
            // The previous slot's key, retired when its time comes.
            if (at.outs.previous) at = { id: at.id, outs: (await provider.update!(at.id, at.outs, { ...inputs, rotation })).outs as NexusKeyOutputs };
        }
        expect(at.outs).toMatchObject({ permissions: ["nexus:consumer:*"], pending: null });
        expect(named("p-pending-scope").map((k) => k.id)).toEqual([at.outs.apiKey]);
        expect(t.sandbox.keys.get(at.outs.apiKey)).toMatchObject({ name: "p-pending-scope", permissions: ["nexus:consumer:*"] });
    });

    it("deleting a pending rotation (the entry removed from the YAML) deletes the current key, its previous slot's and the lost create's: nothing left, nothing counted twice", async () => {
        const rotation = { overlap: "2d" as const };
        const first = await provider.create(await checked(raw("p-pending-gone", { rotation })));
        const state = first.outs as NexusKeyOutputs;
        // A first rotation, so that the previous slot holds a key too.
        const gen1 = await checked(raw("p-pending-gone", { rotation: { ...rotation, generation: 1 }, predecessor: first.id }), state);
        const { outs: rotated } = (await provider.update!(first.id, state, gen1)) as { outs: NexusKeyOutputs };
        expect(rotated.previous).toMatchObject({ id: first.id });
        const gen2 = await checked(raw("p-pending-gone", { rotation: { ...rotation, generation: 2 }, predecessor: rotated.currentId }), rotated);
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        t.sandbox.loseNextAnswer("POST /nexus/v3/apikeys", 1);
        for (let i = 0; i < 8; i++) t.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable", 2);
        const err = (await provider.update!(first.id, rotated, gen2).catch((e) => e)) as Error & { properties?: NexusKeyOutputs };
        t.sandbox.clearFaults();
        process.env.KEYFLEET_RETRY_BUDGET_MS = "";
        const pending = err.properties!;
        expect(pending).toMatchObject({ apiKey: rotated.apiKey, pending: { replacing: rotated.currentId }, previous: { id: first.id } });
        // Three keys: the first (previous slot), the current one (aside), the lost create's (holding the name).
        expect(named("p-pending-gone")).toHaveLength(3);
        await provider.delete!(first.id, pending);
        expect(named("p-pending-gone")).toEqual([]);
        // The engine may retry a delete: nothing left to find, and it still succeeds.
        await provider.delete!(first.id, pending);
    });

    it("a pending key is never dropped on the word of a list that may be cut (Nexus answering only its first 10)", async () => {
        const box = await startSandbox({ paging: "first" });
        try {
            const nexus = JSON.stringify({ authUrl: box.url, nexusUrl: box.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops" });
            await configure({ "keyfleet:nexus": nexus, "keyfleet:nexusClientSecret": box.creds.clientSecret, "keyfleet:nexusTenantPassword": box.creds.tenantPassword });
            for (let i = 0; i < 10; i++) await box.client.create(box.tenantLogin, { tenant: CC, name: `filler-${i}`, permissions: ["nexus:consumer:chat"], enabled: true });
            process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
            // The create is committed but its answer lost, and the lookup cannot run: the resource is pending.
            box.sandbox.loseNextAnswer("POST /nexus/v3/apikeys");
            for (let i = 0; i < 4; i++) box.sandbox.failNext("GET /nexus/v3/apikeys", 503, "unavailable");
            const err = (await provider.create(await checked(raw("p-cut"))).catch((e) => e)) as Error & { id?: string; properties?: NexusKeyOutputs };
            expect(err.id).toMatch(/^pending_/);
            process.env.KEYFLEET_RETRY_BUDGET_MS = "";
            const made = [...box.sandbox.keys.values()].filter((k) => k.name === "p-cut");
            expect(made).toHaveLength(1);
            // refresh: the list shows the first 10 keys only; the made key is not among them.
            const refreshed = await provider.read!(err.id!, err.properties!).catch((e: Error) => e);
            expect(refreshed).toBeInstanceOf(Error);
            expect((refreshed as Error).message).toContain("ignored paging, so the list may be cut");
        } finally {
            await configure();
            await box.close();
        }
    });

    it("a lost create that commits late (after the lookup found nothing) is taken over, not duplicated", async () => {
        t.sandbox.loseNextCreateCommitLate();
        const { outs } = await provider.create(await checked(raw("p-late")));
        expect(byName("p-late").map((k) => k.id)).toEqual([outs!.apiKey]);
    });

    it("an auth outage during a create is not an unknown outcome: nothing was sent (defect 5)", async () => {
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        t.sandbox.expireTokens();
        for (let i = 0; i < 30; i++) t.sandbox.failNext("POST /auth/v3/oauth/token", 503, "down");
        const err = (await provider.create(await checked(raw("p-auth-down"))).catch((e) => e)) as Error & { id?: string };
        t.sandbox.clearFaults();
        expect(err.id).toBeUndefined();
        expect(err.message).toMatch(/creating Nexus tenant key "p-auth-down" .* failed: (503 )?GWS auth at .* did not answer/);
        expect(err.message).toMatch(/the GWS auth service is unavailable \(this is not a wrong password\)/);
        expect(byName("p-auth-down")).toEqual([]);
    });

    it("says what to do about a refused login", async () => {
        await configure({ "keyfleet:nexusTenantPassword": "wrong" });
        try {
            await expect(provider.create(await checked(raw("p-login")))).rejects.toThrow(
                `creating Nexus tenant key "p-login" for tenant 578e… failed: 400 Bad credentials; GWS refused the login of "${CC}\\nexus"; check that user's password and the client secret in the stack config`,
            );
        } finally {
            await configure();
        }
    });

    it("reads a key deleted out of band as gone, and deleting it again succeeds", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-gone")));
        await t.client.delete(t.tenantLogin, outs!.apiKey);
        expect(await provider.read!(id, outs)).toEqual({});
        await expect(provider.delete!(id, outs!)).resolves.toBeUndefined();
    });

    it("reads drift made out of band", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-drift")));
        await t.client.update(t.tenantLogin, outs!.apiKey, { enabled: false, expires: "2030-05-01T00:00:00Z" });
        const read = await provider.read!(id, outs);
        expect(read.props).toMatchObject({ enabled: false, expires: "2030-05-01T00:00:00.000Z", name: "p-drift" });
        expect(await provider.diff!(id, read.props!, await checked(raw("p-drift"), read.props!))).toMatchObject({ changes: true, replaces: [] });
    });

    it("keeps the rotation clock across in-place updates (defect 8)", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-clock")));
        const created = outs!.created;
        const news = await checked(raw("p-clock", { enabled: false }), outs!);
        const updated = await provider.update!(id, outs!, news);
        expect(updated.outs!.created).toBe(created);
    });

    it("adopts an existing key by name once, and refuses one whose permissions differ", async () => {
        const existing = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-legacy", permissions: ["nexus:consumer:chat"], enabled: false });
        const { outs } = await provider.create(await checked(raw("p-legacy", { adopt: true })));
        expect(outs!.apiKey).toBe(existing.id);
        expect(outs!.note).toBe("adopted");
        expect(t.sandbox.keys.get(existing.id)!.enabled).toBe(true);
        await expect(provider.create(await checked(raw("p-legacy", { adopt: true, permissions: ["nexus:designer:chat"] })))).rejects.toThrow(
            /^adopting Nexus tenant key "p-legacy" for tenant 578e… failed: its permissions are \[nexus:consumer:chat\], the YAML says \[nexus:designer:chat\]/,
        );
    });

    it("adopt with nothing to take over creates the key and says so (defect 3)", async () => {
        const { outs } = await provider.create(await checked(raw("p-nobody", { adopt: true })));
        expect(byName("p-nobody").map((k) => k.id)).toEqual([outs!.apiKey]);
        expect(outs!.note).toBe('adopt: the vendor had no key named "p-nobody"; created a new key');
    });

    it("adopting a key older than rotation.every shows the rotation in check and rotates it in create (defect 3)", async () => {
        const restore = setClock(() => Date.now() + 100 * 86_400_000);
        try {
            const old = await t.client.create(t.tenantLogin, { tenant: CC, name: "p-old", permissions: ["nexus:consumer:chat"], enabled: true });
            const inputs = await checked(raw("p-old", { adopt: true, rotation: { every: "90d" } }));
            expect(inputs.rotationDue).toBe("rotation due: adopted key older than 90d");
            const { outs } = await provider.create(inputs);
            expect(outs!.apiKey).not.toBe(old.id);
            expect(t.sandbox.keys.has(old.id)).toBe(false);
            expect(byName("p-old").map((k) => k.id)).toEqual([outs!.apiKey]);
        } finally {
            restore();
        }
    });

    it("reads state written by keyfleet 0.1 with no change (defect 9)", async () => {
        const { id, outs } = await provider.create(await checked(raw("p-old-state")));
        // Inputs keyfleet 0.1 stored: no vendor, no core fields.
        const { vendor: _v, predecessor: _r, rotationDue: _d, note: _n, pending: _p, ...old } = outs! as NexusKeyOutputs & Record<string, unknown>;
        const news = await checked({ ...raw("p-old-state") }, old as unknown as NexusKeyInputs);
        expect(await provider.diff!(id, old as unknown as NexusKeyOutputs, news)).toMatchObject({ changes: false, replaces: [] });
    });

    it("refuses a new key whose expiry has passed", async () => {
        const result = await provider.check!({} as NexusKeyInputs, raw("p-expired", { expires: "2020-01-01T00:00:00.000Z" }) as NexusKeyInputs);
        expect(result.failures).toEqual([{ property: "expires", reason: "expires: 2020-01-01T00:00:00.000Z has passed; a new key cannot be created expired" }]);
    });

    it("creates cluster keys with the ops admin's login", async () => {
        const { outs } = await provider.create(await checked({ vendor: "nexus", kind: "cluster", tenant: "*", name: "p-cluster", permissions: ["nexus:cluster:*"] }));
        expect(t.sandbox.keys.get(outs!.apiKey)).toMatchObject({ tenant: "*", createdby: "ops" });
    });

    it("a refresh of many keys reads them from one walk of each login's key list: pages + tokens calls, no read per key", async () => {
        const made: { id: string; outs: NexusKeyOutputs }[] = [];
        for (let i = 0; i < 150; i++) {
            const r = await provider.create(await checked(i % 15 === 0 ? raw(`walk-${i}`, { kind: "cluster", tenant: "*", permissions: ["nexus:cluster:*"] }) : raw(`walk-${i}`)));
            made.push({ id: r.id, outs: r.outs as NexusKeyOutputs });
        }
        const gone = made[7]!;
        t.sandbox.keys.delete(gone.outs.apiKey);
        const total = t.sandbox.keys.size;
        t.sandbox.stats.reset();
        // A new process, as a refresh is: no walk of the last seconds is reused.
        const restore = setClock(() => Date.now() + 60_000);
        const reads = await Promise.all(made.map((m) => provider.read!(m.id, m.outs))).finally(restore);
        const pages = t.sandbox.stats.byRoute["GET /nexus/v3/apikeys"] ?? 0;
        // Two logins (tenant user, ops admin), each walking at most every key in pages of 100 and an empty last page.
        expect(pages).toBeGreaterThan(0);
        expect(pages).toBeLessThanOrEqual(2 * (Math.ceil(total / 100) + 1));
        expect(t.sandbox.stats.byRoute["GET /nexus/v3/apikeys/{id}"] ?? 0).toBe(0);
        expect(t.sandbox.stats.tokensIssued).toBeLessThanOrEqual(2);
        expect(t.sandbox.stats.total).toBe(pages + (t.sandbox.stats.byRoute["POST /auth/v3/oauth/token"] ?? 0));
        expect(reads[7]).toEqual({});
        reads.forEach((r, i) => {
            if (i !== 7) expect(r.props).toMatchObject({ name: `walk-${i}`, apiKey: made[i]!.outs.apiKey });
        });
        // A write forgets the walk: the next read sees the change.
        const restore2 = setClock(() => Date.now() + 60_000);
        try {
            const first = made[1]!;
            const changed = await provider.update!(first.id, first.outs, { ...first.outs, enabled: false });
            const again = await provider.read!(first.id, changed.outs as NexusKeyOutputs);
            expect(again.props).toMatchObject({ enabled: false });
        } finally {
            restore2();
        }
        for (const m of made) t.sandbox.keys.delete(m.outs.apiKey);
    });
});

describe("Nexus provider: a create whose name a killed run's key holds (issue 17, defect 2)", () => {
    const made = (name: string, login = t.tenantLogin) => t.client.create(login, { tenant: CC, name, permissions: ["nexus:consumer:chat"], enabled: true });

    it("takes over the one key keyfleet's login made since the last completed run, and says so", async () => {
        const after = new Date(Date.now() - 60_000).toISOString();
        const orphan = await made("p-killed");
        const { id, outs } = await provider.create(await checked(raw("p-killed", { interrupted: { after, except: [] } })));
        expect(outs!.apiKey).toBe(orphan.id);
        expect(id).toBe(fingerprint("nxk_", orphan.id));
        expect(outs!.note).toMatch(/took over the key that a create cut off by an interrupted run had made/);
        expect(byName("p-killed")).toHaveLength(1);
    });

    it("leaves a key made before the last completed run, and one the last run recorded", async () => {
        const before = await made("p-before");
        const after = new Date(Date.now() + 5_000).toISOString();
        let err = (await provider.create(await checked(raw("p-before", { interrupted: { after, except: [] } }))).catch((e: Error) => e)) as Error;
        expect(err.message).toMatch(/409 name exists/);
        expect(byName("p-before").map((k) => k.id)).toEqual([before.id]);

        const recorded = await made("p-recorded");
        const since = new Date(Date.now() - 60_000).toISOString();
        err = (await provider.create(await checked(raw("p-recorded", { interrupted: { after: since, except: [fingerprint("nxk_", recorded.id)] } }))).catch((e: Error) => e)) as Error;
        expect(err.message).toMatch(/409 name exists/);
        expect(byName("p-recorded").map((k) => k.id)).toEqual([recorded.id]);

        // No interrupted input (a resource state holds, or a last-run record without lastRunAt): no lookup.
        err = (await provider.create(await checked(raw("p-recorded"))).catch((e: Error) => e)) as Error;
        expect(err.message).toMatch(/409 name exists/);
    });
});
