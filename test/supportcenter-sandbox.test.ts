// The SupportCenter Plus sandbox over real HTTP: the integration-key API, its errors, paging and
// filters, decrypt, reassignment, the UI's out-of-band admin actions, the consumer API, the rate
// limit, fault injection and persistence. The seed is a UI guide with no request examples, so its
// flows (create, view with the password, edit, reassign, status, filters, delete, bulk actions,
// notifications) are exercised here through the inferred wire.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening } from "../sandbox/http.ts";
import { SCP_ACCEPT, start, SupportCenterSandbox, SUPPORTCENTER_DEFAULTS, type SupportCenterSandboxOptions } from "../sandbox/supportcenter.ts";

const { admin, jane, tech } = SUPPORTCENTER_DEFAULTS.users;
type Json = Record<string, any>;

interface Api {
    status: number;
    headers: Headers;
    body: Json;
}

interface Opened {
    sandbox: SupportCenterSandbox;
    url: string;
    call(method: string, route: string, opts?: { token?: string | null; input?: unknown; query?: Record<string, string>; accept?: string | null }): Promise<Api>;
    close(): Promise<void>;
}

function client(url: string) {
    return async (method: string, route: string, opts: { token?: string | null; input?: unknown; query?: Record<string, string>; accept?: string | null } = {}): Promise<Api> => {
        const u = new URL(route, url);
        for (const [k, v] of Object.entries(opts.query ?? {})) u.searchParams.set(k, v);
        const headers: Record<string, string> = {};
        const token = opts.token === undefined ? admin.technicianKey : opts.token;
        if (token !== null) headers.authtoken = token;
        const accept = opts.accept === undefined ? SCP_ACCEPT : opts.accept;
        if (accept !== null) headers.accept = accept;
        let body: string | undefined;
        if (opts.input !== undefined) {
            if (method === "GET") u.searchParams.set("input_data", JSON.stringify(opts.input));
            else {
                headers["content-type"] = "application/x-www-form-urlencoded";
                body = new URLSearchParams({ input_data: JSON.stringify(opts.input) }).toString();
            }
        }
        const res = await fetch(u, { method, headers, body });
        return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
    };
}

async function open(options: SupportCenterSandboxOptions = {}): Promise<Opened> {
    const sandbox = new SupportCenterSandbox(options);
    const server: Listening = await listen(sandbox.handler, 0);
    return { sandbox, url: server.url, call: client(server.url), close: () => server.close() };
}

const ROLE_TECH = { id: "302", name: "Technician" };
const ROLE_AUDITOR = { id: "351", name: "Integration Auditor" };

function keyInput(name: string, extra: Json = {}) {
    return { integration_key: { name, roles: [{ id: "302" }], ...extra } };
}

/** The SDP failure shape with one message of `code`. */
function failed(code: number, field?: string) {
    const message: Json = { status_code: code, type: "failed", message: expect.any(String) };
    if (field) message.field = field;
    return { response_status: { status_code: 4000, status: "failed", messages: [message] } };
}

let t: Opened;
beforeAll(async () => {
    t = await open();
});
afterAll(() => t.close());

