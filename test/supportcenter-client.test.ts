// The SupportCenter Plus wire client: its reading of the inferred envelope (object or array
// response_status), every failure code as the core's error kinds with a hint that says what to do,
// and paging, against synthetic answers and the sandbox over HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyRecord, liveKeys, PAGE_SIZE, readEnvelope, searchCriteria } from "../providers/supportcenter/client.ts";
import { operationFailed, VendorError } from "../providers/shared/errors.ts";
import { supportCenterLifecycle } from "../providers/supportcenter/lifecycle.ts";
import type { WireResponse } from "../providers/shared/wire.ts";
import { startScp, type ScpTestSandbox } from "./helpers/supportcenter.ts";

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): WireResponse => ({
    status,
    headers,
    text: typeof body === "string" ? body : JSON.stringify(body),
});
const failure = (status: number, code: number, message: string, field?: string, headers: Record<string, string> = {}) =>
    answer(status, { response_status: { status_code: 4000, status: "failed", messages: [{ status_code: code, type: "failed", message, ...(field ? { field } : {}) }] } }, headers);

function refusal(res: WireResponse, secrets: string[] = []): VendorError {
    try {
        readEnvelope(res, "GET /api/v3/integration_keys", secrets);
    } catch (err) {
        expect(err).toBeInstanceOf(VendorError);
        return err as VendorError;
    }
    throw new Error("expected a refusal");
}

describe("envelope", () => {
    it("reads a single record's response_status object and a list's response_status array", () => {
        expect(readEnvelope(answer(200, { response_status: { status_code: 2000, status: "success" }, integration_key: { id: "1" } }), "x")).toMatchObject({ integration_key: { id: "1" } });
        expect(readEnvelope(answer(200, { response_status: [{ status_code: 2000, status: "success" }], list_info: { has_more_rows: false }, integration_keys: [] }), "x")).toMatchObject({ integration_keys: [] });
        expect(readEnvelope(answer(201, { response_status: { status_code: 2000, status: "success" } }), "x")).toBeTruthy();
    });

    it("refuses a 2xx answer without the envelope as an invalid answer, naming the operation", () => {
        const err = refusal(answer(200, { integration_keys: [] }));
        expect(err.kind).toBe("invalidAnswer");
        expect(err.message).toContain("GET /api/v3/integration_keys");
        expect(refusal(answer(200, "<html>login</html>")).kind).toBe("invalidAnswer");
    });

    it("a bulk answer with one failed entry is a failure", () => {
        const err = refusal(answer(200, { response_status: [{ status_code: 2000, status: "success" }, { status_code: 4000, status: "failed", messages: [{ status_code: 4002, message: "not yours" }] }] }));
        expect(err.kind).toBe("forbidden");
    });
});

