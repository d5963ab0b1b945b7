// Wire client for ManageEngine SupportCenter Plus integration keys. It is the only code in keyfleet
// that knows SupportCenter Plus URLs, headers, its envelope and its status codes.
//
// Documented (the vendor's UI guide, shared/seeds/supportcenter-plus-integration-key.txt; no wire):
// a key has a unique name, roles, an expiry or none, a description and a status; an edit never
// alters the key value; the value is shown only after the owner re-enters the login password; only
// the owner may act on a key; keys are reassigned to SDAdmin users with a comment; the list filters
// by All, Active, Inactive and Expired.
//
// EVIDENCE (the product's web-client script for Admin > Integration Key, its integKey module): the
// create answer {"integration_key": {…, "key"}}; decrypt {"login_password"} → {"decrypt": {"key"}},
// a wrong password 4001 on login_password; status active|inactive|deleted, deleted keys kept in the
// list with the key masked; 4008 on name for a taken name; the list's list_info.search_criteria
// {field, value, condition, logical_operator, children}; PUT /api/v3/integration_keys/reassign?ids=
// with {"owned_by": {"id"}, "comments"} (comments at most 250); roles from GET
// /api/v3/technicians/associated_roles (entity associated_roles); SDAdmins from GET
// /api/v3/technicians with search_criteria associated_roles.name contains SDAdmin; the expiry sent
// as 23:59 of a day; GET …/_get_notification_settings and PUT …/_update_notification_settings.
//
// INFERRED (no source settles it; what the client also accepts is said with each):
//   - headers `authtoken: <technician key>` and `Accept: application/vnd.manageengine.sdp.v3+json`;
//     bodies as the form field `input_data=<json>` (GET: a query parameter) — ServiceDesk Plus's
//     public v3 conventions, which SupportCenter Plus shares;
//   - the envelope {"response_status": {"status_code": 2000, "status": "success"}, …} (an ARRAY for
//     lists and bulk answers); failures {"response_status": {"status_code": 4000, "status": "failed",
//     "messages": [{"status_code", "type", "message", "field"}]}} with the codes in KINDS below and
//     SDP's HTTP statuses; an answer without the envelope is read by its HTTP status;
//   - records {id, name, roles [{id, name}], validity {value: "<epoch ms>" | "0"}, status,
//     is_expired, description, created_time {value}, owned_by {id, name}}, never the value outside
//     create and decrypt (the list's `key` is masked and never read);
//   - GET /api/v3/roles and GET /api/v3/users (login_name): asked only when the evidenced routes
//     answer 404; a technician's login is login_name, else user.login_name;
//   - the time zone of 23:59 (UTC here); an answer at 23:59 of the YAML's day, to any second, is no drift;
//   - whether a deleted key keeps its name (a 4008 it causes is explained, see the lifecycle);
//   - paging: list_info {row_count (at most 100), start_index (1-based), get_total_count}; the
//     answer's list_info.has_more_rows;
//   - what _update_notification_settings answers (the setting is read back instead);
//   - 4015 with Retry-After (seconds) for the rate limit, counted per authtoken.
// The sandbox (sandbox/supportcenter.ts) implements the same; check it against a real instance
// with `pulumi preview --refresh` before the first `up`.
import { callVendor, pacerFor } from "../shared/calls.ts";
import { VendorError, vendorWords, type ErrorKind } from "../shared/errors.ts";
import { retryAfterMs, send, serverClockOffset, type WireResponse } from "../shared/wire.ts";

/** Inferred: SDP's v3 media type; without it the API answers 4000. */
export const SCP_ACCEPT = "application/vnd.manageengine.sdp.v3+json";
/** Inferred: SDP's list_info.row_count maximum. */
export const PAGE_SIZE = 100;

/** One technician keyfleet acts as: a key owner's technician key and login password (decrypt asks for it). */
export interface ScpOwner {
    login: string;
    technicianKey: string;
    password: string;
}

/** An integration key record as the list, GET, PUT and reassign answer it (never with the value). */
export interface ScpKey {
    id: string;
    name: string;
    roles: { id: string; name: string }[];
    /** Epoch ms; 0 = never expires. */
    validity: number;
    /** Evidence: a deleted key stays in the list with status "deleted" (its key masked). */
    status: "active" | "inactive" | "deleted";
    isExpired: boolean;
    description: string | null;
    /** Epoch ms. */
    created: number;
    owner: { id: string; name: string | null };
}