async function create(name: string, extra: Json = {}, token = admin.technicianKey): Promise<Json> {
    const r = await t.call("POST", "/api/v3/integration_keys", { token, input: keyInput(name, extra) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    // The create answer carries the value (the product's web client reads it there); the helper
    // returns the record as list and GET show it.
    const { key, ...record } = r.body.integration_key;
    expect(key).toBe(t.sandbox.keys.get(record.id)?.value);
    return record;
}

async function decrypt(id: string, password = admin.password, token = admin.technicianKey, on = t): Promise<Api> {
    return on.call("POST", `/api/v3/integration_keys/${id}/decrypt`, { token, input: { login_password: password } });
}

async function use(key: string, on = t): Promise<Api> {
    return on.call("GET", "/api/v3/requests", { token: key });
}

describe("integration keys: create, read, list, edit, delete", () => {
    it("creates a key in the v3 envelope, the answer carrying the key value", async () => {
        const expires = Date.UTC(2030, 0, 1, 18, 30);
        const r = await t.call("POST", "/api/v3/integration_keys", {
            input: {
                integration_key: {
                    name: "  crm sync  ",
                    roles: [{ id: "302" }, { name: "Integration Auditor" }],
                    validity: { value: String(expires) },
                    status: "active",
                    description: "CRM integration",
                },
            },
        });
        expect(r.status).toBe(201);
        expect(r.headers.get("content-type")).toMatch(/^application\/json/);
        expect(r.body.response_status).toEqual({ status_code: 2000, status: "success" });
        const key = r.body.integration_key;
        expect(key).toEqual({
            id: expect.stringMatching(/^\d{18}$/),
            name: "crm sync",
            roles: [ROLE_TECH, ROLE_AUDITOR],
            validity: { value: String(expires), display_value: "Jan 1, 2030 06:30 PM" },
            status: "active",
            is_expired: false,
            description: "CRM integration",
            created_time: { value: expect.stringMatching(/^\d{13}$/), display_value: expect.any(String) },
            owned_by: { id: admin.id, name: admin.name, email_id: admin.email },
            key: expect.any(String),
        });
        const value = t.sandbox.keys.get(key.id)!.value;
        expect(value).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
        // Evidence: the web client shows the value from the create answer.
        expect(key.key).toBe(value);
        expect(t.sandbox.issued.keys.has(value)).toBe(true);
    });

    it("defaults to active, never expiring, no description; validity may be a number", async () => {
        const key = await create("defaults");
        expect(key).toMatchObject({ status: "active", validity: { value: "0", display_value: "Never expires" }, description: null, is_expired: false });
        const numeric = await create("numeric validity", { validity: { value: Date.UTC(2031, 5, 1) }, status: "inactive" });
        expect(numeric).toMatchObject({ validity: { value: String(Date.UTC(2031, 5, 1)) }, status: "inactive" });
    });

    it("reads, lists, edits without altering the key value, and deletes", async () => {
        const key = await create("lifecycle", { description: "before" });
        const got = await t.call("GET", `/api/v3/integration_keys/${key.id}`);
        expect(got.status).toBe(200);
        expect(got.body).toEqual({ response_status: { status_code: 2000, status: "success" }, integration_key: key });

        const list = await t.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 100, search_criteria: { field: "name", condition: "is", value: "lifecycle" } } } });
        expect(list.body.response_status).toEqual([{ status_code: 2000, status: "success" }]);
        expect(list.body.integration_keys).toEqual([{ ...key, key: "*********" }]);
        expect(list.body.list_info).toMatchObject({ has_more_rows: false, start_index: 1, row_count: 1 });

        const before = (await decrypt(key.id)).body.decrypt.key;
        const put = await t.call("PUT", `/api/v3/integration_keys/${key.id}`, {
            input: { integration_key: { name: "lifecycle renamed", roles: [ROLE_AUDITOR], validity: { value: "0" }, status: "inactive", description: "after" } },
        });
        expect(put.status).toBe(200);
        expect(put.body.integration_key).toEqual({ ...key, name: "lifecycle renamed", roles: [ROLE_AUDITOR], status: "inactive", description: "after" });
        expect((await decrypt(key.id)).body.decrypt.key).toBe(before);

        // A read record can be PUT back as is (its read-only fields unchanged).
        const back = await t.call("PUT", `/api/v3/integration_keys/${key.id}`, { input: { integration_key: put.body.integration_key } });
        expect(back.status).toBe(200);

        const del = await t.call("DELETE", `/api/v3/integration_keys/${key.id}`);
        expect(del.status).toBe(200);
        expect(del.body).toEqual({ response_status: { status_code: 2000, status: "success" } });
        const gone = await t.call("GET", `/api/v3/integration_keys/${key.id}`);
        expect(gone.status).toBe(200);
        expect(gone.body.integration_key).toMatchObject({ id: key.id, status: "deleted" });
        expect((await t.call("DELETE", `/api/v3/integration_keys/${key.id}`)).body).toEqual(failed(4007, "id"));
        expect((await use(before)).status).toBe(401);
    });

    it("deletes in bulk, all or nothing", async () => {
        const a = await create("bulk a");
        const b = await create("bulk b");
        const janes = await create("bulk jane", {}, jane.technicianKey);
        const refused = await t.call("DELETE", "/api/v3/integration_keys", { query: { ids: `${a.id},${janes.id}` } });
        expect(refused.status).toBe(403);
        expect(refused.body).toEqual(failed(4002, "ids"));
        expect(t.sandbox.keys.has(a.id)).toBe(true);
        const r = await t.call("DELETE", "/api/v3/integration_keys", { query: { ids: `${a.id},${b.id}` } });
        expect(r.status).toBe(200);
        expect(r.body.response_status).toEqual([
            { status_code: 2000, status: "success", id: a.id },
            { status_code: 2000, status: "success", id: b.id },
        ]);
        expect(t.sandbox.keys.has(a.id) || t.sandbox.keys.has(b.id)).toBe(false);
        expect((await t.call("DELETE", "/api/v3/integration_keys", { query: { ids: a.id } })).body).toEqual(failed(4001, "ids"));
    });
});

