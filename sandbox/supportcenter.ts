// Sandbox for ManageEngine SupportCenter Plus integration keys (Admin > Developer Space > Integration Key).
//
// What is documented (shared/seeds/supportcenter-plus-integration-key.txt, a UI guide, no wire) and
// reproduced as is: a key has a unique name, roles, an expiry ("Key expires on" or never) and a
// description; keys are active by default and an edit toggles Status without altering the key
// value; the value is shown only after the owner re-enters the login password of the session;
// only the owner can edit a key; keys are reassigned (one or in bulk) to SDAdmin users with a
// comment, after which the previous owner "cannot perform any action on the key"; the list filters
// by All, Active, Inactive and Expired; keys are deleted one by one or in bulk, and a deleted key
// stops working "forever"; the keys of a deleted user go to the admin who deleted them; the owner is
// notified on reassignment, on auto-assignment, on expiry and when a custom role of a key is deleted.
//
// What is INFERRED (the wire is not public; the product's web client uses it). Everything below
// follows ServiceDesk Plus's public v3 API conventions, which SupportCenter Plus shares, or is our
// own choice where those say nothing:
//   - Routes: POST|GET|DELETE /api/v3/integration_keys (DELETE takes ?ids=1,2 for the bulk delete),
//     GET|PUT|DELETE /api/v3/integration_keys/{id}, POST /api/v3/integration_keys/{id}/decrypt,
//     PUT /api/v3/integration_keys/reassign?ids=1,2, GET /api/v3/roles, GET /api/v3/users, and
//     GET /api/v3/requests standing in for every consumer API.
//   - Headers: `authtoken: <technician key>` and `Accept: application/vnd.manageengine.sdp.v3+json`
//     (SDP's v3 header; anything else answers 4000/HTTP 400 unless requireAccept is false). The
//     seed mentions neither.
//   - Inputs: form field input_data=<json> (application/x-www-form-urlencoded body) on POST/PUT;
//     GET takes input_data as a query parameter. Unknown fields are refused (4000, field named).
//   - Create/edit body {"integration_key": {name, roles: [{id}|{name}], validity: {value}, status,
//     description}}. validity.value is epoch ms (string or number), 0 = never expires; a past date
//     is a time mismatch (4016, SDP's code for it). status is "active" | "inactive" (the seed's
//     Status checkbox and filter names). name and roles (at least one) are mandatory (4012); name is
//     trimmed, at most 50 characters, unique case-insensitively across all keys (4008);
//     description at most 250 (4000 with field). id, created_time, owned_by, key and is_expired are
//     not editable (4009 when sent with another value; sending them unchanged is accepted, so a
//     read record can be PUT back).
//   - Record: {id (18-digit string), name, roles: [{id, name}], validity: {value: "<ms>",
//     display_value} (value "0" / "Never expires" for never), status, is_expired (derived),
//     description (string or null), created_time: {value, display_value}, owned_by: {id, name,
//     email_id}}. Never the key value.
//   - Key values: upper-case UUIDs, 36 characters (SDP's technician API keys look like that).
//   - Create answers {"integration_key": {...record, "key": "<value>"}} (the product's web client
//     shows the value from there). Decrypt: POST .../{id}/decrypt with input_data
//     {"login_password": "<owner's login password>"} answers {"decrypt": {"key": "<value>"}}; a wrong
//     password is 4001 with field "login_password" (HTTP 400), as the web client expects.
//   - Reassign: input_data {"owned_by": {"id"} or {"name"}, "comments"} at the top level; the
//     target must be an active SDAdmin (else 4001, field owned_by); all ids are checked before any
//     is moved (all or nothing); the answer (like the bulk delete's) has one response_status entry
//     per id, plus "integration_keys" with the moved records.
//   - Who may do what: every integration-key route needs an SDAdmin technician key (a technician
//     gets 4002). The list shows every key of the instance, with owned_by (names are unique across
//     the instance, so a client must see who holds one). Reading, editing, decrypting, reassigning
//     and deleting a key is for its owner only: anyone else, previous owners included, gets 4002.
//     An integration key is accepted only by the consumer API (/api/v3/requests); on the
//     management routes it gets 4002.
//   - Envelope: {"response_status": {"status_code": 2000, "status": "success"}, "<entity>": …}; list
//     answers carry response_status as an ARRAY of one such object (as SDP's v3 list examples show)
//     plus list_info {has_more_rows, start_index, row_count (rows returned), total_count (only when
//     get_total_count is true), sort_field, sort_order}. Create answers HTTP 201, all else 200.
//   - Failures: {"response_status": {"status_code": 4000, "status": "failed", "messages":
//     [{"status_code": <code>, "type": "failed", "message", "field"?}]}} with SDP's HTTP statuses:
//     4000 400 (generic/validation), 4001 400 (no such id or name in the input, wrong value),
//     4002 403, 4004 500, 4007 404 (unknown URL or key id), 4008 400, 4009 400, 4012 400,
//     4015 429 (+ Retry-After seconds), 4016 400, 4022 401 (missing, unknown, deleted-user,
//     inactive, expired or deleted key); a known path with another method is 4000/HTTP 405.
//   - list_info: row_count default 10, values above 100 are clamped to 100 (the answer's row_count
//     says how many came); start_index 1-based (default 1; below 1 is 4001); sort_field name |
//     created_time | id (default created_time, ties by id), sort_order asc (default) | desc.
//     Filters: list_info.filter_by {"name": "All" | "Active" | "Inactive" | "Expired"} (SDP's
//     list-view filter field), where Active = status active and not expired, Inactive = status
//     inactive (expired or not), Expired = validity passed (either status). search_criteria is SDP's
//     {field, condition, value | values, logical_operator?} (or an array of them) on the record's
//     dotted fields, conditions is, is not, contains, not contains, starts with, ends with, greater
//     than, lesser than; text compares case-insensitively. Roles and users page the same way.
//   - A deleted custom role disappears from the roles of every key that had it, and the key's owner
//     gets a notification (sandbox.notifications, GET /_sandbox/notifications); a key left with no
//     role is refused by the consumer API with 4002 (it grants nothing).
//   - Rate limit (off by default): per authtoken, `requests` per `windowSeconds` window, 4015 /
//     HTTP 429 with Retry-After; windows run on real time, not on the advance() clock. Checked after
//     authentication and the Accept header, on every /api/v3 route.
//
// From the product's web-client script (EVIDENCE, over the inferences above where they differ):
// deleted keys stay listed as status deleted with the key masked (a read by id answers them too,
// inferred); search_criteria with children and the conditions is / GT / LT / EQ / NEQ / contains /
// like; GET /api/v3/technicians/associated_roles and GET /api/v3/technicians (records with
// associated_roles; login_name inferred); the role rules (SDAdmin with SDSiteAdmin, only SDReport /
// AERemoteControl: 4000 on roles, the code inferred); GET …/_get_notification_settings and PUT
// …/_update_notification_settings (top-level body; refusals, bounds and the default inferred).
// Options for what no source settles: deletedKeysHoldNames (a deleted key's name stays taken),
// validityPerDay (a validity kept as 23:59 of its UTC day), withoutTechnicianRoutes (an older build).
//
// Seeded data (SUPPORTCENTER_DEFAULTS): roles SDAdmin (301), Technician (302), SDSiteAdmin (303),
// SDReport (304), AERemoteControl (305), Integration Auditor
// (351, custom); users, with login / password / technician key:
//   admin  administrator  admin / admin_password   A1D5C0DE-0000-4000-8000-00000000AD01  SDAdmin
//   jane   Jane Doe       jane  / jane_password    1A7E0000-0000-4000-8000-0000000A7E02  SDAdmin
//   tech   Tom Tech       tech  / tech_password    7EC40000-0000-4000-8000-000000007EC3  Technician
import crypto from "node:crypto";
import type http from "node:http";
import { CallStats, HttpError, listen, readBody, records, sendGarbled, sendJson, type Garble, type Handler, type Listening } from "./http.ts";