export interface ScpRole {
    id: string;
    name: string;
}

export interface ScpUser {
    id: string;
    name: string;
    login: string;
}

/** The fields create and edit take (inferred body {"integration_key": {…}}). */
export interface ScpKeyFields {
    name?: string;
    roles?: { id: string; name: string }[];
    /** Epoch ms, 0 = never. */
    validity?: number;
    status?: "active" | "inactive";
    description?: string | null;
}

/** The instance's expiry-notification setting (evidence: the web client's notification settings form). */
export interface ScpNotificationSettings {
    enabled: boolean;
    days: number;
    technicians: { id: string; name: string }[];
    /** Notify each key's owner too ($IntegrationKeyOwner in the form). */
    owner: boolean;
}

export type ListFilter = "All" | "Active" | "Inactive" | "Expired";

/**
 * Codes of the inferred envelope as the core's kinds, with what to do. 4001 ("no such id or name")
 * is a missing object when it names ids, else a refused value (a role, a user, a password).
 */
const KINDS: Record<number, { kind: ErrorKind; hint?: string }> = {
    4000: { kind: "rejected", hint: "SupportCenter Plus refused the request; check the key's entry in the YAML" },
    4001: { kind: "rejected" },
    // 4002 and 4008 carry no hint here: what to do depends on the operation (the lifecycle's fixes).
    4002: { kind: "forbidden" },
    4004: { kind: "unavailable", hint: "SupportCenter Plus failed internally; try again later" },
    // 4007 carries no hint here either: "the key is gone" fits a read or an edit, not a create (the lifecycle's fixes).
    4007: { kind: "notFound" },
    4008: { kind: "conflict" },
    4009: { kind: "rejected", hint: "SupportCenter Plus does not let this field be edited" },
    4012: { kind: "rejected", hint: "a field SupportCenter Plus requires is missing (a key needs a name and at least one role)" },
    4015: { kind: "rateLimited" },
    4016: { kind: "rejected", hint: "the expiry is not in the future; move expires: forward or set never" },
    4022: { kind: "unauthorized", hint: "the technician key was refused; update it in keyfleet:supportcenterOwners (or KEYFLEET_SUPPORTCENTER_OWNERS)" },
};

/** What the one field of a 4001 means, for its hint. */
const FIELD_HINTS: Record<string, string> = {
    login_password: "decrypt refused the owner's login password; update that owner's password in keyfleet:supportcenterOwners",
    password: "decrypt refused the owner's login password; update that owner's password in keyfleet:supportcenterOwners",
    roles: "a role named in the YAML does not exist in SupportCenter Plus; check the roles: list",
    owned_by: "keys can be reassigned only to an active SDAdmin user; check owner: in the YAML",
    status: "status is active or inactive",
    validity: "the expiry must be a time in the future, or never",
};

const KIND_BY_HTTP: Record<number, ErrorKind> = { 400: "rejected", 401: "unauthorized", 403: "forbidden", 404: "notFound", 429: "rateLimited" };