describe("errors", () => {
    it("4022 / 401 for a missing, unknown or deleted-user authtoken", async () => {
        for (const token of [null, "00000000-0000-4000-8000-000000000000"]) {
            const r = await t.call("GET", "/api/v3/integration_keys", { token });
            expect(r.status).toBe(401);
            expect(r.body).toEqual(failed(4022));
        }
    });

    it("4002 / 403 for a technician, and for an integration key on the management API", async () => {
        const r = await t.call("POST", "/api/v3/integration_keys", { token: tech.technicianKey, input: keyInput("by tech") });
        expect(r.status).toBe(403);
        expect(r.body).toEqual(failed(4002));
        expect((await t.call("GET", "/api/v3/integration_keys", { token: tech.technicianKey })).status).toBe(403);
        const key = await create("not a manager");
        const value = (await decrypt(key.id)).body.decrypt.key;
        const byKey = await t.call("GET", "/api/v3/integration_keys", { token: value });
        expect(byKey.status).toBe(403);
        expect(byKey.body).toEqual(failed(4002));
        // Technicians may still resolve roles and users.
        expect((await t.call("GET", "/api/v3/roles", { token: tech.technicianKey })).status).toBe(200);
    });

    it("4008 for a taken name, case-insensitively, on create and on edit", async () => {
        await create("Unique Name");
        const r = await t.call("POST", "/api/v3/integration_keys", { input: keyInput("unique name") });
        expect(r.status).toBe(400);
        expect(r.body).toEqual(failed(4008, "name"));
        const other = await create("other name");
        const put = await t.call("PUT", `/api/v3/integration_keys/${other.id}`, { input: { integration_key: { name: "UNIQUE NAME" } } });
        expect(put.body).toEqual(failed(4008, "name"));
        // Renaming a key to its own name is no conflict.
        expect((await t.call("PUT", `/api/v3/integration_keys/${other.id}`, { input: { integration_key: { name: "Other Name" } } })).status).toBe(200);
    });

    it("4012 for missing mandatory fields", async () => {
        const cases: [unknown, string][] = [
            [{ integration_key: { roles: [{ id: "302" }] } }, "name"],
            [{ integration_key: { name: "   ", roles: [{ id: "302" }] } }, "name"],
            [{ integration_key: { name: "no roles" } }, "roles"],
            [{ integration_key: { name: "empty roles", roles: [] } }, "roles"],
            [{ name: "unwrapped" }, "integration_key"],
        ];
        for (const [input, field] of cases) {
            const r = await t.call("POST", "/api/v3/integration_keys", { input });
            expect(r.status, field).toBe(400);
            expect(r.body.response_status.messages[0]).toMatchObject({ status_code: 4012, field });
        }
        const key = await create("mandatory decrypt");
        expect((await t.call("POST", `/api/v3/integration_keys/${key.id}/decrypt`, { input: {} })).body).toEqual(failed(4012, "login_password"));
        expect((await t.call("PUT", "/api/v3/integration_keys/reassign", { input: { owned_by: { id: jane.id } } })).body).toEqual(failed(4012, "ids"));
    });

    it("length limits: name 50, description 250", async () => {
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("n".repeat(50)) })).status).toBe(201);
        const long = await t.call("POST", "/api/v3/integration_keys", { input: keyInput("n".repeat(51)) });
        expect(long.status).toBe(400);
        expect(long.body).toEqual(failed(4000, "name"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("desc 250", { description: "d".repeat(250) }) })).status).toBe(201);
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("desc 251", { description: "d".repeat(251) }) })).body).toEqual(failed(4000, "description"));
    });

    it("4001 for unknown roles and bad values, 4016 for a past expiry", async () => {
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("bad role", { roles: [{ id: "999" }] }) })).body).toEqual(failed(4001, "roles"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("bad role name", { roles: [{ name: "Nobody" }] }) })).body).toEqual(failed(4001, "roles"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("mismatch", { roles: [{ id: "302", name: "SDAdmin" }] }) })).body).toEqual(failed(4001, "roles"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("bad status", { status: "enabled" }) })).body).toEqual(failed(4001, "status"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("bad validity", { validity: { value: "tomorrow" } }) })).body).toEqual(failed(4001, "validity"));
        const past = await t.call("POST", "/api/v3/integration_keys", { input: keyInput("past", { validity: { value: Date.now() - 1000 } }) });
        expect(past.status).toBe(400);
        expect(past.body).toEqual(failed(4016, "validity"));
    });

    it("4009 for non-editable fields", async () => {
        const key = await create("not editable");
        for (const [field, value] of [["owned_by", { id: jane.id }], ["id", "1"], ["created_time", { value: "1" }], ["key", "ABC"]] as const) {
            const r = await t.call("PUT", `/api/v3/integration_keys/${key.id}`, { input: { integration_key: { [field]: value } } });
            expect(r.status, field).toBe(400);
            expect(r.body).toEqual(failed(4009, field));
        }
    });

    it("4007 / 404 for an unknown key id and an unknown URL; 405 for another method", async () => {
        const r = await t.call("GET", "/api/v3/integration_keys/100000000000999999");
        expect(r.status).toBe(404);
        expect(r.body).toEqual(failed(4007, "id"));
        const url = await t.call("GET", "/api/v3/no_such_module");
        expect(url.status).toBe(404);
        expect(url.body).toEqual(failed(4007));
        expect((await t.call("PATCH", "/api/v3/integration_keys")).status).toBe(405);
    });

    it("4000 for a missing Accept header, missing or broken input_data and unknown fields", async () => {
        const noAccept = await t.call("GET", "/api/v3/integration_keys", { accept: null });
        expect(noAccept.status).toBe(400);
        expect(noAccept.body).toEqual(failed(4000));
        expect((await t.call("GET", "/api/v3/integration_keys", { accept: "application/json" })).status).toBe(400);
        const noInput = await fetch(`${t.url}/api/v3/integration_keys`, {
            method: "POST",
            headers: { authtoken: admin.technicianKey, accept: SCP_ACCEPT, "content-type": "application/json" },
            body: JSON.stringify(keyInput("json body")),
        });
        expect(noInput.status).toBe(400);
        expect(await noInput.json()).toEqual(failed(4000, "input_data"));
        const broken = await fetch(`${t.url}/api/v3/integration_keys`, {
            method: "POST",
            headers: { authtoken: admin.technicianKey, accept: SCP_ACCEPT, "content-type": "application/x-www-form-urlencoded" },
            body: "input_data={broken",
        });
        expect(await broken.json()).toEqual(failed(4000, "input_data"));
        expect((await t.call("POST", "/api/v3/integration_keys", { input: keyInput("typo", { expiry: 0 }) })).body).toEqual(failed(4000, "expiry"));
    });
});