describe("error codes as the core's kinds, each with what to do", () => {
    // 4002 and 4008 carry no hint of the client's: the operation's (lifecycle fixes) applies.
    const cases: [number, number, string | undefined, string, RegExp | undefined][] = [
        [400, 4000, undefined, "rejected", /check the key's entry/],
        [400, 4001, "ids", "notFound", /no such id/],
        [400, 4001, "password", "rejected", /password in keyfleet:supportcenterOwners/],
        [400, 4001, "login_password", "rejected", /password in keyfleet:supportcenterOwners/],
        [400, 4001, "roles", "rejected", /role named in the YAML/],
        [400, 4001, "owned_by", "rejected", /active SDAdmin/],
        [403, 4002, undefined, "forbidden", undefined],
        [500, 4004, undefined, "unavailable", /try again later/],
        [404, 4007, "id", "notFound", undefined],
        [400, 4008, "name", "conflict", undefined],
        [400, 4009, "id", "rejected", /not let this field be edited/],
        [400, 4012, "roles", "rejected", /at least one role/],
        [400, 4016, "validity", "rejected", /move expires/],
        [401, 4022, undefined, "unauthorized", /technician key was refused/],
    ];
    for (const [http, code, field, kind, hint] of cases) {
        it(`${code}${field ? ` (${field})` : ""} → ${kind}`, () => {
            const err = refusal(failure(http, code, "the product's words", field));
            expect(err.kind).toBe(kind);
            expect(err.code).toBe(String(code));
            expect(err.vendorMessage).toContain("the product's words");
            if (field) expect(err.vendorMessage).toContain(`field ${field}`);
            if (hint) expect(err.hint).toMatch(hint);
            else expect(err.hint).toBeUndefined();
        });
    }

    it("4015 is a rate limit with the Retry-After the product sent (seconds)", () => {
        const err = refusal(failure(429, 4015, "API rate limit reached", undefined, { "retry-after": "7" }));
        expect(err).toMatchObject({ kind: "rateLimited", retryAfterMs: 7000 });
        expect(refusal(failure(429, 4015, "slow down")).retryAfterMs).toBe(1000);
    });

    it("answers without the envelope map by HTTP status; an outage is unavailable", () => {
        expect(refusal(answer(502, "Bad Gateway")).kind).toBe("unavailable");
        expect(refusal(answer(401, "")).kind).toBe("unauthorized");
        expect(refusal(answer(429, "", { "retry-after": "2" }))).toMatchObject({ kind: "rateLimited", retryAfterMs: 2000 });
    });

    it("masks credentials the product echoes", () => {
        const err = refusal(failure(401, 4022, "Invalid API key ABCD-SECRET received"), ["ABCD-SECRET"]);
        expect(err.message).not.toContain("ABCD-SECRET");
        expect(err.message).toContain("[redacted]");
    });
});

describe("against the sandbox", () => {
    let t: ScpTestSandbox;
    beforeAll(async () => {
        t = await startScp();
        for (let i = 0; i < 250; i++) t.sandbox.keys.set(`9000000000000${String(i).padStart(5, "0")}`, {
            id: `9000000000000${String(i).padStart(5, "0")}`,
            name: `bulk ${i}`,
            roles: [{ id: "302", name: "Technician" }],
            validity: 0,
            status: i % 5 === 0 ? "inactive" : "active",
            description: null,
            created: Date.now() - i,
            ownerId: i % 2 ? t.users.admin.id : t.users.jane.id,
            value: `value-${i}`,
        });
    });
    afterAll(() => t.close());

    it("walks 250 keys in pages of 100 (start_index 1, 101, 201), each once, with every owner", async () => {
        t.sandbox.stats.reset();
        const keys = await t.client.listKeys(t.as("admin"));
        expect(keys).toHaveLength(250);
        expect(new Set(keys.map((k) => k.id)).size).toBe(250);
        expect(t.sandbox.stats.byRoute["GET /api/v3/integration_keys"]).toBe(Math.ceil(250 / PAGE_SIZE));
        expect(keys.find((k) => k.name === "bulk 1")).toMatchObject({ owner: { id: t.users.admin.id }, status: "active", validity: 0, roles: [{ id: "302", name: "Technician" }] });
    });

    it("a client that skipped keyfleet's checks is refused by the sandbox as the product refuses it", async () => {
        const admin = t.as("admin");
        const refused = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as VendorError);
        const both = await refused(t.client.create(admin, { name: "both admins", roles: [{ id: "301", name: "SDAdmin" }, { id: "303", name: "SDSiteAdmin" }] }));
        expect(both).toMatchObject({ kind: "rejected", code: "4000" });
        expect(both!.message).toMatch(/SDAdmin and SDSiteAdmin .*\(field roles\)/);
        const only = await refused(t.client.create(admin, { name: "report only", roles: [{ id: "304", name: "SDReport" }, { id: "305", name: "AERemoteControl" }] }));
        expect(only!.message).toMatch(/depend on a module role \(field roles\)/);
        expect((await refused(t.client.create(admin, { name: "n".repeat(51), roles: [{ id: "302", name: "Technician" }] })))!.message).toMatch(/\(field name\)/);
        expect((await refused(t.client.create(admin, { name: "long notes", roles: [{ id: "302", name: "Technician" }], description: "d".repeat(251) })))!.message).toMatch(/\(field description\)/);
        const made = await t.client.create(admin, { name: "to reassign", roles: [{ id: "302", name: "Technician" }] });
        expect((await refused(t.client.reassign(admin, [made.id], t.users.jane.id, "c".repeat(251))))!.message).toMatch(/\(field comments\)/);
        expect(t.sandbox.keys.get(made.id)!.ownerId).toBe(t.users.admin.id);
        t.sandbox.deleteKey(made.id);
    });

    it("roles from /technicians/associated_roles and SDAdmins from /technicians (the web client's routes); /roles and /users only on a 404", async () => {
        t.sandbox.stats.reset();
        const roles = await t.client.listRoles(t.as("admin"));
        expect(roles).toEqual(expect.arrayContaining([{ id: "301", name: "SDAdmin" }, { id: "351", name: "Integration Auditor" }]));
        const users = await t.client.listUsers(t.as("admin"));
        expect(users.map((u) => u.login).sort()).toEqual(["admin", "jane"]);
        expect(t.sandbox.stats.byRoute).toMatchObject({ "GET /api/v3/technicians/associated_roles": 1, "GET /api/v3/technicians": 1 });
        expect(t.sandbox.stats.byRoute["GET /api/v3/roles"]).toBeUndefined();
        expect(t.sandbox.stats.byRoute["GET /api/v3/users"]).toBeUndefined();

        const old = await startScp({ withoutTechnicianRoutes: true });
        try {
            expect((await old.client.listRoles(old.as("admin"))).map((r) => r.name)).toContain("SDAdmin");
            expect((await old.client.listUsers(old.as("admin"))).map((u) => u.login)).toContain("jane");
            expect(old.sandbox.stats.byRoute).toMatchObject({ "GET /api/v3/roles": 1, "GET /api/v3/users": 1 });
        } finally {
            await old.close();
        }
    });

    it("filters with list_info.filter_by", async () => {
        expect(await t.client.listKeys(t.as("jane"), "Inactive")).toHaveLength(50);
    });

    it("a refused technician key is unauthorized and names the owner, never the key", async () => {
        const bad = { login: "admin", technicianKey: "00000000-BAD0-4000-8000-000000000000", password: "x" };
        const err = await t.client.listKeys(bad).catch((e: VendorError) => e);
        expect(err).toMatchObject({ kind: "unauthorized", code: "4022" });
        expect((err as VendorError).hint).toContain('"admin"');
        expect((err as VendorError).message).not.toContain(bad.technicianKey);
    });

    it("waits out the rate limit (4015, HTTP 429) and finishes the walk", async () => {
        t.sandbox.rateLimit = { requests: 2, windowSeconds: 1 };
        try {
            const keys = await t.client.listKeys(t.as("jane"));
            expect(keys).toHaveLength(250);
        } finally {
            t.sandbox.rateLimit = undefined;
        }
    });
});