function parse(text: string): unknown {
    if (!text) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

/**
 * One answer read through the inferred envelope: the body on success (status_code 2000, the
 * response_status an object or, for lists and bulk actions, an array of them), else a VendorError
 * of the code's kind naming the vendor's message and field. `secrets` the vendor might echo are masked.
 */
export function readEnvelope(res: WireResponse, what: string, secrets: readonly string[] = []): Record<string, unknown> {
    const body = parse(res.text);
    const rs = body && typeof body === "object" ? (body as Record<string, unknown>).response_status : undefined;
    const statuses = (Array.isArray(rs) ? rs : rs === undefined ? [] : [rs]) as Record<string, unknown>[];
    const failed = statuses.find((s) => s && typeof s === "object" && (s.status === "failed" || Number(s.status_code) >= 4000));
    if (!failed && res.status >= 200 && res.status < 300) {
        if (!body || typeof body !== "object" || statuses.length === 0 || statuses.some((s) => Number(s?.status_code) !== 2000)) {
            throw new VendorError("invalidAnswer", `SupportCenter Plus answered ${what} without its response_status envelope (status_code 2000)`);
        }
        return body as Record<string, unknown>;
    }
    const retry = res.status === 429 ? (retryAfterMs(res.headers) ?? 1000) : undefined;
    if (!failed) {
        // No envelope: a proxy, a gateway or another product answered.
        const kind = KIND_BY_HTTP[res.status] ?? (res.status >= 500 ? "unavailable" : "rejected");
        const words = vendorWords(res.text, secrets);
        return fail(kind, `HTTP ${res.status} ${words}`, res.status, undefined, retry);
    }
    const messages = (Array.isArray(failed.messages) ? failed.messages : []) as Record<string, unknown>[];
    const first = messages[0] ?? {};
    const code = Number(first.status_code ?? failed.status_code);
    const field = typeof first.field === "string" ? first.field : undefined;
    const message = vendorWords(String(first.message ?? failed.status ?? "failed"), secrets);
    const entry = KINDS[code] ?? { kind: (res.status >= 500 ? "unavailable" : "rejected") as ErrorKind };
    let kind = entry.kind;
    let hint = entry.hint;
    if (code === 4001) {
        if (field === "ids" || field === "id") kind = "notFound";
        hint = (field && FIELD_HINTS[field]) ?? "SupportCenter Plus found no such id or name; check the key's entry in the YAML";
    }
    return fail(kind, `${message}${field ? ` (field ${field})` : ""}`, code, hint, code === 4015 ? retry ?? 1000 : retry);
}

function fail(kind: ErrorKind, message: string, code: number, hint: string | undefined, retryAfter: number | undefined): never {
    throw new VendorError(kind, message, { code, hint, retryAfterMs: retryAfter });
}

/** A key record, read strictly: a missing field is an error naming it, never a default. */
export function keyRecord(raw: unknown, what: string): ScpKey {
    const bad = (field: string, expected: string) => new VendorError("invalidAnswer", `SupportCenter Plus answered ${what} with an integration key whose "${field}" is ${expected}`);
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new VendorError("invalidAnswer", `SupportCenter Plus answered ${what} without an integration key record`);
    const r = raw as Record<string, unknown>;
    const id = r.id;
    if (typeof id !== "string" && typeof id !== "number") throw bad("id", "missing");
    if (typeof r.name !== "string") throw bad("name", "missing or not a string");
    if (!Array.isArray(r.roles) || !r.roles.every((x) => x && typeof x === "object" && typeof (x as { name?: unknown }).name === "string")) throw bad("roles", "not a list of {id, name}");
    const ms = (v: unknown) => (v && typeof v === "object" ? Number((v as { value?: unknown }).value) : NaN);
    const validity = ms(r.validity);
    if (!Number.isSafeInteger(validity) || validity < 0) throw bad("validity", "not {value: <epoch ms>}");
    const created = ms(r.created_time);
    if (!Number.isSafeInteger(created)) throw bad("created_time", "not {value: <epoch ms>}");
    if (r.status !== "active" && r.status !== "inactive" && r.status !== "deleted") throw bad("status", "neither active, inactive nor deleted");
    if (r.description !== null && r.description !== undefined && typeof r.description !== "string") throw bad("description", "not a string");
    const owner = r.owned_by as { id?: unknown; name?: unknown } | undefined;
    if (!owner || typeof owner !== "object" || (typeof owner.id !== "string" && typeof owner.id !== "number")) throw bad("owned_by", "missing its id");
    return {
        id: String(id),
        name: r.name,
        roles: (r.roles as { id?: unknown; name: string }[]).map((x) => ({ id: String(x.id ?? ""), name: x.name })),
        validity,
        status: r.status,
        isExpired: r.is_expired === true,
        description: (r.description as string | null | undefined) ?? null,
        created,
        owner: { id: String(owner.id), name: typeof owner.name === "string" ? owner.name : null },
    };
}

/**
 * The list's filter as list_info.search_criteria, as the product's web client builds it (evidence):
 * status `is` active|inactive with validity never (EQ 0) or GT now; expired: validity GT 0 and LT
 * now; All: no criteria.
 */
export function searchCriteria(filter: ListFilter, now: number): Record<string, unknown> | undefined {
    if (filter === "All") return undefined;
    if (filter === "Expired") {
        return { field: "validity", value: 0, condition: "GT", logical_operator: "AND", children: [{ field: "validity", value: now, condition: "LT", logical_operator: "AND" }] };
    }
    return {
        field: "status",
        value: filter.toLowerCase(),
        condition: "is",
        logical_operator: "AND",
        children: [
            { field: "validity", value: 0, condition: "GT", logical_operator: "AND" },
            { field: "validity", value: now, condition: "GT", logical_operator: "AND" },
            { field: "validity", value: 0, condition: "EQ", logical_operator: "OR" },
        ],
    };
}

/** The keys that exist for keyfleet: a "deleted" one (kept in the product's list) is gone. */
export function liveKeys(keys: ScpKey[]): ScpKey[] {
    return keys.filter((k) => k.status !== "deleted");
}

export class SupportCenterClient {
    readonly url: string;

    constructor(url: string) {
        this.url = url.replace(/\/+$/, "");
    }

    /** How far the instance's clock (the one that stamps created_time) is ahead of keyfleet's, from its answers' Date header; undefined before any. */
    // Inferred: the Date header comes from the clock that stamps the record's creation time (RFC 9110
    // §6.6.1 requires the header, not that clock). Without one, the core falls back to its own clock
    // and names a clock off as the cause when a lost create's key is missed.
    clockOffset(): number | undefined {
        return serverClockOffset(this.url);
    }

    /**
     * Creates a key as `owner` (the creator owns it). The answer carries the value (evidence: the
     * web client shows `integration_key.key` of the create answer); `key` is undefined when an
     * answer lacks it (the caller may then fall back to decrypt).
     */
    async create(owner: ScpOwner, fields: ScpKeyFields): Promise<ScpKey & { key?: string }> {
        const body = await this.call(owner, "POST", "/api/v3/integration_keys", { input: { integration_key: wireFields(fields) }, idempotent: false });
        const record = keyRecord(body.integration_key, "creating an integration key");
        const key = (body.integration_key as { key?: unknown }).key;
        return typeof key === "string" && key !== "" ? { ...record, key } : record;
    }

    /** The key value: the product shows it only to its owner, against the owner's login password. */
    async decrypt(owner: ScpOwner, id: string): Promise<string> {
        // Reveals without changing anything: safe to repeat.
        const body = await this.call(owner, "POST", `${keyPath(id)}/decrypt`, { input: { login_password: owner.password }, idempotent: true, secrets: [owner.password] });
        // Evidence: {"decrypt": {"key"}}; the older inferred integration_key.key is still read.
        const value = (body.decrypt as { key?: unknown } | undefined)?.key ?? (body.integration_key as { key?: unknown } | undefined)?.key;
        if (typeof value !== "string" || value === "") throw new VendorError("invalidAnswer", "SupportCenter Plus answered decrypt without the key");
        return value;
    }

    async update(owner: ScpOwner, id: string, fields: ScpKeyFields): Promise<ScpKey> {
        const body = await this.call(owner, "PUT", keyPath(id), { input: { integration_key: wireFields(fields) }, idempotent: true });
        return keyRecord(body.integration_key, "editing an integration key");
    }

    /** Gives the keys to the SDAdmin `toUserId`; the previous owner can do nothing with them afterwards. */
    async reassign(owner: ScpOwner, ids: string[], toUserId: string, comments: string): Promise<ScpKey[]> {
        const path = `/api/v3/integration_keys/reassign?ids=${ids.map(encodeURIComponent).join(",")}`;
        const body = await this.call(owner, "PUT", path, { input: { owned_by: { id: toUserId }, comments }, idempotent: true });
        const list = body.integration_keys;
        if (!Array.isArray(list)) throw new VendorError("invalidAnswer", "SupportCenter Plus answered the reassignment without integration_keys");
        return list.map((k) => keyRecord(k, "reassigning an integration key"));
    }

    /** Deletes the key; false when it was already gone. */
    /**
     * Uses an integration key once, as a consumer would, on `url` (default: the request list, which
     * only reads): for rotation.verify. One request, no retry: the answer is the verdict.
     */
    async probe(key: string, url?: string): Promise<{ probe: string; status: number; text: string }> {
        const target = url ?? `${this.url}/api/v3/requests`;
        const res = await send({ method: "GET", url: target, headers: { authtoken: key, accept: SCP_ACCEPT } });
        return { probe: `GET ${target}`, status: res.status, text: res.text };
    }

    async delete(owner: ScpOwner, id: string): Promise<boolean> {
        try {
            await this.call(owner, "DELETE", keyPath(id), { idempotent: true });
            return true;
        } catch (err) {
            if (err instanceof VendorError && err.kind === "notFound") return false;
            throw err;
        }
    }

    /** Every key of the instance (an SDAdmin sees them all, with their owners), page by page. */
    async listKeys(as: ScpOwner, filter: ListFilter = "All", opts: { deleted?: boolean } = {}): Promise<ScpKey[]> {
        // A deleted key stays in the product's list (evidence); for keyfleet it is gone, unless the
        // caller asks for them (to explain a name refused as taken).
        const criteria = searchCriteria(filter, Date.now());
        const keys = (await this.walk(as, "/api/v3/integration_keys", "integration_keys", { ...(criteria ? { search_criteria: criteria } : {}), sort_field: "id" })).map((k) => keyRecord(k, "listing integration keys"));
        return opts.deleted ? keys : liveKeys(keys);
    }

    /**
     * The roles a key may be given. Evidence (the web client's role picker): GET
     * /api/v3/technicians/associated_roles, entity associated_roles. GET /api/v3/roles is INFERRED
     * (SDP's own route) and asked only when the first answers 404 (an older build without it).
     */
    async listRoles(as: ScpOwner): Promise<ScpRole[]> {
        const rows = await this.fallback(
            () => this.walk(as, "/api/v3/technicians/associated_roles", "associated_roles"),
            () => this.walk(as, "/api/v3/roles", "roles", { sort_field: "id" }),
        );
        return rows.map((r) => {
            const x = r as { id?: unknown; name?: unknown };
            if (typeof x.name !== "string") throw new VendorError("invalidAnswer", "SupportCenter Plus listed a role without a name");
            return { id: String(x.id), name: x.name };
        });
    }

    /**
     * The users a key may belong to or be reassigned to: SDAdmins. Evidence (the web client's
     * reassignment picker): GET /api/v3/technicians with search_criteria associated_roles.name
     * contains SDAdmin, sorted by name. A technician's login is INFERRED: login_name, else
     * user.login_name (SDP's shapes); GET /api/v3/users (inferred) only when /technicians answers 404.
     */
    async listUsers(as: ScpOwner): Promise<ScpUser[]> {
        const admins = { field: "associated_roles.name", value: "SDAdmin", condition: "contains", logical_operator: "AND" };
        const rows = await this.fallback(
            () => this.walk(as, "/api/v3/technicians", "technicians", { sort_field: "name", sort_order: "asc", search_criteria: admins }),
            () => this.walk(as, "/api/v3/users", "users", { sort_field: "id" }),
        );
        return rows.map((u) => {
            const x = u as { id?: unknown; name?: unknown; login_name?: unknown; user?: { login_name?: unknown } };
            const login = typeof x.login_name === "string" ? x.login_name : x.user?.login_name;
            if (typeof login !== "string") throw new VendorError("invalidAnswer", "SupportCenter Plus listed a technician without a login_name");
            return { id: String(x.id), name: String(x.name ?? login), login };
        });
    }

    /**
     * Evidence: GET /api/v3/integration_keys/_get_notification_settings answers
     * {get_notification_settings: {is_enabled, no_of_days, notify_technicians: [{id, name}], is_notify_to_owner}}.
     */
    async getNotificationSettings(as: ScpOwner): Promise<ScpNotificationSettings> {
        const body = await this.call(as, "GET", "/api/v3/integration_keys/_get_notification_settings", { idempotent: true });
        return notificationRecord(body.get_notification_settings);
    }

    /**
     * Evidence: PUT .../_update_notification_settings with input_data {is_enabled, no_of_days,
     * is_notify_to_owner, notify_technicians: [{id, name}]} at the top level (the web client's
     * constructNotificationSettingsInputData; disabling sends the settings it read, is_enabled false).
     * What it answers is not shown, so the setting is read back.
     */
    async updateNotificationSettings(as: ScpOwner, wanted: ScpNotificationSettings): Promise<ScpNotificationSettings> {
        const input = { is_enabled: wanted.enabled, no_of_days: wanted.days, is_notify_to_owner: wanted.owner, notify_technicians: wanted.technicians.map((t) => ({ id: t.id, name: t.name })) };
        await this.call(as, "PUT", "/api/v3/integration_keys/_update_notification_settings", { input, idempotent: true });
        return this.getNotificationSettings(as);
    }

    /** The evidenced route, and the inferred one only when the first is not there (404 / 4007). */
    private async fallback<T>(evidenced: () => Promise<T>, inferred: () => Promise<T>): Promise<T> {
        try {
            return await evidenced();
        } catch (err) {
            if (err instanceof VendorError && err.kind === "notFound") return inferred();
            throw err;
        }
    }

    /**
     * Every row of a list, PAGE_SIZE at a time, following has_more_rows; start_index is 1-based
     * and advances by the rows the page returned (a server may return fewer than asked).
     */
    async walk(as: ScpOwner, path: string, entity: string, listInfo: Record<string, unknown> = {}): Promise<unknown[]> {
        const rows: unknown[] = [];
        const seen = new Set<string>();
        for (let start = 1; ; ) {
            const info = { ...listInfo, row_count: PAGE_SIZE, start_index: start, get_total_count: true };
            const body = await this.call(as, "GET", `${path}?input_data=${encodeURIComponent(JSON.stringify({ list_info: info }))}`, { idempotent: true });
            const page = body[entity];
            const li = body.list_info as { has_more_rows?: unknown } | undefined;
            if (!Array.isArray(page) || !li || typeof li.has_more_rows !== "boolean") {
                throw new VendorError("invalidAnswer", `SupportCenter Plus answered the ${entity} list without ${Array.isArray(page) ? "list_info.has_more_rows" : `"${entity}"`}`);
            }
            for (const row of page) {
                // A row seen on an earlier page (an insert shifted the pages) is kept once.
                const id = String((row as { id?: unknown })?.id);
                if (seen.has(id)) continue;
                seen.add(id);
                rows.push(row);
            }
            if (!li.has_more_rows) return rows;
            if (page.length === 0) throw new VendorError("invalidAnswer", `SupportCenter Plus said the ${entity} list has more rows but returned an empty page`);
            start += page.length;
        }
    }

    /** One call as `as`, paced per technician key (the inferred rate limit counts per authtoken). */
    private async call(
        as: ScpOwner,
        method: "GET" | "POST" | "PUT" | "DELETE",
        path: string,
        opts: { input?: unknown; idempotent: boolean; secrets?: string[] },
    ): Promise<Record<string, unknown>> {
        const what = `${method} ${path.replace(/\?.*$/, "").replace(/\/\d+(?=\/|$)/, "/{id}")}`;
        const pacer = pacerFor(`supportcenter\0${this.url}\0${as.login}`);
        return callVendor({ idempotent: opts.idempotent, pacer }, async () => {
            const res = await send({
                method,
                url: `${this.url}${path}`,
                headers: {
                    authtoken: as.technicianKey,
                    accept: SCP_ACCEPT,
                    ...(opts.input === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
                },
                body: opts.input === undefined ? undefined : new URLSearchParams({ input_data: JSON.stringify(opts.input) }).toString(),
            });
            return readEnvelope(res, what, [as.technicianKey, ...(opts.secrets ?? [])]);
        }).catch((err: unknown) => {
            if (err instanceof VendorError && err.kind === "unauthorized") {
                throw new VendorError("unauthorized", err.vendorMessage, {
                    code: err.code,
                    hint: `the technician key of "${as.login}" was refused (regenerated, or the user deleted?); update it in keyfleet:supportcenterOwners (or KEYFLEET_SUPPORTCENTER_OWNERS)`,
                });
            }
            throw err;
        });
    }
}

/** The notification setting, read strictly: a missing field is an error naming it. */
export function notificationRecord(raw: unknown): ScpNotificationSettings {
    const bad = (field: string) => new VendorError("invalidAnswer", `SupportCenter Plus answered the notification settings without a usable "${field}"`);
    if (!raw || typeof raw !== "object") throw bad("get_notification_settings");
    const r = raw as Record<string, unknown>;
    if (typeof r.is_enabled !== "boolean") throw bad("is_enabled");
    const days = Number(r.no_of_days);
    if (!Number.isInteger(days)) throw bad("no_of_days");
    if (!Array.isArray(r.notify_technicians)) throw bad("notify_technicians");
    return {
        enabled: r.is_enabled,
        days,
        technicians: (r.notify_technicians as { id?: unknown; name?: unknown }[]).map((t) => ({ id: String(t?.id), name: String(t?.name ?? "") })),
        owner: r.is_notify_to_owner === true,
    };
}

/** The inferred body of create and edit: validity as {"value": <epoch ms>}, 0 for never. */
function wireFields(fields: ScpKeyFields): Record<string, unknown> {
    const { validity, ...rest } = fields;
    return validity === undefined ? rest : { ...rest, validity: { value: validity } };
}

function keyPath(id: string): string {
    return `/api/v3/integration_keys/${encodeURIComponent(id)}`;
}