describe("paging and filters", () => {
    let p: Opened;
    beforeAll(async () => {
        p = await open();
    });
    afterAll(() => p.close());

    it("pages 250 keys 100 at a time, in creation order, with has_more_rows and total_count", async () => {
        const created: string[] = [];
        for (let i = 0; i < 250; i++) {
            const r = await p.call("POST", "/api/v3/integration_keys", { input: keyInput(`page ${String(i).padStart(3, "0")}`) });
            expect(r.status).toBe(201);
            created.push(r.body.integration_key.id);
        }
        const seen: string[] = [];
        const infos: Json[] = [];
        let start = 1;
        for (;;) {
            const r = await p.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 100, start_index: start, get_total_count: true } } });
            expect(r.status).toBe(200);
            infos.push(r.body.list_info);
            seen.push(...r.body.integration_keys.map((k: Json) => k.id));
            if (!r.body.list_info.has_more_rows) break;
            start += 100;
        }
        expect(infos).toEqual([
            { has_more_rows: true, start_index: 1, row_count: 100, total_count: 250, sort_field: "created_time", sort_order: "asc" },
            { has_more_rows: true, start_index: 101, row_count: 100, total_count: 250, sort_field: "created_time", sort_order: "asc" },
            { has_more_rows: false, start_index: 201, row_count: 50, total_count: 250, sort_field: "created_time", sort_order: "asc" },
        ]);
        expect(seen).toEqual(created);

        // Without get_total_count there is no total; the default page is 10; above 100 is clamped.
        const dflt = await p.call("GET", "/api/v3/integration_keys");
        expect(dflt.body.list_info).toEqual({ has_more_rows: true, start_index: 1, row_count: 10, sort_field: "created_time", sort_order: "asc" });
        const big = await p.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 500 } } });
        expect(big.body.integration_keys).toHaveLength(100);
        expect(big.body.list_info.has_more_rows).toBe(true);
        const desc = await p.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 3, sort_field: "name", sort_order: "desc" } } });
        expect(desc.body.integration_keys.map((k: Json) => k.name)).toEqual(["page 249", "page 248", "page 247"]);
        const past = await p.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 100, start_index: 301 } } });
        expect(past.body.integration_keys).toEqual([]);
        expect(past.body.list_info.has_more_rows).toBe(false);
        expect((await p.call("GET", "/api/v3/integration_keys", { input: { list_info: { start_index: 0 } } })).body).toEqual(failed(4001, "list_info.start_index"));
    });

    it("filters All, Active, Inactive and Expired, and searches", async () => {
        const f = await open();
        try {
            const mk = async (name: string, extra: Json = {}) => (await f.call("POST", "/api/v3/integration_keys", { input: keyInput(name, extra) })).body.integration_key.id as string;
            const hour = 3_600_000;
            const active = await mk("active");
            const inactive = await mk("inactive", { status: "inactive" });
            const soon = await mk("expires soon", { validity: { value: Date.now() + hour } });
            const inactiveSoon = await mk("inactive expires soon", { validity: { value: Date.now() + hour }, status: "inactive" });
            const filtered = async (name?: string) => {
                const input = { list_info: { row_count: 100, ...(name ? { filter_by: { name } } : {}) } };
                const r = await f.call("GET", "/api/v3/integration_keys", { input });
                expect(r.status).toBe(200);
                return r.body.integration_keys.map((k: Json) => k.id).sort();
            };
            expect(await filtered("Active")).toEqual([active, soon].sort());
            expect(await filtered("Inactive")).toEqual([inactive, inactiveSoon].sort());
            expect(await filtered("Expired")).toEqual([]);
            f.sandbox.advance(2 * hour);
            expect(await filtered("Active")).toEqual([active]);
            expect(await filtered("Inactive")).toEqual([inactive, inactiveSoon].sort());
            expect(await filtered("Expired")).toEqual([soon, inactiveSoon].sort());
            expect(await filtered("All")).toEqual([active, inactive, soon, inactiveSoon].sort());
            expect(await filtered()).toEqual(await filtered("All"));
            const got = await f.call("GET", `/api/v3/integration_keys/${soon}`);
            expect(got.body.integration_key.is_expired).toBe(true);
            expect((await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { filter_by: { name: "Revoked" } } } })).body).toEqual(failed(4001, "list_info.filter_by"));

            const search = async (criteria: unknown) =>
                (await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { search_criteria: criteria } } })).body.integration_keys.map((k: Json) => k.name).sort();
            expect(await search({ field: "name", condition: "contains", value: "SOON" })).toEqual(["expires soon", "inactive expires soon"]);
            expect(await search([{ field: "status", condition: "is", value: "inactive" }, { field: "name", condition: "starts with", value: "inactive e", logical_operator: "AND" }])).toEqual(["inactive expires soon"]);
            expect(await search({ field: "name", condition: "is", values: ["active", "inactive"] })).toEqual(["active", "inactive"]);
            expect(await search({ field: "owned_by.id", condition: "is", value: jane.id })).toEqual([]);
        } finally {
            await f.close();
        }
    });

    it("reads the web client's search_criteria (children, is / GT / LT / EQ / contains) as the script means them", async () => {
        const f = await open();
        try {
            const mk = async (name: string, extra: Json = {}) => (await f.call("POST", "/api/v3/integration_keys", { input: keyInput(name, extra) })).body.integration_key.id as string;
            const hour = 3_600_000;
            const never = await mk("never");
            const inactiveNever = await mk("inactive never", { status: "inactive" });
            const soon = await mk("soon", { validity: { value: Date.now() + hour } });
            const later = await mk("later", { validity: { value: Date.now() + 100 * hour } });
            f.sandbox.advance(2 * hour);
            const now = f.sandbox.now();
            const ids = async (criteria: unknown) =>
                (await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 100, search_criteria: criteria } } })).body.integration_keys.map((k: Json) => k.id).sort();
            // The script's Active filter: status is active AND (validity GT 0 AND GT now OR EQ 0); an
            // inactive never-expiring key must not slip in through the OR.
            const validNow = [
                { field: "validity", value: 0, condition: "GT", logical_operator: "AND" },
                { field: "validity", value: now, condition: "GT", logical_operator: "AND" },
                { field: "validity", value: 0, condition: "EQ", logical_operator: "OR" },
            ];
            expect(await ids({ field: "status", value: "active", condition: "is", logical_operator: "AND", children: validNow })).toEqual([never, later].sort());
            expect(await ids({ field: "status", value: "inactive", condition: "is", logical_operator: "AND", children: validNow })).toEqual([inactiveNever]);
            expect(await ids({ field: "validity", value: 0, condition: "GT", logical_operator: "AND", children: [{ field: "validity", value: now, condition: "LT", logical_operator: "AND" }] })).toEqual([soon]);
            expect(await ids({ field: "name", value: "NEVER", condition: "contains", logical_operator: "AND" })).toEqual([never, inactiveNever].sort());
            expect((await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { search_criteria: { field: "name", value: "x", condition: "SOUNDS LIKE" } } } })).body).toEqual(failed(4001, "list_info.search_criteria"));
        } finally {
            await f.close();
        }
    });

    it("keeps a deleted key in the list, status deleted, key masked; it no longer works", async () => {
        const f = await open();
        try {
            const made = (await f.call("POST", "/api/v3/integration_keys", { input: keyInput("to delete") })).body.integration_key;
            expect((await f.call("DELETE", `/api/v3/integration_keys/${made.id}`)).status).toBe(200);
            const list = (await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { row_count: 100 } } })).body.integration_keys as Json[];
            expect(list).toEqual([expect.objectContaining({ id: made.id, name: "to delete", status: "deleted", key: "*********" })]);
            expect(JSON.stringify(list)).not.toContain(made.key);
            // The script's Deleted filter.
            const deleted = await f.call("GET", "/api/v3/integration_keys", { input: { list_info: { search_criteria: { field: "status", value: "deleted", condition: "is", logical_operator: "AND" } } } });
            expect(deleted.body.integration_keys.map((k: Json) => k.id)).toEqual([made.id]);
            const res = await fetch(`${f.url}/api/v3/requests`, { headers: { authtoken: made.key, accept: SCP_ACCEPT } });
            expect(res.status).toBe(401);
            // By default its name is free again; behind deletedKeysHoldNames it stays taken (4008).
            expect((await f.call("POST", "/api/v3/integration_keys", { input: keyInput("to delete") })).status).toBe(201);
        } finally {
            await f.close();
        }
        const h = await open({ deletedKeysHoldNames: true });
        try {
            const made = (await h.call("POST", "/api/v3/integration_keys", { input: keyInput("held") })).body.integration_key;
            await h.call("DELETE", `/api/v3/integration_keys/${made.id}`);
            expect((await h.call("POST", "/api/v3/integration_keys", { input: keyInput("HELD") })).body).toEqual(failed(4008, "name"));
        } finally {
            await h.close();
        }
    });

    it("serves the web client's pickers: /technicians/associated_roles and /technicians searched on associated_roles.name", async () => {
        const roles = await p.call("GET", "/api/v3/technicians/associated_roles", { input: { list_info: { row_count: 100 } } });
        expect(roles.body.associated_roles).toEqual(expect.arrayContaining([expect.objectContaining({ id: "301", name: "SDAdmin" })]));
        const admins = await p.call("GET", "/api/v3/technicians", {
            input: { list_info: { sort_field: "name", sort_order: "asc", search_criteria: { field: "associated_roles.name", value: "SDAdmin", condition: "contains", logical_operator: "AND" } } },
        });
        expect(admins.body.technicians.map((u: Json) => u.login_name)).toEqual(["admin", "jane"]);
        expect(admins.body.technicians[0]).toMatchObject({ id: admin.id, name: admin.name, associated_roles: [{ id: "301", name: "SDAdmin" }] });
    });

    it("lists roles and users with list_info too", async () => {
        const roles = await p.call("GET", "/api/v3/roles", { input: { list_info: { row_count: 2, get_total_count: true } } });
        expect(roles.body.response_status).toEqual([{ status_code: 2000, status: "success" }]);
        expect(roles.body.list_info).toMatchObject({ has_more_rows: true, row_count: 2, total_count: 6 });
        const all = await p.call("GET", "/api/v3/roles", { input: { list_info: { row_count: 100 } } });
        expect(all.body.roles).toEqual(
            expect.arrayContaining([
                { id: "301", name: "SDAdmin", description: expect.any(String), is_custom: false },
                { id: "351", name: "Integration Auditor", description: expect.any(String), is_custom: true },
            ]),
        );
        const users = await p.call("GET", "/api/v3/users", { input: { list_info: { search_criteria: { field: "login_name", condition: "is", value: "jane" } } } });
        expect(users.body.users).toEqual([
            { id: jane.id, name: jane.name, login_name: "jane", email_id: jane.email, is_technician: true, status: "ACTIVE", roles: [{ id: "301", name: "SDAdmin" }] },
        ]);
        const second = await p.call("GET", "/api/v3/users", { input: { list_info: { row_count: 1, start_index: 2 } } });
        expect(second.body.users).toHaveLength(1);
        expect(second.body.list_info.has_more_rows).toBe(true);
    });
});