export const SCP_ACCEPT = "application/vnd.manageengine.sdp.v3+json";

export interface SupportCenterUser {
    id: string;
    login: string;
    name: string;
    email: string;
    /** Role names. */
    roles: string[];
    password: string;
    technicianKey: string;
}

export interface SupportCenterRole {
    id: string;
    name: string;
    description: string;
    /** Custom roles can be deleted; SDAdmin and Technician cannot. */
    custom: boolean;
}

export interface IntegrationKeyRecord {
    id: string;
    name: string;
    roles: { id: string; name: string }[];
    /** Epoch ms; 0 = never expires. */
    validity: number;
    status: "active" | "inactive";
    description: string | null;
    created: number;
    ownerId: string;
    /** The key itself, shown only through decrypt. */
    value: string;
}

export interface SupportCenterNotification {
    /** Login of the user notified. */
    to: string;
    event: "reassigned" | "auto_assigned" | "role_deleted";
    keyId: string;
    keyName: string;
    message: string;
    time: number;
}

export interface SupportCenterSandboxOptions {
    users?: SupportCenterUser[];
    roles?: SupportCenterRole[];
    /** Requests per window per authtoken; off when absent. */
    rateLimit?: { requests: number; windowSeconds: number };
    /** Refuse requests without the v3 Accept header (default true). */
    requireAccept?: boolean;
    /** JSON file (mode 0600) that keeps keys, roles, deleted users and notifications across restarts. */
    dataFile?: string;
    /**
     * A deleted key keeps its name: a create or rename to it is 4008 (field name). Off by default:
     * the product's script shows deleted keys kept in the list, not whether their names stay taken.
     */
    deletedKeysHoldNames?: boolean;
    /**
     * Keep a validity as 23:59 of its day (UTC), as the product's form does (it sends only dates, at
     * 23:59). Off by default: whether the API itself keeps another instant no source shows.
     */
    validityPerDay?: boolean;
    /** Answer 4007 (Invalid URL) on /technicians and /technicians/associated_roles, as a build without them would. */
    withoutTechnicianRoutes?: boolean;
}

export const SUPPORTCENTER_DEFAULTS = {
    accept: SCP_ACCEPT,
    roles: [
        { id: "301", name: "SDAdmin", description: "Full access to the application", custom: false },
        { id: "302", name: "Technician", description: "Works on requests", custom: false },
        { id: "303", name: "SDSiteAdmin", description: "Administers the sites given to the user", custom: false },
        { id: "304", name: "SDReport", description: "Runs reports (depends on a module role)", custom: false },
        { id: "305", name: "AERemoteControl", description: "Remote control (depends on a module role)", custom: false },
        { id: "351", name: "Integration Auditor", description: "Custom role: read-only access for integrations", custom: true },
    ] as SupportCenterRole[],
    users: {
        admin: { id: "4", login: "admin", name: "administrator", email: "admin@example.com", roles: ["SDAdmin"], password: "admin_password", technicianKey: "A1D5C0DE-0000-4000-8000-00000000AD01" },
        jane: { id: "601", login: "jane", name: "Jane Doe", email: "jane@example.com", roles: ["SDAdmin"], password: "jane_password", technicianKey: "1A7E0000-0000-4000-8000-0000000A7E02" },
        tech: { id: "602", login: "tech", name: "Tom Tech", email: "tech@example.com", roles: ["Technician"], password: "tech_password", technicianKey: "7EC40000-0000-4000-8000-000000007EC3" },
    } satisfies Record<string, SupportCenterUser>,
} as const;

const HTTP_OF: Record<number, number> = { 4000: 400, 4001: 400, 4002: 403, 4004: 500, 4007: 404, 4008: 400, 4009: 400, 4012: 400, 4015: 429, 4016: 400, 4022: 401 };
const CODE_OF: Record<number, number> = { 400: 4000, 401: 4022, 403: 4002, 404: 4007, 429: 4015, 500: 4004, 502: 4004, 503: 4004 };
const MAX_NAME = 50;
const MAX_DESCRIPTION = 250;
const MAX_ROWS = 100;
const FILTERS = ["All", "Active", "Inactive", "Expired"] as const;
const KEY_FIELDS = ["name", "roles", "validity", "status", "description"];
const READ_ONLY_FIELDS = ["id", "created_time", "owned_by", "key", "is_expired"];

/** An SDP-shaped failure; HTTP status from SDP's table unless given. */
export function scpError(code: number, message: string, field?: string, status = HTTP_OF[code] ?? 400, headers: Record<string, string> = {}): HttpError {
    const m: Record<string, unknown> = { status_code: code, type: "failed", message };
    if (field !== undefined) m.field = field;
    return new HttpError(status, { response_status: { status_code: 4000, status: "failed", messages: [m] } }, headers);
}