describe("deleted keys (evidence: status active|inactive|deleted, deleted keys stay listed, key masked)", () => {
    const row = (status: string) => ({ id: "7", name: "n", roles: [{ id: "1", name: "SDAdmin" }], validity: { value: "0" }, created_time: { value: "1" }, status, owned_by: { id: "4" }, key: "*********" });
    it("reads a deleted record without failing, and a list drops it (for keyfleet it is gone)", () => {
        const deleted = keyRecord(row("deleted"), "listing");
        expect(deleted.status).toBe("deleted");
        const active = keyRecord({ ...row("active"), id: "8" }, "listing");
        expect(liveKeys([deleted, active]).map((k) => k.id)).toEqual(["8"]);
        expect(() => keyRecord(row("gone"), "listing")).toThrow(/neither active, inactive nor deleted/);
    });
});

describe("hints fit the error kind and the operation", () => {
    it("a create answered 4007 does not say the key is gone; an edit answered 4007 does", () => {
        const gone = refusal(failure(404, 4007, "no such object", "id"));
        const fixes = supportCenterLifecycle.model.fixes!;
        const creating = operationFailed("creating", "key", gone, fixes.creating);
        expect(creating.message).not.toMatch(/gone|pulumi refresh/);
        expect(creating.message).toMatch(/check roles: and owner:/);
        expect(operationFailed("updating", "key", gone, fixes.updating).message).toMatch(/gone from SupportCenter Plus; run `pulumi refresh`/);
    });
});

describe("list filters (evidence: list_info.search_criteria, not filter_by)", () => {
    it("builds the web client's criteria", () => {
        expect(searchCriteria("All", 5)).toBeUndefined();
        expect(searchCriteria("Active", 5)).toMatchObject({ field: "status", value: "active", condition: "is", children: expect.arrayContaining([{ field: "validity", value: 5, condition: "GT", logical_operator: "AND" }]) });
        expect(searchCriteria("Expired", 5)).toEqual({ field: "validity", value: 0, condition: "GT", logical_operator: "AND", children: [{ field: "validity", value: 5, condition: "LT", logical_operator: "AND" }] });
    });
});