describe("decrypt, reassign, ownership", () => {
    it("shows the key only with the owner's login password", async () => {
        const key = await create("decrypt me");
        const ok = await decrypt(key.id);
        expect(ok.status).toBe(200);
        expect(ok.body.response_status).toEqual({ status_code: 2000, status: "success" });
        expect(ok.body.decrypt).toEqual({ key: t.sandbox.keys.get(key.id)!.value });
        const wrong = await decrypt(key.id, "wrong password");
        expect(wrong.status).toBe(400);
        expect(wrong.body).toEqual(failed(4001, "login_password"));
        expect(JSON.stringify(wrong.body)).not.toContain(t.sandbox.keys.get(key.id)!.value);
        // Another admin's password, even with their own token, does not open a key they do not own.
        expect((await decrypt(key.id, jane.password, jane.technicianKey)).status).toBe(403);
    });

    it("reassigns to an SDAdmin; the previous owner can do nothing more with the key", async () => {
        const key = await create("reassign me");
        const value = (await decrypt(key.id)).body.decrypt.key;
        const toTech = await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: key.id }, input: { owned_by: { id: tech.id }, comments: "x" } });
        expect(toTech.status).toBe(400);
        expect(toTech.body).toEqual(failed(4001, "owned_by"));
        expect((await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: key.id }, input: { owned_by: { id: "999" } } })).body).toEqual(failed(4001, "owned_by"));

        const r = await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: key.id }, input: { owned_by: { id: jane.id }, comments: "Jane runs the CRM now" } });
        expect(r.status).toBe(200);
        expect(r.body.response_status).toEqual([{ status_code: 2000, status: "success", id: key.id }]);
        expect(r.body.integration_keys[0].owned_by).toEqual({ id: jane.id, name: jane.name, email_id: jane.email });
        expect(t.sandbox.notifications).toContainEqual(expect.objectContaining({ to: "jane", event: "reassigned", keyId: key.id, message: expect.stringContaining("Jane runs the CRM now") }));

        const id = key.id;
        const attempts: Api[] = [
            await t.call("GET", `/api/v3/integration_keys/${id}`),
            await t.call("PUT", `/api/v3/integration_keys/${id}`, { input: { integration_key: { description: "mine again?" } } }),
            await decrypt(id),
            await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: id }, input: { owned_by: { id: admin.id } } }),
            await t.call("DELETE", `/api/v3/integration_keys/${id}`),
            await t.call("DELETE", "/api/v3/integration_keys", { query: { ids: id } }),
        ];
        for (const a of attempts) {
            expect(a.status).toBe(403);
            expect(a.body.response_status.messages[0].status_code).toBe(4002);
        }
        // It still shows in the list, owned by Jane, and Jane sees the same key value with her password.
        const list = await t.call("GET", "/api/v3/integration_keys", { input: { list_info: { search_criteria: { field: "id", condition: "is", value: id } } } });
        expect(list.body.integration_keys[0].owned_by.id).toBe(jane.id);
        const mine = await decrypt(id, jane.password, jane.technicianKey);
        expect(mine.body.decrypt.key).toBe(value);
        expect((await t.call("PUT", `/api/v3/integration_keys/${id}`, { token: jane.technicianKey, input: { integration_key: { description: "Jane's" } } })).status).toBe(200);
        expect((await use(value)).status).toBe(200);
    });

    it("reassigns in bulk, by name too, all or nothing", async () => {
        const a = await create("bulk reassign a");
        const b = await create("bulk reassign b");
        const foreign = await create("bulk reassign foreign", {}, jane.technicianKey);
        const refused = await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: `${a.id},${foreign.id}` }, input: { owned_by: { id: jane.id } } });
        expect(refused.body).toEqual(failed(4002, "ids"));
        expect(t.sandbox.keys.get(a.id)!.ownerId).toBe(admin.id);
        const r = await t.call("PUT", "/api/v3/integration_keys/reassign", { query: { ids: `${a.id},${b.id}` }, input: { owned_by: { name: jane.name } } });
        expect(r.status).toBe(200);
        expect(r.body.integration_keys.map((k: Json) => k.owned_by.id)).toEqual([jane.id, jane.id]);
    });
});