const SUCCESS = { status_code: 2000, status: "success" };
/** What the product's list shows for a key (its web-client script, integKeyConstructTechKey). */
const MASKED = "*********";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** SDP's display format, in UTC: "Dec 6, 2017 06:06 PM". */
export function displayTime(ms: number): string {
    const d = new Date(ms);
    const h = d.getUTCHours();
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} ${pad(h % 12 || 12)}:${pad(d.getUTCMinutes())} ${h >= 12 ? "PM" : "AM"}`;
}

interface Reply {
    status: number;
    body: unknown;
}

type Caller = { kind: "user"; user: SupportCenterUser; token: string } | { kind: "key"; key: IntegrationKeyRecord; token: string };

type Json = Record<string, unknown>;

const ROUTES: { pattern: RegExp; template: string; methods: string[] }[] = [
    { pattern: /^\/api\/v3\/integration_keys$/, template: "/api/v3/integration_keys", methods: ["GET", "POST", "DELETE"] },
    { pattern: /^\/api\/v3\/integration_keys\/reassign$/, template: "/api/v3/integration_keys/reassign", methods: ["PUT"] },
    { pattern: /^\/api\/v3\/integration_keys\/_get_notification_settings$/, template: "/api/v3/integration_keys/_get_notification_settings", methods: ["GET"] },
    { pattern: /^\/api\/v3\/integration_keys\/_update_notification_settings$/, template: "/api/v3/integration_keys/_update_notification_settings", methods: ["PUT"] },
    { pattern: /^\/api\/v3\/integration_keys\/([^/]+)\/decrypt$/, template: "/api/v3/integration_keys/{id}/decrypt", methods: ["POST"] },
    { pattern: /^\/api\/v3\/integration_keys\/([^/]+)$/, template: "/api/v3/integration_keys/{id}", methods: ["GET", "PUT", "DELETE"] },
    { pattern: /^\/api\/v3\/roles$/, template: "/api/v3/roles", methods: ["GET"] },
    { pattern: /^\/api\/v3\/technicians\/associated_roles$/, template: "/api/v3/technicians/associated_roles", methods: ["GET"] },
    { pattern: /^\/api\/v3\/technicians$/, template: "/api/v3/technicians", methods: ["GET"] },
    { pattern: /^\/api\/v3\/users$/, template: "/api/v3/users", methods: ["GET"] },
    { pattern: /^\/api\/v3\/requests$/, template: "/api/v3/requests", methods: ["GET"] },
];

/** The instance's expiry-notification setting (Admin > Integration Key > notification settings). */
export interface NotificationSettings {
    isEnabled: boolean;
    days: number;
    /** User ids. */
    technicians: string[];
    notifyOwner: boolean;
}

/** Inferred: no source shows the product's default; off, 3 days (the seed's reminder), the owner only. */
export const NOTIFICATION_DEFAULTS: NotificationSettings = { isEnabled: false, days: 3, technicians: [], notifyOwner: true };
/** Inferred bounds of no_of_days (the form's field is a number; no source gives its range). */
const MAX_NOTIFY_DAYS = 365;

export class SupportCenterSandbox {
    readonly stats = new CallStats();
    readonly keys = new Map<string, IntegrationKeyRecord>();
    /** Deleted keys: the product keeps them in the list with status deleted and the key masked (its web-client script). */
    readonly deleted = new Map<string, IntegrationKeyRecord>();
    readonly users = new Map<string, SupportCenterUser>();
    readonly roles = new Map<string, SupportCenterRole>();
    readonly notifications: SupportCenterNotification[] = [];
    notificationSettings: NotificationSettings = { ...NOTIFICATION_DEFAULTS, technicians: [] };
    /** Every key value, technician key and password this sandbox knows, for leak scans. */
    readonly issued = { keys: new Set<string>(), tokens: new Set<string>() };
    rateLimit: { requests: number; windowSeconds: number } | undefined;
    private offset = 0;
    private nextId = 1n;
    private readonly deletedLogins = new Set<string>();
    private readonly windows = new Map<string, { start: number; used: number }>();
    private readonly faults: { route: string; kind: "fail" | "lose" | "hang" | Garble; status: number; code: number; message: string; skip: number; hang?: () => void }[] = [];
    private readonly requireAccept: boolean;
    /** See SupportCenterSandboxOptions.deletedKeysHoldNames; a test may switch it. */
    deletedKeysHoldNames: boolean;
    private readonly withoutTechnicianRoutes: boolean;
    /** See SupportCenterSandboxOptions.validityPerDay; a test may switch it. */
    validityPerDay: boolean;
    private readonly dataFile: string | undefined;

    constructor(options: SupportCenterSandboxOptions = {}) {
        this.requireAccept = options.requireAccept ?? true;
        this.deletedKeysHoldNames = options.deletedKeysHoldNames ?? false;
        this.validityPerDay = options.validityPerDay ?? false;
        this.withoutTechnicianRoutes = options.withoutTechnicianRoutes ?? false;
        this.rateLimit = options.rateLimit;
        this.dataFile = options.dataFile;
        for (const role of options.roles ?? SUPPORTCENTER_DEFAULTS.roles) this.roles.set(role.id, { ...role });
        const users = options.users ?? Object.values(SUPPORTCENTER_DEFAULTS.users);
        let saved: { notificationSettings?: NotificationSettings; keys?: IntegrationKeyRecord[]; deleted?: IntegrationKeyRecord[]; roles?: SupportCenterRole[]; deletedLogins?: string[]; notifications?: SupportCenterNotification[]; nextId?: string } = {};
        saved = records.load<typeof saved>(this.dataFile) ?? saved;
        if (saved.roles) {
            this.roles.clear();
            for (const role of saved.roles) this.roles.set(role.id, role);
        }
        for (const login of saved.deletedLogins ?? []) this.deletedLogins.add(login);
        for (const user of users) {
            if (this.deletedLogins.has(user.login)) continue;
            this.users.set(user.id, { ...user, roles: [...user.roles] });
            this.issued.tokens.add(user.technicianKey).add(user.password);
        }
        for (const key of saved.keys ?? []) {
            this.keys.set(key.id, key);
            this.issued.keys.add(key.value);
        }
        for (const key of saved.deleted ?? []) this.deleted.set(key.id, key);
        if (saved.notificationSettings) this.notificationSettings = saved.notificationSettings;
        this.notifications.push(...(saved.notifications ?? []));
        if (saved.nextId) this.nextId = BigInt(saved.nextId);
    }

    // ---- clock, faults, persistence -------------------------------------------------------------

    /** The sandbox's clock: real time plus whatever advance() added. */
    now(): number {
        return Date.now() + this.offset;
    }

    /** Moves the sandbox's clock forward, so keys expire without waiting. */
    advance(ms: number) {
        this.offset += ms;
    }

    /**
     * Makes the next call to `route` (e.g. "PUT /api/v3/integration_keys/{id}") after `skip` others
     * fail with HTTP `status` before doing anything; the SDP code follows the status (429 → 4015
     * with Retry-After: 1, 500 → 4004, …) unless `code` is given.
     */
    failNext(route: string, status: number, message = "injected failure", skip = 0, code?: number) {
        this.faults.push({ route, kind: "fail", status, code: code ?? CODE_OF[status] ?? 4000, message, skip });
    }

    /** The next call to `route` (after `skip` others) is carried out, then the connection is dropped unanswered. */
    loseNext(route: string, skip = 0) {
        this.faults.push({ route, kind: "lose", status: 0, code: 0, message: "", skip });
    }

    /**
     * The next call to `route` (after `skip` others) is carried out and never answered: the
     * connection stays open until the client goes away. Resolves once the call's work is done, so a
     * test can kill the client in that window.
     */
    hangNext(route: string, skip = 0): Promise<void> {
        return new Promise<void>((done) => this.faults.push({ route, kind: "hang", status: 0, code: 0, message: "", skip, hang: done }));
    }

    /**
     * The next call to `route` (after `skip` others) is carried out and its success answered with a
     * body that cannot be read (a proxy's HTML page, JSON cut short, another shape).
     */
    garbleNext(route: string, how: Garble, skip = 0) {
        this.faults.push({ route, kind: how, status: 0, code: 0, message: "", skip });
    }

    /** Drops the faults not yet triggered (a test that injected more than the call it tests used). */
    clearFaults() {
        this.faults.length = 0;
    }

    /** What happens to the answer of this call ("lose": dropped; a Garble: unreadable), or undefined; throws an injected failure. */
    private fault(route: string): "lose" | Garble | (() => void) | undefined {
        const i = this.faults.findIndex((f) => f.route === route && f.skip-- <= 0);
        if (i < 0) return undefined;
        const [f] = this.faults.splice(i, 1);
        if (f.kind === "hang") return f.hang;
        if (f.kind !== "fail") return f.kind;
        throw scpError(f.code, f.message, undefined, f.status, f.status === 429 ? { "retry-after": "1" } : {});
    }

    private save() {
        if (!this.dataFile) return;
        const data = {
            keys: [...this.keys.values()],
            deleted: [...this.deleted.values()],
            notificationSettings: this.notificationSettings,
            roles: [...this.roles.values()],
            deletedLogins: [...this.deletedLogins],
            notifications: this.notifications,
            nextId: String(this.nextId),
        };
        records.save(this.dataFile, data);
    }

    private newId(): string {
        return String(100000000000000000n + this.nextId++);
    }

    // ---- admin operations out of band (what the product's UI does) -------------------------------

    userByLogin(login: string): SupportCenterUser | undefined {
        return [...this.users.values()].find((u) => u.login === login);
    }

    keyByName(name: string): IntegrationKeyRecord | undefined {
        return [...this.keys.values()].find((k) => k.name.toLowerCase() === name.toLowerCase());
    }

    /** Adds a custom role, as Admin > Roles would. */
    addRole(name: string, description = ""): SupportCenterRole {
        if ([...this.roles.values()].some((r) => r.name.toLowerCase() === name.toLowerCase())) throw new Error(`role ${name} exists`);
        const role = { id: this.newId(), name, description, custom: true };
        this.roles.set(role.id, role);
        this.save();
        return role;
    }

    /**
     * Deletes a custom role: it disappears from every key that had it, and each such key's owner
     * is notified (as the product's bell does).
     */
    deleteRole(name: string) {
        const role = [...this.roles.values()].find((r) => r.name === name);
        if (!role) throw new Error(`no role ${name}`);
        if (!role.custom) throw new Error(`${name} is a built-in role and cannot be deleted`);
        this.roles.delete(role.id);
        for (const key of this.keys.values()) {
            if (!key.roles.some((r) => r.id === role.id)) continue;
            key.roles = key.roles.filter((r) => r.id !== role.id);
            this.notify(key.ownerId, "role_deleted", key, `The role ${role.name} associated with the integration key ${key.name} was deleted`);
        }
        this.save();
    }

    /** Deletes a user as `byAdmin` (a login) does from the UI: the user's keys become byAdmin's. */
    deleteUser(login: string, byAdmin: string) {
        const user = this.userByLogin(login);
        const admin = this.userByLogin(byAdmin);
        if (!user) throw new Error(`no user ${login}`);
        if (!admin || !admin.roles.includes("SDAdmin")) throw new Error(`${byAdmin} is not an SDAdmin`);
        if (admin === user) throw new Error("a user cannot delete themselves");
        this.users.delete(user.id);
        this.deletedLogins.add(login);
        for (const key of this.keys.values()) {
            if (key.ownerId !== user.id) continue;
            key.ownerId = admin.id;
            this.notify(admin.id, "auto_assigned", key, `The integration key ${key.name} of the deleted user ${user.name} was assigned to you`);
        }
        this.save();
    }

    /** Edits a key as its owner would in the UI (roles by name, validity in epoch ms). */
    editKey(id: string, patch: Partial<{ name: string; roles: string[]; validity: number; status: "active" | "inactive"; description: string | null }>) {
        const key = this.keys.get(id);
        if (!key) throw new Error(`no key ${id}`);
        if (patch.name !== undefined) {
            const taken = this.keyByName(patch.name);
            if (taken && taken.id !== id) throw new Error(`an integration key named ${patch.name} exists`);
            key.name = patch.name;
        }
        if (patch.roles !== undefined) {
            key.roles = patch.roles.map((n) => {
                const role = [...this.roles.values()].find((r) => r.name === n);
                if (!role) throw new Error(`no role ${n}`);
                return { id: role.id, name: role.name };
            });
        }
        if (patch.validity !== undefined) key.validity = patch.validity;
        if (patch.status !== undefined) key.status = patch.status;
        if (patch.description !== undefined) key.description = patch.description;
        this.save();
    }

    /** Changes the expiry-notification setting as an admin would in the UI (technicians by login). */
    setNotificationSettings(patch: Partial<Omit<NotificationSettings, "technicians">> & { technicians?: string[] }) {
        const technicians = patch.technicians?.map((login) => {
            const u = this.userByLogin(login);
            if (!u) throw new Error(`no user ${login}`);
            return u.id;
        });
        this.notificationSettings = { ...this.notificationSettings, ...patch, technicians: technicians ?? this.notificationSettings.technicians };
        this.save();
    }

    deactivate(id: string) {
        this.editKey(id, { status: "inactive" });
    }

    deleteKey(id: string) {
        if (!this.keys.has(id)) throw new Error(`no key ${id}`);
        this.remove(id);
        this.save();
    }

    /** A deleted key stops working forever but stays in the list as deleted. */
    private remove(id: string) {
        const key = this.keys.get(id);
        if (!key) return;
        this.keys.delete(id);
        this.deleted.set(id, key);
    }

    private notify(userId: string, event: SupportCenterNotification["event"], key: IntegrationKeyRecord, message: string) {
        const to = this.users.get(userId)?.login ?? userId;
        this.notifications.push({ to, event, keyId: key.id, keyName: key.name, message, time: this.now() });
    }

    // ---- HTTP -----------------------------------------------------------------------------------

    /** Whether answers carry a Date header (RFC 9110 §6.6.1), on the sandbox's clock (the one that stamps created_time). */
    dateHeader = true;

    readonly handler: Handler = async (req, res, url) => {
        const path = url.pathname;
        const method = req.method ?? "GET";
        if (this.dateHeader) res.setHeader("date", new Date(this.now()).toUTCString());
        else res.sendDate = false;
        if (path.startsWith("/_sandbox/")) return this.control(method, path, url, res);
        const route = ROUTES.find((r) => r.pattern.test(path));
        if (!route) {
            this.stats.count("unknown");
            throw scpError(4007, "Invalid URL");
        }
        const template = `${method} ${route.template}`;
        this.stats.count(template);
        const fault = this.fault(template);
        const lose = fault === "lose";
        if (!route.methods.includes(method)) throw scpError(4000, `Method ${method} not allowed`, undefined, 405);
        const param = route.pattern.exec(path)?.[1];
        let reply: Reply;
        try {
            reply = await this.dispatch(template, param === undefined ? undefined : decodeURIComponent(param), req, url);
        } catch (err) {
            if (lose) return void req.socket.destroy();
            throw err;
        }
        if (lose) return void req.socket.destroy();
        // Done, and never answered.
        if (typeof fault === "function") return fault();
        if (fault && reply.status < 300) return sendGarbled(res, reply.status, reply.body, fault);
        sendJson(res, reply.status, reply.body);
    };

    private control(method: string, path: string, url: URL, res: http.ServerResponse) {
        if (path === "/_sandbox/stats" && method === "GET") return sendJson(res, 200, this.stats.snapshot());
        if (path === "/_sandbox/stats/reset" && method === "POST") {
            this.stats.reset();
            return sendJson(res, 200, {});
        }
        if (path === "/_sandbox/notifications" && method === "GET") return sendJson(res, 200, this.notifications);
        if (path === "/_sandbox/clock/advance" && method === "POST") {
            this.advance(Number(url.searchParams.get("ms") ?? 0));
            return sendJson(res, 200, { now: this.now() });
        }
        throw new HttpError(404, { status: 404, message: "not found" });
    }

    private async dispatch(template: string, id: string | undefined, req: http.IncomingMessage, url: URL): Promise<Reply> {
        const caller = this.authenticate(req);
        if (this.requireAccept && !String(req.headers.accept ?? "").includes(SCP_ACCEPT)) {
            throw scpError(4000, `Accept header must be ${SCP_ACCEPT}`);
        }
        this.limit(caller.token);
        if (template === "GET /api/v3/requests") return this.useKey(caller, url);
        if (caller.kind === "key") throw scpError(4002, "Integration keys cannot perform this operation");
        const user = caller.user;
        if (template === "GET /api/v3/roles") return this.listRoles(url);
        if (template === "GET /api/v3/users") return this.listUsers(url);
        if (template === "GET /api/v3/technicians/associated_roles" || template === "GET /api/v3/technicians") {
            if (this.withoutTechnicianRoutes) throw scpError(4007, "Invalid URL");
            return template === "GET /api/v3/technicians" ? this.listTechnicians(url) : this.listAssociatedRoles(url);
        }
        if (!user.roles.includes("SDAdmin")) throw scpError(4002, "Only SDAdmin users can manage integration keys");
        switch (template) {
            case "POST /api/v3/integration_keys":
                return this.create(user, await this.input(req));
            case "GET /api/v3/integration_keys":
                return this.listKeys(url);
            case "DELETE /api/v3/integration_keys":
                return this.bulkDelete(user, url);
            case "PUT /api/v3/integration_keys/reassign":
                return this.reassign(user, url, await this.input(req));
            case "GET /api/v3/integration_keys/{id}": {
                // Inferred: a deleted key is still read, as the list still shows it.
                const gone = this.deleted.get(id!);
                if (gone && gone.ownerId === user.id) return this.ok({ integration_key: this.view(gone, true) });
                return this.ok({ integration_key: this.view(this.owned(user, id!)) });
            }
            case "PUT /api/v3/integration_keys/{id}":
                return this.update(this.owned(user, id!), await this.input(req));
            case "DELETE /api/v3/integration_keys/{id}": {
                const key = this.owned(user, id!);
                this.remove(key.id);
                this.save();
                return this.ok({});
            }
            case "GET /api/v3/integration_keys/_get_notification_settings":
                return this.ok({ get_notification_settings: this.notificationView() });
            case "PUT /api/v3/integration_keys/_update_notification_settings":
                return this.updateNotificationSettings(await this.input(req));
            case "POST /api/v3/integration_keys/{id}/decrypt":
                return this.decrypt(user, this.owned(user, id!), await this.input(req));
        }
        throw scpError(4007, "Invalid URL");
    }

    private ok(body: Json, status = 200): Reply {
        return { status, body: { response_status: SUCCESS, ...body } };
    }

    private authenticate(req: http.IncomingMessage): Caller {
        const token = String(req.headers.authtoken ?? "").trim();
        if (!token) throw scpError(4022, "Invalid API key received");
        const user = [...this.users.values()].find((u) => u.technicianKey === token);
        if (user) return { kind: "user", user, token };
        const key = [...this.keys.values()].find((k) => k.value === token);
        if (key && key.status === "active" && !this.expired(key)) return { kind: "key", key, token };
        throw scpError(4022, "Invalid API key received");
    }

    private limit(token: string) {
        if (!this.rateLimit) return;
        const now = Date.now();
        const span = this.rateLimit.windowSeconds * 1000;
        let w = this.windows.get(token);
        if (!w || now - w.start >= span) {
            w = { start: now, used: 0 };
            this.windows.set(token, w);
        }
        if (w.used >= this.rateLimit.requests) {
            const retry = Math.max(1, Math.ceil((w.start + span - now) / 1000));
            throw scpError(4015, "API rate limit reached", undefined, 429, { "retry-after": String(retry) });
        }
        w.used++;
    }

    private async input(req: http.IncomingMessage): Promise<Json> {
        const raw = new URLSearchParams(await readBody(req)).get("input_data");
        if (raw === null) throw scpError(4000, "input_data is required as a form field", "input_data");
        return this.parseInput(raw);
    }

    private parseInput(raw: string): Json {
        let data: unknown;
        try {
            data = JSON.parse(raw);
        } catch {
            throw scpError(4000, "input_data is not valid JSON", "input_data");
        }
        if (!data || typeof data !== "object" || Array.isArray(data)) throw scpError(4000, "input_data must be a JSON object", "input_data");
        return data as Json;
    }

    private queryInput(url: URL): Json {
        const raw = url.searchParams.get("input_data");
        return raw === null ? {} : this.parseInput(raw);
    }

    // ---- integration keys -------------------------------------------------------------------------

    private expired(key: IntegrationKeyRecord): boolean {
        return key.validity !== 0 && key.validity <= this.now();
    }

    private view(key: IntegrationKeyRecord, deleted = false): Json {
        const owner = this.users.get(key.ownerId);
        return {
            id: key.id,
            name: key.name,
            roles: key.roles.map((r) => ({ ...r })),
            validity: key.validity === 0 ? { value: "0", display_value: "Never expires" } : { value: String(key.validity), display_value: displayTime(key.validity) },
            status: deleted ? "deleted" : key.status,
            is_expired: this.expired(key),
            description: key.description,
            created_time: { value: String(key.created), display_value: displayTime(key.created) },
            owned_by: owner ? { id: owner.id, name: owner.name, email_id: owner.email } : { id: key.ownerId },
        };
    }

    /** The key `id` if `user` owns it: 4007 when there is no such key, 4002 when someone else owns it. */
    private owned(user: SupportCenterUser, id: string): IntegrationKeyRecord {
        const key = this.keys.get(id);
        if (!key) throw scpError(4007, "Integration key not found", "id");
        if (key.ownerId !== user.id) throw scpError(4002, "You are not the owner of this integration key");
        return key;
    }

    private entity(input: Json): Json {
        const data = input.integration_key;
        if (data === undefined) throw scpError(4012, "integration_key is mandatory", "integration_key");
        if (!data || typeof data !== "object" || Array.isArray(data)) throw scpError(4000, "integration_key must be an object", "integration_key");
        for (const field of Object.keys(input)) if (field !== "integration_key") throw scpError(4000, `No such field ${field}`, field);
        return data as Json;
    }

    private checkName(value: unknown, exceptId?: string): string {
        if (typeof value !== "string") throw scpError(4000, "name must be a string", "name");
        const name = value.trim();
        if (name === "") throw scpError(4012, "name is mandatory", "name");
        if (name.length > MAX_NAME) throw scpError(4000, `name exceeds the maximum length of ${MAX_NAME}`, "name");
        const holders = this.deletedKeysHoldNames ? [...this.keys.values(), ...this.deleted.values()] : this.keys.values();
        for (const k of holders) {
            if (k.id !== exceptId && k.name.toLowerCase() === name.toLowerCase()) throw scpError(4008, `An integration key named ${name} already exists`, "name");
        }
        return name;
    }

    private checkRoles(value: unknown): { id: string; name: string }[] {
        if (!Array.isArray(value)) throw scpError(4000, "roles must be an array", "roles");
        if (value.length === 0) throw scpError(4012, "roles is mandatory", "roles");
        const out = new Map<string, { id: string; name: string }>();
        for (const r of value) {
            if (!r || typeof r !== "object") throw scpError(4001, "roles must be given by id or name", "roles");
            const { id, name } = r as Json;
            const role = [...this.roles.values()].find(
                (x) => (id === undefined || String(id) === x.id) && (name === undefined || String(name) === x.name) && (id !== undefined || name !== undefined),
            );
            if (!role) throw scpError(4001, `No such role ${String(id ?? name)}`, "roles");
            out.set(role.id, { id: role.id, name: role.name });
        }
        // The web client's own checks (validateIntegKeyConfig), here as the server's refusal.
        const names = [...out.values()].map((r) => r.name);
        if (names.includes("SDAdmin") && names.includes("SDSiteAdmin")) throw scpError(4000, "SDAdmin and SDSiteAdmin roles cannot be associated together", "roles");
        if (names.every((n) => n === "SDReport" || n === "AERemoteControl")) throw scpError(4000, "SDReport and AERemoteControl roles depend on a module role", "roles");
        return [...out.values()];
    }

    private checkValidity(value: unknown): number {
        const raw = value && typeof value === "object" && !Array.isArray(value) ? (value as Json).value : undefined;
        const ms = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(ms) || ms < 0) throw scpError(4001, "validity.value must be epoch milliseconds, or 0 for never", "validity");
        if (ms === 0) return 0;
        const kept = this.validityPerDay ? Math.floor(ms / 86_400_000) * 86_400_000 + (23 * 60 + 59) * 60_000 : ms;
        if (kept <= this.now()) throw scpError(4016, "The expiry date must be in the future", "validity");
        return kept;
    }

    private checkStatus(value: unknown): "active" | "inactive" {
        if (value !== "active" && value !== "inactive") throw scpError(4001, "status must be active or inactive", "status");
        return value;
    }

    private checkDescription(value: unknown): string | null {
        if (value === null) return null;
        if (typeof value !== "string") throw scpError(4000, "description must be a string", "description");
        if (value.length > MAX_DESCRIPTION) throw scpError(4000, `description exceeds the maximum length of ${MAX_DESCRIPTION}`, "description");
        return value;
    }

    private create(user: SupportCenterUser, input: Json): Reply {
        const data = this.entity(input);
        for (const field of Object.keys(data)) if (!KEY_FIELDS.includes(field)) throw scpError(4000, `No such field ${field}`, field);
        if (data.name === undefined) throw scpError(4012, "name is mandatory", "name");
        if (data.roles === undefined) throw scpError(4012, "roles is mandatory", "roles");
        const name = this.checkName(data.name);
        const roles = this.checkRoles(data.roles);
        const validity = data.validity === undefined ? 0 : this.checkValidity(data.validity);
        const status = data.status === undefined ? "active" : this.checkStatus(data.status);
        const description = data.description === undefined ? null : this.checkDescription(data.description);
        const key: IntegrationKeyRecord = {
            id: this.newId(),
            name,
            roles,
            validity,
            status,
            description,
            created: this.now(),
            ownerId: user.id,
            value: crypto.randomUUID().toUpperCase(),
        };
        this.keys.set(key.id, key);
        this.issued.keys.add(key.value);
        this.save();
        return this.ok({ integration_key: { ...this.view(key), key: key.value } }, 201);
    }

    private update(key: IntegrationKeyRecord, input: Json): Reply {
        const data = this.entity(input);
        const current = this.view(key);
        for (const field of Object.keys(data)) {
            if (READ_ONLY_FIELDS.includes(field)) {
                if (JSON.stringify(data[field]) !== JSON.stringify(current[field])) throw scpError(4009, `${field} is not editable`, field);
            } else if (!KEY_FIELDS.includes(field)) {
                throw scpError(4000, `No such field ${field}`, field);
            }
        }
        const next = { ...key };
        if ("name" in data) next.name = this.checkName(data.name, key.id);
        if ("roles" in data) next.roles = this.checkRoles(data.roles);
        if ("validity" in data) next.validity = this.checkValidity(data.validity);
        if ("status" in data) next.status = this.checkStatus(data.status);
        if ("description" in data) next.description = this.checkDescription(data.description);
        this.keys.set(key.id, next);
        this.save();
        return this.ok({ integration_key: this.view(next) });
    }

    private notificationView(): Json {
        const n = this.notificationSettings;
        return {
            is_enabled: n.isEnabled,
            no_of_days: n.days,
            // A technician deleted since is dropped, as a deleted user cannot be mailed.
            notify_technicians: n.technicians.flatMap((id) => {
                const u = this.users.get(id);
                return u ? [{ id: u.id, name: u.name }] : [];
            }),
            is_notify_to_owner: n.notifyOwner,
        };
    }

    /**
     * The web client's body (constructNotificationSettingsInputData): the fields at the top level of
     * input_data; disabling sends the settings it read with is_enabled false. Refusals are inferred.
     */
    private updateNotificationSettings(input: Json): Reply {
        const FIELDS = ["is_enabled", "no_of_days", "notify_technicians", "is_notify_to_owner"];
        for (const field of Object.keys(input)) if (!FIELDS.includes(field)) throw scpError(4000, `No such field ${field}`, field);
        if (typeof input.is_enabled !== "boolean") throw scpError(4012, "is_enabled is mandatory (true or false)", "is_enabled");
        const next: NotificationSettings = { ...this.notificationSettings, isEnabled: input.is_enabled };
        if (input.no_of_days !== undefined) {
            const days = input.no_of_days;
            if (typeof days !== "number" || !Number.isInteger(days) || days < 1 || days > MAX_NOTIFY_DAYS) throw scpError(4001, `no_of_days must be a whole number from 1 to ${MAX_NOTIFY_DAYS}`, "no_of_days");
            next.days = days;
        }
        if (input.is_notify_to_owner !== undefined) {
            if (typeof input.is_notify_to_owner !== "boolean") throw scpError(4000, "is_notify_to_owner must be true or false", "is_notify_to_owner");
            next.notifyOwner = input.is_notify_to_owner;
        }
        if (input.notify_technicians !== undefined) {
            if (!Array.isArray(input.notify_technicians)) throw scpError(4000, "notify_technicians must be an array", "notify_technicians");
            next.technicians = input.notify_technicians.map((t) => {
                const id = t && typeof t === "object" ? (t as Json).id : undefined;
                const user = id === undefined ? undefined : this.users.get(String(id));
                // The web client offers SDAdmins with an email address only.
                if (!user || !user.roles.includes("SDAdmin") || !user.email) throw scpError(4001, `No SDAdmin technician with an email address and id ${String(id)}`, "notify_technicians");
                return user.id;
            });
            next.technicians = [...new Set(next.technicians)];
        }
        // The form requires a recipient (the owner counts as one) while notifications are on.
        if (next.isEnabled && next.technicians.length === 0 && !next.notifyOwner) throw scpError(4012, "notify_technicians is mandatory", "notify_technicians");
        this.notificationSettings = next;
        this.save();
        return this.ok({ update_notification_settings: this.notificationView() });
    }

    private decrypt(user: SupportCenterUser, key: IntegrationKeyRecord, input: Json): Reply {
        if (input.login_password === undefined || input.login_password === "") throw scpError(4012, "login_password is mandatory", "login_password");
        if (input.login_password !== user.password) throw scpError(4001, "The password does not match the password of the current session", "login_password");
        return this.ok({ decrypt: { key: key.value } });
    }

    /** ?ids=1,2: every id must exist (4001) and belong to `user` (4002) before anything happens. */
    private idsOf(user: SupportCenterUser, url: URL): IntegrationKeyRecord[] {
        const raw = url.searchParams.get("ids");
        if (raw === null || raw.trim() === "") throw scpError(4012, "ids is mandatory", "ids");
        const keys = [...new Set(raw.split(",").map((s) => s.trim()))].map((id) => {
            const key = this.keys.get(id);
            if (!key) throw scpError(4001, `No integration key with id ${id}`, "ids");
            return key;
        });
        for (const key of keys) if (key.ownerId !== user.id) throw scpError(4002, `You are not the owner of the integration key ${key.id}`, "ids");
        return keys;
    }

    private reassign(user: SupportCenterUser, url: URL, input: Json): Reply {
        for (const field of Object.keys(input)) if (field !== "owned_by" && field !== "comments") throw scpError(4000, `No such field ${field}`, field);
        const keys = this.idsOf(user, url);
        const to = input.owned_by;
        if (to === undefined) throw scpError(4012, "owned_by is mandatory", "owned_by");
        if (!to || typeof to !== "object" || Array.isArray(to)) throw scpError(4000, "owned_by must be an object", "owned_by");
        const { id, name } = to as Json;
        const target = [...this.users.values()].find((u) => (id !== undefined ? String(id) === u.id : name !== undefined && String(name) === u.name));
        if (!target) throw scpError(4001, `No such user ${String(id ?? name)}`, "owned_by");
        if (!target.roles.includes("SDAdmin")) throw scpError(4001, "Integration keys can be reassigned to SDAdmin users only", "owned_by");
        const comments = input.comments;
        if (comments !== undefined && comments !== null && (typeof comments !== "string" || comments.length > MAX_DESCRIPTION)) {
            throw scpError(4000, `comments must be a string of at most ${MAX_DESCRIPTION} characters`, "comments");
        }
        for (const key of keys) {
            key.ownerId = target.id;
            this.notify(target.id, "reassigned", key, `${user.name} assigned the integration key ${key.name} to you${comments ? `: ${comments}` : ""}`);
        }
        this.save();
        return {
            status: 200,
            body: { response_status: keys.map((k) => ({ ...SUCCESS, id: k.id })), integration_keys: keys.map((k) => this.view(k)) },
        };
    }

    private bulkDelete(user: SupportCenterUser, url: URL): Reply {
        const keys = this.idsOf(user, url);
        for (const key of keys) this.remove(key.id);
        this.save();
        return { status: 200, body: { response_status: keys.map((k) => ({ ...SUCCESS, id: k.id })) } };
    }

    private listKeys(url: URL): Reply {
        const info = this.listInfo(url, ["name", "created_time", "id"], "created_time");
        const filter = info.filter ?? "All";
        const live = [...this.keys.values()]
            .filter((k) => {
                if (filter === "Active") return k.status === "active" && !this.expired(k);
                if (filter === "Inactive") return k.status === "inactive";
                if (filter === "Expired") return this.expired(k);
                return true;
            })
            .map((k) => this.view(k));
        // The rows carry `key` masked (the script shows "*********" and opens the value only through
        // decrypt); deleted keys stay listed as status deleted (filter_by All only, inferred).
        const gone = filter === undefined || filter === "All" ? [...this.deleted.values()].map((k) => this.view(k, true)) : [];
        const records = [...live, ...gone].map((r) => ({ ...r, key: MASKED }));
        return this.page("integration_keys", records, info);
    }

    private listRoles(url: URL): Reply {
        const info = this.listInfo(url, ["name", "id"], "name");
        if (info.filter !== undefined) throw scpError(4001, "roles have no filters", "filter_by");
        const records = [...this.roles.values()].map((r) => ({ id: r.id, name: r.name, description: r.description, is_custom: r.custom }));
        return this.page("roles", records, info);
    }

    private listUsers(url: URL): Reply {
        const info = this.listInfo(url, ["name", "id"], "name");
        if (info.filter !== undefined) throw scpError(4001, "users have no filters", "filter_by");
        const records = [...this.users.values()].map((u) => ({
            id: u.id,
            name: u.name,
            login_name: u.login,
            email_id: u.email,
            is_technician: true,
            status: "ACTIVE",
            roles: u.roles.map((n) => {
                const role = [...this.roles.values()].find((r) => r.name === n);
                return { id: role?.id ?? "", name: n };
            }),
        }));
        return this.page("users", records, info);
    }

    /** The web client's role picker (evidence): entity associated_roles, {id, name}. */
    private listAssociatedRoles(url: URL): Reply {
        const info = this.listInfo(url, ["name", "id"], "name");
        return this.page("associated_roles", [...this.roles.values()].map((r) => ({ id: r.id, name: r.name, description: r.description })), info);
    }

    /**
     * The web client's technician picker (evidence: search_criteria on associated_roles.name).
     * The record's fields past id and name are inferred (SDP's technician: login_name, email_id).
     */
    private listTechnicians(url: URL): Reply {
        const info = this.listInfo(url, ["name", "id"], "name");
        const records = [...this.users.values()].map((u) => ({
            id: u.id,
            name: u.name,
            login_name: u.login,
            email_id: u.email,
            associated_roles: u.roles.map((n) => ({ id: [...this.roles.values()].find((r) => r.name === n)?.id ?? "", name: n })),
        }));
        return this.page("technicians", records, info);
    }

    private useKey(caller: Caller, url: URL): Reply {
        if (caller.kind === "key" && caller.key.roles.length === 0) throw scpError(4002, "The integration key has no role that allows this operation");
        const info = this.listInfo(url, ["id"], "id");
        return this.page("requests", [], info);
    }

    // ---- list_info ------------------------------------------------------------------------------

    private listInfo(url: URL, sortFields: string[], defaultSort: string) {
        const input = this.queryInput(url);
        const li = (input.list_info ?? {}) as Json;
        if (typeof li !== "object" || Array.isArray(li)) throw scpError(4000, "list_info must be an object", "list_info");
        const int = (v: unknown, field: string, dflt: number) => {
            if (v === undefined) return dflt;
            const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
            if (typeof n !== "number" || !Number.isInteger(n)) throw scpError(4001, `${field} must be an integer`, `list_info.${field}`);
            return n;
        };
        const rowCount = int(li.row_count, "row_count", 10);
        if (rowCount < 1) throw scpError(4001, "row_count must be at least 1", "list_info.row_count");
        const startIndex = int(li.start_index, "start_index", 1);
        if (startIndex < 1) throw scpError(4001, "start_index must be at least 1", "list_info.start_index");
        const sortField = li.sort_field === undefined ? defaultSort : String(li.sort_field);
        if (!sortFields.includes(sortField)) throw scpError(4001, `sort_field must be one of ${sortFields.join(", ")}`, "list_info.sort_field");
        const sortOrder = li.sort_order === undefined ? "asc" : String(li.sort_order).toLowerCase();
        if (sortOrder !== "asc" && sortOrder !== "desc") throw scpError(4001, "sort_order must be asc or desc", "list_info.sort_order");
        let filter: (typeof FILTERS)[number] | undefined;
        if (li.filter_by !== undefined) {
            const name = (li.filter_by as Json | null)?.name;
            filter = FILTERS.find((f) => f === name);
            if (!filter) throw scpError(4001, `filter_by.name must be one of ${FILTERS.join(", ")}`, "list_info.filter_by");
        }
        const criteria = li.search_criteria === undefined ? [] : Array.isArray(li.search_criteria) ? li.search_criteria : [li.search_criteria];
        return {
            rowCount: Math.min(rowCount, MAX_ROWS),
            startIndex,
            totalCount: li.get_total_count === true || li.get_total_count === "true",
            sortField,
            sortOrder,
            filter,
            criteria: criteria as unknown[],
        };
    }

    private page(entity: string, records: Json[], info: ReturnType<SupportCenterSandbox["listInfo"]>): Reply {
        const matching = records.filter((r) => this.matches(r, info.criteria));
        const sortValue = (r: Json) => {
            const v = get(r, info.sortField === "created_time" ? "created_time.value" : info.sortField);
            return info.sortField === "name" ? String(v).toLowerCase() : BigInt(String(v ?? 0));
        };
        matching.sort((a, b) => {
            const x = sortValue(a);
            const y = sortValue(b);
            let c = x < y ? -1 : x > y ? 1 : 0;
            if (c === 0) c = BigInt(String(a.id)) < BigInt(String(b.id)) ? -1 : 1;
            return info.sortOrder === "desc" ? -c : c;
        });
        const rows = matching.slice(info.startIndex - 1, info.startIndex - 1 + info.rowCount);
        const listInfo: Json = {
            has_more_rows: info.startIndex - 1 + rows.length < matching.length,
            start_index: info.startIndex,
            row_count: rows.length,
            sort_field: info.sortField,
            sort_order: info.sortOrder,
        };
        if (info.totalCount) listInfo.total_count = matching.length;
        return { status: 200, body: { response_status: [SUCCESS], list_info: listInfo, [entity]: rows } };
    }

    /**
     * SDP's search_criteria as the product's web client sends it: {field, condition, value | values,
     * logical_operator, children}. Criteria (an array, or one) join left to right by each one's
     * logical_operator; a criterion's children form a group, evaluated left to right the same way,
     * joined to the criterion by the first child's operator. So the script's Active filter, status
     * is active AND (validity GT 0 AND validity GT now OR validity EQ 0), means what it shows.
     */
    private matches(record: Json, criteria: unknown[]): boolean {
        return this.fold(record, criteria);
    }

    private fold(record: Json, criteria: unknown[]): boolean {
        let result = true;
        criteria.forEach((c, i) => {
            if (!c || typeof c !== "object" || Array.isArray(c)) throw scpError(4000, "search_criteria must be an object or an array of objects", "list_info.search_criteria");
            const hit = this.criterion(record, c as Json);
            result = i === 0 ? hit : this.join(c as Json) === "OR" ? result || hit : result && hit;
        });
        return result;
    }

    private join(c: Json): "AND" | "OR" {
        const op = String(c.logical_operator ?? "AND").toUpperCase();
        if (op !== "AND" && op !== "OR") throw scpError(4001, `logical_operator must be AND or OR, not ${op}`, "list_info.search_criteria");
        return op;
    }

    private criterion(record: Json, c: Json): boolean {
        const { field, condition, value, values, children } = c;
        if (typeof field !== "string") throw scpError(4012, "search_criteria.field is mandatory", "list_info.search_criteria");
        const wanted = (values ?? [value]) as unknown[];
        if (!Array.isArray(wanted) || wanted[0] === undefined) throw scpError(4012, "search_criteria.value is mandatory", "list_info.search_criteria");
        const test = this.condition(String(condition ?? "is"));
        // A field through a list (associated_roles.name) matches when any element does.
        const actual = get(record, field);
        const all = Array.isArray(actual) ? actual : [actual];
        const hit = wanted.some((w) => all.some((a) => test(a, w)));
        if (children === undefined) return hit;
        if (!Array.isArray(children) || children.length === 0) throw scpError(4000, "search_criteria.children must be a non-empty array", "list_info.search_criteria");
        const group = this.fold(record, children);
        return this.join(children[0] as Json) === "OR" ? hit || group : hit && group;
    }

    private condition(name: string): (actual: unknown, wanted: unknown) => boolean {
        const text = (v: unknown) => (v && typeof v === "object" && "value" in v ? String((v as Json).value) : String(v ?? "")).toLowerCase();
        const num = (v: unknown) => Number(text(v));
        const like = (a: unknown, w: unknown) => text(a).includes(text(w).replace(/^%|%$/g, ""));
        switch (name.toLowerCase()) {
            case "is":
            case "eq":
                return (a, w) => text(a) === text(w);
            case "is not":
            case "neq":
                return (a, w) => text(a) !== text(w);
            case "contains":
            case "like":
                return like;
            case "not contains":
            case "not like":
                return (a, w) => !like(a, w);
            case "starts with":
                return (a, w) => text(a).startsWith(text(w));
            case "ends with":
                return (a, w) => text(a).endsWith(text(w));
            case "greater than":
            case "gt":
                return (a, w) => num(a) > num(w);
            case "gte":
                return (a, w) => num(a) >= num(w);
            case "lesser than":
            case "lt":
                return (a, w) => num(a) < num(w);
            case "lte":
                return (a, w) => num(a) <= num(w);
        }
        throw scpError(4001, `Unknown search condition ${name}`, "list_info.search_criteria");
    }
}

function get(record: Json, path: string): unknown {
    let v: unknown = record;
    for (const part of path.split(".")) {
        v = Array.isArray(v) ? v.map((x) => (x && typeof x === "object" ? (x as Json)[part] : undefined)) : v && typeof v === "object" ? (v as Json)[part] : undefined;
    }
    return v;
}

export async function start(opts: { port: number; host?: string; dataFile?: string }): Promise<{ sandbox: SupportCenterSandbox; server: Listening }> {
    const sandbox = new SupportCenterSandbox({ dataFile: opts.dataFile });
    const server = await listen(sandbox.handler, opts.port, opts.host);
    return { sandbox, server };
}