describe("expiry-notification settings (the web client's _get_ and _update_notification_settings)", () => {
    it("answers get_notification_settings and takes the form's top-level body; refuses what the form refuses", async () => {
        const f = await open();
        try {
            const get = async () => (await f.call("GET", "/api/v3/integration_keys/_get_notification_settings")).body;
            expect(await get()).toEqual({
                response_status: { status_code: 2000, status: "success" },
                get_notification_settings: { is_enabled: false, no_of_days: 3, notify_technicians: [], is_notify_to_owner: true },
            });
            const put = (input: unknown, token?: string) => f.call("PUT", "/api/v3/integration_keys/_update_notification_settings", { input, token });
            const on = { is_enabled: true, no_of_days: 7, is_notify_to_owner: false, notify_technicians: [{ id: jane.id, name: jane.name }] };
            expect((await put(on)).status).toBe(200);
            expect((await get()).get_notification_settings).toEqual({ is_enabled: true, no_of_days: 7, notify_technicians: [{ id: jane.id, name: jane.name }], is_notify_to_owner: false });
            // Disabling as the form does: the read setting with is_enabled false; the rest is kept.
            expect((await put({ ...(await get()).get_notification_settings, is_enabled: false })).status).toBe(200);
            expect((await get()).get_notification_settings).toMatchObject({ is_enabled: false, no_of_days: 7, notify_technicians: [{ id: jane.id }] });
            expect((await put({ ...on, notify_technicians: [], is_notify_to_owner: false })).body).toEqual(failed(4012, "notify_technicians"));
            expect((await put({ ...on, notify_technicians: [{ id: tech.id }] })).body).toEqual(failed(4001, "notify_technicians"));
            expect((await put({ ...on, no_of_days: 0 })).body).toEqual(failed(4001, "no_of_days"));
            expect((await put({ get_notification_settings: on })).body).toEqual(failed(4000, "get_notification_settings"));
            expect((await put(on, tech.technicianKey)).status).toBe(403);
        } finally {
            await f.close();
        }
    });
});

describe("out-of-band admin actions", () => {
    it("deleteUser hands the user's keys to the deleting admin and voids the user's technician key", async () => {
        const o = await open();
        try {
            const r = await o.call("POST", "/api/v3/integration_keys", { token: jane.technicianKey, input: keyInput("janes key") });
            const id = r.body.integration_key.id;
            o.sandbox.deleteUser("jane", "admin");
            expect((await o.call("GET", "/api/v3/integration_keys", { token: jane.technicianKey })).status).toBe(401);
            const got = await o.call("GET", `/api/v3/integration_keys/${id}`);
            expect(got.status).toBe(200);
            expect(got.body.integration_key.owned_by).toEqual({ id: admin.id, name: admin.name, email_id: admin.email });
            expect(o.sandbox.notifications).toContainEqual(expect.objectContaining({ to: "admin", event: "auto_assigned", keyId: id }));
            expect((await decrypt(id, admin.password, admin.technicianKey, o)).status).toBe(200);
            expect(() => o.sandbox.deleteUser("tech", "tech")).toThrow(/SDAdmin/);
        } finally {
            await o.close();
        }
    });

    it("deleteRole removes a custom role from its keys, notifies the owner, and a roleless key grants nothing", async () => {
        const o = await open();
        try {
            const mk = async (name: string, roles: Json[]) => (await o.call("POST", "/api/v3/integration_keys", { input: keyInput(name, { roles }) })).body.integration_key.id as string;
            const both = await mk("both roles", [{ id: "302" }, { id: "351" }]);
            const only = await mk("auditor only", [{ id: "351" }]);
            const onlyValue = (await decrypt(only, admin.password, admin.technicianKey, o)).body.decrypt.key;
            expect((await use(onlyValue, o)).status).toBe(200);
            o.sandbox.deleteRole("Integration Auditor");
            expect((await o.call("GET", `/api/v3/integration_keys/${both}`)).body.integration_key.roles).toEqual([ROLE_TECH]);
            expect((await o.call("GET", `/api/v3/integration_keys/${only}`)).body.integration_key.roles).toEqual([]);
            expect(o.sandbox.notifications.filter((n) => n.event === "role_deleted").map((n) => [n.to, n.keyName])).toEqual([
                ["admin", "both roles"],
                ["admin", "auditor only"],
            ]);
            const notices = await (await fetch(`${o.url}/_sandbox/notifications`)).json();
            expect(notices).toHaveLength(2);
            const refused = await use(onlyValue, o);
            expect(refused.status).toBe(403);
            expect(refused.body).toEqual(failed(4002));
            expect((await o.call("GET", "/api/v3/roles")).body.roles.map((r: Json) => r.name)).not.toContain("Integration Auditor");
            expect((await o.call("POST", "/api/v3/integration_keys", { input: keyInput("gone role", { roles: [{ id: "351" }] }) })).body).toEqual(failed(4001, "roles"));
            expect(() => o.sandbox.deleteRole("SDAdmin")).toThrow(/built-in/);
        } finally {
            await o.close();
        }
    });

    it("edits, deactivates and deletes keys as the UI would", async () => {
        const key = await create("ui edits");
        t.sandbox.editKey(key.id, { name: "ui edited", roles: ["Integration Auditor"], description: "from the UI" });
        expect((await t.call("GET", `/api/v3/integration_keys/${key.id}`)).body.integration_key).toMatchObject({ name: "ui edited", roles: [ROLE_AUDITOR], description: "from the UI" });
        t.sandbox.deactivate(key.id);
        expect((await t.call("GET", `/api/v3/integration_keys/${key.id}`)).body.integration_key.status).toBe("inactive");
        t.sandbox.deleteKey(key.id);
        // Gone for every use, but still read (as the list still shows it), as deleted; edits are 4007.
        expect((await t.call("GET", `/api/v3/integration_keys/${key.id}`)).body.integration_key.status).toBe("deleted");
        expect((await t.call("PUT", `/api/v3/integration_keys/${key.id}`, { input: { integration_key: { description: "x" } } })).status).toBe(404);
    });
});

describe("consumer API: GET /api/v3/requests with the integration key", () => {
    it("accepts an active key and refuses inactive, expired and deleted ones", async () => {
        const o = await open();
        try {
            const r = await o.call("POST", "/api/v3/integration_keys", { input: keyInput("consumer", { validity: { value: Date.now() + 86_400_000 } }) });
            const id = r.body.integration_key.id;
            const value = (await decrypt(id, admin.password, admin.technicianKey, o)).body.decrypt.key;
            const ok = await use(value, o);
            expect(ok.status).toBe(200);
            expect(ok.body).toMatchObject({ response_status: [{ status_code: 2000, status: "success" }], requests: [], list_info: { has_more_rows: false } });

            await o.call("PUT", `/api/v3/integration_keys/${id}`, { input: { integration_key: { status: "inactive" } } });
            const inactive = await use(value, o);
            expect(inactive.status).toBe(401);
            expect(inactive.body).toEqual(failed(4022));
            await o.call("PUT", `/api/v3/integration_keys/${id}`, { input: { integration_key: { status: "active" } } });
            expect((await use(value, o)).status).toBe(200);
            o.sandbox.deactivate(id);
            expect((await use(value, o)).status).toBe(401);
            o.sandbox.editKey(id, { status: "active" });

            o.sandbox.advance(2 * 86_400_000);
            expect((await use(value, o)).status).toBe(401);
            // Extending the validity (the seed's "extend the validity period") revives it.
            await o.call("PUT", `/api/v3/integration_keys/${id}`, { input: { integration_key: { validity: { value: "0" } } } });
            expect((await use(value, o)).status).toBe(200);

            await o.call("DELETE", `/api/v3/integration_keys/${id}`);
            expect((await use(value, o)).status).toBe(401);
            expect((await use(tech.technicianKey, o)).status).toBe(200);
        } finally {
            await o.close();
        }
    });
});

describe("rate limit, stats, faults, persistence", () => {
    it("answers 4015 / 429 with Retry-After once over the limit, per authtoken; off by default", async () => {
        const o = await open({ rateLimit: { requests: 3, windowSeconds: 60 } });
        try {
            for (let i = 0; i < 3; i++) expect((await o.call("GET", "/api/v3/integration_keys")).status).toBe(200);
            const r = await o.call("GET", "/api/v3/integration_keys");
            expect(r.status).toBe(429);
            expect(r.body).toEqual(failed(4015));
            expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
            expect(Number(r.headers.get("retry-after"))).toBeLessThanOrEqual(60);
            expect((await o.call("GET", "/api/v3/integration_keys", { token: jane.technicianKey })).status).toBe(200);
            o.sandbox.rateLimit = undefined;
            expect((await o.call("GET", "/api/v3/integration_keys")).status).toBe(200);
        } finally {
            await o.close();
        }
        for (let i = 0; i < 30; i++) expect((await t.call("GET", "/api/v3/roles")).status).toBe(200);
    });

    it("counts calls by route template, never by raw path", async () => {
        const key = await create("stats");
        t.sandbox.stats.reset();
        await t.call("GET", `/api/v3/integration_keys/${key.id}`);
        await decrypt(key.id);
        await decrypt(key.id);
        await t.call("GET", "/api/v3/nothing/here");
        const snap = t.sandbox.stats.snapshot();
        expect(snap.byRoute).toEqual({
            "GET /api/v3/integration_keys/{id}": 1,
            "POST /api/v3/integration_keys/{id}/decrypt": 2,
            unknown: 1,
        });
        expect(JSON.stringify(snap)).not.toContain(key.id);
        const wire = (await (await fetch(`${t.url}/_sandbox/stats`)).json()) as Json;
        expect(wire.total).toBe(4);
    });

    it("injects failures before the action, and lost answers after it", async () => {
        const o = await open();
        try {
            o.sandbox.failNext("POST /api/v3/integration_keys", 500);
            const r = await o.call("POST", "/api/v3/integration_keys", { input: keyInput("injected") });
            expect(r.status).toBe(500);
            expect(r.body).toEqual(failed(4004));
            expect(o.sandbox.keys.size).toBe(0);
            o.sandbox.failNext("GET /api/v3/integration_keys", 429, "slow down", 1);
            expect((await o.call("GET", "/api/v3/integration_keys")).status).toBe(200);
            const limited = await o.call("GET", "/api/v3/integration_keys");
            expect(limited.status).toBe(429);
            expect(limited.headers.get("retry-after")).toBe("1");
            expect(limited.body.response_status.messages[0]).toMatchObject({ status_code: 4015, message: "slow down" });

            o.sandbox.loseNext("POST /api/v3/integration_keys");
            await expect(o.call("POST", "/api/v3/integration_keys", { input: keyInput("lost") })).rejects.toThrow();
            expect(o.sandbox.keyByName("lost")).toBeDefined();
            const retry = await o.call("POST", "/api/v3/integration_keys", { input: keyInput("lost") });
            expect(retry.body).toEqual(failed(4008, "name"));
        } finally {
            await o.close();
        }
    });

    it("keeps keys, roles and deleted users in a 0600 data file across restarts", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scp-sandbox-"));
        const dataFile = path.join(dir, "data.json");
        try {
            const first = await start({ port: 0, dataFile });
            const call = client(first.server.url);
            const r = await call("POST", "/api/v3/integration_keys", { token: jane.technicianKey, input: keyInput("persisted", { roles: [{ id: "351" }] }) });
            const id = r.body.integration_key.id;
            const value = first.sandbox.keys.get(id)!.value;
            first.sandbox.addRole("Temporary");
            first.sandbox.deleteRole("Integration Auditor");
            first.sandbox.deleteUser("jane", "admin");
            await first.server.close();
            expect(fs.statSync(dataFile).mode & 0o777).toBe(0o600);

            const second = await start({ port: 0, dataFile });
            try {
                const again = client(second.server.url);
                const got = await again("GET", `/api/v3/integration_keys/${id}`);
                expect(got.body.integration_key).toMatchObject({ name: "persisted", roles: [], owned_by: { id: admin.id } });
                expect((await again("GET", "/api/v3/integration_keys", { token: jane.technicianKey })).status).toBe(401);
                expect((await again("GET", "/api/v3/roles")).body.roles.map((x: Json) => x.name).sort()).toEqual(["AERemoteControl", "SDAdmin", "SDReport", "SDSiteAdmin", "Technician", "Temporary"]);
                expect(second.sandbox.issued.keys.has(value)).toBe(true);
                expect(second.sandbox.notifications.map((n) => n.event)).toEqual(["role_deleted", "auto_assigned"]);
                const next = await again("POST", "/api/v3/integration_keys", { input: keyInput("after restart") });
                expect(next.body.integration_key.id).not.toBe(id);
                expect(BigInt(next.body.integration_key.id)).toBeGreaterThan(BigInt(id));
            } finally {
                await second.server.close();
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("records every credential it knows for leak scans", () => {
        for (const u of [admin, jane, tech]) {
            expect(t.sandbox.issued.tokens.has(u.technicianKey)).toBe(true);
            expect(t.sandbox.issued.tokens.has(u.password)).toBe(true);
        }
        for (const k of t.sandbox.keys.values()) expect(t.sandbox.issued.keys.has(k.value)).toBe(true);
    });
});

afterEach(() => {
    t.sandbox.rateLimit = undefined;
});
