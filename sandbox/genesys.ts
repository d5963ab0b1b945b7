// Sandbox for Genesys Web Services auth and the Digital Channels ("Nexus") API-key API.
//
// What is documented (shared/seeds/genesys-digital-channels-api-keys.txt) and reproduced as is:
// the password grant at POST /auth/v3/oauth/token with HTTP basic `nexus_client:<secret>` and a
// form body; tenant users log in as `<ccId>\<user>`, the GWS ops admin by plain name; the token
// goes in `Authorization` as the bare token (the guide) or as `Bearer <token>` with the body in
// {"data": …} (Genesys's provisioning scripts, genesys/multicloud-services services/iwdem/README.md;
// both are accepted, a wrapped request is answered wrapped, option requireStyle refuses one); POST /nexus/v3/apikeys with
// {enabled, tenant, name, permissions} answers the record with id, created, revoked,
// expires:false, createdby, capacity:120, frequency:60.
//
// What is inferred (the doc shows only POST), mirrored by providers/nexus/client.ts: list, read,
// update and delete at GET|PUT|DELETE /nexus/v3/apikeys[/{id}], following the product's admin
// rights (view, read, create, update, delete) and UI actions (enable/disable, expire, revoke,
// delete); names unique per tenant (409); permissions and tenant immutable; a revoked key cannot
// be reinstated. Error bodies: GWS's OAuth shape ({error, error_description}) for auth; for Nexus
// the shape of the Digital Channels Web API reference, {"status": {"code", "message", "detail"}}
// (option errorShape "flat" answers {status, message}, the shape keyfleet first assumed).
// Consumer calls take `x-api-key` and enforce enabled, revoked, expiry and capacity per frequency:
// GET /nexus/v3/securemail?address=… (the Web API reference's Secure Mail read; its answer body is
// a stand-in) for keys with the Secure Mail permission; GET /nexus/v3/whoami is NOT a Genesys
// endpoint, only a test convenience that any live key may call.
import crypto from "node:crypto";
import type http from "node:http";
import { CallStats, HttpError, readBody, records, sendGarbled, sendJson, type Garble, type Handler } from "./http.ts";

export interface NexusRecord {
    id: string;
    tenant: string;
    name: string;
    permissions: string[];
    enabled: boolean;
    created: string;
    revoked: boolean;
    expires: string | false;
    createdby: string;
    capacity: number;
    frequency: number;
}

export interface GenesysSandboxOptions {
    /** Contact centers the sandbox knows (tenant ids). */
    contactCenters?: string[];
    tenantUser?: { name: string; password: string };
    opsAdmin?: { name: string; password: string };
    client?: { id: string; secret: string };
    /** Lifetime of issued tokens; GWS says 43199. */
    tokenTtlSeconds?: number;
    capacity?: number;
    frequency?: number;
    /** Wrap every Nexus response in {"data": …}, as some Nexus versions do. */
    envelope?: boolean;
    /** JSON file that keeps the key records across restarts (written readable by the owner only: it holds key values). */
    dataFile?: string;
    /** Fields left out of every key record answered (a Nexus that answers other shapes); for tests of strict parsing. */
    omitFields?: string[];
    /** Rate limit of the key API (/nexus/v3/apikeys…) per login: at most `requests` per `windowMs`; 429 with Retry-After beyond. */
    keyApiLimit?: { requests: number; windowMs: number } | null;
    /**
     * Shape of Nexus error bodies: "status" is the documented `{"status": {"code", "message",
     * "detail"}}`; "flat" is `{status, message}`, the shape keyfleet first assumed (the client reads both).
     */
    errorShape?: "status" | "flat";
    /**
     * How the key list pages (undocumented): "limit" (default) honours `limit`/`offset`; "index"
     * ignores them and pages as Nexus's documented lists do, 10 at a time from the item offset
     * `index`; "first" ignores all paging and answers the first 10 (a cut the client must not
     * read as the whole list).
     */
    paging?: "limit" | "index" | "first";
    /**
     * Refuse key-API requests not written this way: "seed" (bare token, bare body, the guide's) or
     * "scripts" (Bearer token, body in {"data": …}, Genesys's provisioning scripts). Unset accepts both.
     */
    requireStyle?: "seed" | "scripts" | null;
    /** The wire string of the Secure Mail permission this deployment uses (undocumented; default SANDBOX_SECUREMAIL_PERMISSION). */
    securemailPermission?: string;
}

export const GENESYS_DEFAULTS = {
    contactCenter: "578ec98e-f07c-46ad-9675-f36c22f3ba9f",
    tenantUser: { name: "nexus", password: "nexus_password" },
    opsAdmin: { name: "ops", password: "ops" },
    client: { id: "nexus_client", secret: "nexus_client_secret" },
} as const;

/**
 * Permissions the sandbox knows: those of the Provision API keys guide, `nexus:consumer:*` as
 * Genesys's provisioning scripts create (genesys/multicloud-services, services/iwdem/README.md),
 * and the Secure Mail permission, whose wire string no source shows (option securemailPermission).
 */
export const NEXUS_PERMISSIONS = {
    tenant: ["nexus:consumer:chat", "nexus:consumer:*", "nexus:designer:chat"],
    cluster: ["nexus:cluster:*"],
} as const;

/** The sandbox's Secure Mail permission: an inference (the Administrator's Guide names the permission, not its string). */
export const SANDBOX_SECUREMAIL_PERMISSION = "nexus:consumer:securemail";

interface Session {
    username: string;
    /** The contact center of a tenant user; null for the ops admin. */
    ccId: string | null;
    expiresAt: number;
}

export class GenesysSandbox {
    readonly stats = new CallStats();
    readonly keys = new Map<string, NexusRecord>();
    private readonly tokens = new Map<string, Session>();
    private readonly refreshTokens = new Map<string, { username: string; ccId: string | null }>();
    private readonly windows = new Map<string, { start: number; used: number }>();
    /** Every key value and token this sandbox ever handed out, for tests that scan output for leaks. */
    readonly issued = { keys: new Set<string>(), tokens: new Set<string>() };
    private readonly faults: { route: string; status: number; message: string; skip: number; lost: boolean; garble?: Garble; hang?: () => void }[] = [];
    private opts: Required<Omit<GenesysSandboxOptions, "dataFile">> & { dataFile?: string };
    private readonly keyApiWindows = new Map<string, { start: number; used: number }>();
    /** Moves the sandbox's clock (token and key expiry) forward, so tests need not sleep. */
    clockOffsetMs = 0;

    now(): number {
        return Date.now() + this.clockOffsetMs;
    }

    constructor(options: GenesysSandboxOptions = {}) {
        this.opts = {
            contactCenters: options.contactCenters ?? [GENESYS_DEFAULTS.contactCenter],
            tenantUser: options.tenantUser ?? { ...GENESYS_DEFAULTS.tenantUser },
            opsAdmin: options.opsAdmin ?? { ...GENESYS_DEFAULTS.opsAdmin },
            client: options.client ?? { ...GENESYS_DEFAULTS.client },
            tokenTtlSeconds: options.tokenTtlSeconds ?? 43199,
            capacity: options.capacity ?? 120,
            frequency: options.frequency ?? 60,
            envelope: options.envelope ?? false,
            keyApiLimit: options.keyApiLimit ?? null,
            omitFields: options.omitFields ?? [],
            errorShape: options.errorShape ?? "status",
            paging: options.paging ?? "limit",
            requireStyle: options.requireStyle ?? null,
            securemailPermission: options.securemailPermission ?? SANDBOX_SECUREMAIL_PERMISSION,
            dataFile: options.dataFile,
        };
        const saved = records.load<{ nexusKeys?: NexusRecord[] }>(this.opts.dataFile);
        for (const record of saved?.nexusKeys ?? []) this.keys.set(record.id, record);
    }

    /**
     * Makes the next call to `route` (e.g. "PUT /nexus/v3/apikeys/{id}") after `skip` others fail
     * with `status`, as an outage or a vendor-side rule would; tests use it to prove failures leave
     * nothing half-applied.
     */
    failNext(route: string, status: number, message = "injected failure", skip = 0) {
        this.faults.push({ route, status, message, skip, lost: false });
    }

    /**
     * Makes the next call to `route` (after `skip` others) do its work and then lose its answer: the
     * connection is reset after the change is committed, as a proxy timeout or a dropped link would.
     */
    loseNextAnswer(route: string, skip = 0) {
        this.faults.push({ route, status: 0, message: "", skip, lost: true });
    }

    /**
     * Makes the next call to `route` (after `skip` others) do its work and answer its success with a
     * body that cannot be read (a proxy's HTML page, JSON cut short, another shape): the change is
     * committed all the same.
     */
    garbleNextAnswer(route: string, how: Garble, skip = 0) {
        this.faults.push({ route, status: 0, message: "", skip, lost: false, garble: how });
    }

    /**
     * Makes the next POST of a key lose its answer and commit late: the key appears only when the
     * next request to the key API arrives, after the client has looked and found nothing.
     */
    loseNextCreateCommitLate() {
        this.lateCommit = "armed";
    }
    private lateCommit: "armed" | (() => void) | undefined;

    /**
     * Makes the next call to `route` (after `skip` others) do its work and then never answer: the
     * connection stays open, as a vendor that commits and then stalls does, until the client goes
     * away. Resolves once the work is committed, so a test can kill the client in that window.
     */
    hangNextAnswer(route: string, skip = 0): Promise<void> {
        return new Promise<void>((committed) => {
            this.faults.push({ route, status: 0, message: "", skip, lost: false, hang: committed });
        });
    }

    clearFaults() {
        this.faults.length = 0;
    }

    /** Requests whose body came in {"data": …}. */
    private wrappedReq = new WeakSet<http.IncomingMessage>();

    /** Whether the answer of this request must be lost (after the work is done). */
    private lost = new WeakSet<http.IncomingMessage>();
    /** Requests whose answer never comes (hangNextAnswer), with what to call once the work is done. */
    private hung = new WeakMap<http.IncomingMessage, () => void>();
    /** Requests whose success is answered with an unreadable body. */
    private garbled = new WeakMap<http.IncomingMessage, Garble>();

    private count(route: string, req?: http.IncomingMessage) {
        this.stats.count(route);
        const fault = this.faults.findIndex((f) => f.route === route && f.skip-- <= 0);
        if (fault >= 0) {
            const [{ status, message, lost, garble, hang }] = this.faults.splice(fault, 1);
            if (hang && req) {
                this.hung.set(req, hang);
                return;
            }
            if (garble && req) {
                this.garbled.set(req, garble);
                return;
            }
            if (lost && req) {
                this.lost.add(req);
                return;
            }
            throw this.fail(status, message);
        }
    }

    /** A Nexus error in the configured shape; `detail` says more than `message`, as Nexus's own errors do. */
    private fail(code: number, message: string, extra: { detail?: string; headers?: Record<string, string> } = {}): HttpError {
        const body = this.opts.errorShape === "flat" ? { status: code, message, ...(extra.detail ? { detail: extra.detail } : {}) } : { status: { code, message, detail: extra.detail ?? "" } };
        return new HttpError(code, body, extra.headers);
    }

    /** The key API's rate limit, per login (the session's user). */
    private pace(session: Session) {
        const limit = this.opts.keyApiLimit;
        if (!limit) return;
        const now = this.now();
        let w = this.keyApiWindows.get(session.username);
        if (!w || now - w.start >= limit.windowMs) this.keyApiWindows.set(session.username, (w = { start: now, used: 0 }));
        if (w.used >= limit.requests) {
            const retry = Math.max(1, Math.ceil((w.start + limit.windowMs - now) / 1000));
            throw this.fail(429, "too many requests", { headers: { "retry-after": String(retry) } });
        }
        w.used++;
    }

    /** Changes the lifetime of tokens issued from now on (the benchmark measures logins across expiries). */
    setTokenTtl(seconds: number) {
        this.opts.tokenTtlSeconds = seconds;
    }

    /** Invalidates every issued access token, as a GWS restart or a revoked session would. */
    expireTokens() {
        this.tokens.clear();
    }

    private save() {
        records.save(this.opts.dataFile, { nexusKeys: [...this.keys.values()] });
    }

    /**
     * Whether answers carry a Date header (as every HTTP origin server with a clock does, RFC 9110
     * §6.6.1). It reads the sandbox's clock, the one that stamps `created`; tests turn it off to
     * play a front end that strips it.
     */
    dateHeader = true;

    readonly handler: Handler = async (req, res, url) => {
        const path = url.pathname;
        const method = req.method ?? "GET";
        if (this.dateHeader) res.setHeader("date", new Date(this.now()).toUTCString());
        else res.sendDate = false;
        if (path.startsWith("/_sandbox/")) return this.control(method, path, res);

        if (path === "/auth/v3/oauth/token" && method === "POST") {
            this.count("POST /auth/v3/oauth/token", req);
            return this.issueToken(req, res);
        }
        if (path === "/nexus/v3/securemail" && method === "GET") {
            this.count("GET /nexus/v3/securemail");
            return this.securemail(req, res, url);
        }
        if (path === "/nexus/v3/whoami" && method === "GET") {
            this.count("GET /nexus/v3/whoami");
            return this.whoami(req, res);
        }
        if (path === "/nexus/v3/apikeys") {
            this.count(`${method} /nexus/v3/apikeys`, req);
            if (method === "POST" && typeof this.lateCommit === "function") {
                this.lateCommit();
                this.lateCommit = undefined;
            }
            const session = this.authenticate(req);
            this.pace(session);
            if (method === "POST") return this.create(session, req, res);
            if (method === "GET") return this.reply(res, 200, this.page(this.visible(session), url));
            throw this.fail(405, `method ${method} not allowed`);
        }
        const match = /^\/nexus\/v3\/apikeys\/([^/]+)$/.exec(path);
        if (match) {
            this.count(`${method} /nexus/v3/apikeys/{id}`, req);
            const session = this.authenticate(req);
            this.pace(session);
            const record = this.find(session, decodeURIComponent(match[1]));
            if (method === "GET") return this.reply(res, 200, record);
            if (method === "PUT") return this.update(record, req, res);
            if (method === "DELETE") {
                this.keys.delete(record.id);
                this.save();
                if (this.lost.has(req)) return void req.socket.destroy();
                res.writeHead(204).end();
                return;
            }
            throw this.fail(405, `method ${method} not allowed`);
        }
        this.stats.count("unknown");
        throw this.fail(404, "not found");
    };

    private control(method: string, path: string, res: http.ServerResponse) {
        if (path === "/_sandbox/stats" && method === "GET") return sendJson(res, 200, this.stats.snapshot());
        if (path === "/_sandbox/stats/reset" && method === "POST") {
            this.stats.reset();
            return sendJson(res, 200, {});
        }
        if (path === "/_sandbox/tokens/expire" && method === "POST") {
            this.expireTokens();
            return sendJson(res, 200, {});
        }
        throw this.fail(404, "not found");
    }

    private reply(res: http.ServerResponse, status: number, body: unknown) {
        // A lost answer: the work is done, the client never hears of it.
        if (res.req && this.lost.has(res.req)) {
            res.socket?.destroy();
            return;
        }
        // A hung answer: the work is done, the answer never sent.
        const hang = res.req && this.hung.get(res.req);
        if (hang) return hang();
        const omit = (r: unknown) => {
            if (this.opts.omitFields.length === 0 || !r || typeof r !== "object") return r;
            const copy = { ...(r as Record<string, unknown>) };
            for (const f of this.opts.omitFields) delete copy[f];
            return copy;
        };
        const shaped = Array.isArray(body) ? body.map(omit) : omit(body);
        const garble = res.req && status < 300 ? this.garbled.get(res.req) : undefined;
        if (garble) return sendGarbled(res, status, shaped, garble);
        // A request in {"data": …} is answered in kind (the client reads both).
        const wrap = this.opts.envelope || (res.req !== undefined && this.wrappedReq.has(res.req));
        sendJson(res, status, wrap ? { data: shaped } : shaped);
    }

    /** One page of a list (inferred paging: `limit` up to 100, `offset` from 0); no `limit` answers everything. */
    private page<T>(items: T[], url: URL): T[] {
        if (this.opts.paging === "first") return items.slice(0, 10);
        if (this.opts.paging === "index") {
            const index = Number(url.searchParams.get("index") ?? 0);
            if (!Number.isInteger(index) || index < 0) throw this.fail(400, "index must be 0 or more");
            return items.slice(index, index + 10);
        }
        const limit = url.searchParams.get("limit");
        if (limit === null) return items;
        const n = Number(limit);
        const offset = Number(url.searchParams.get("offset") ?? 0);
        if (!Number.isInteger(n) || n < 1 || n > 100 || !Number.isInteger(offset) || offset < 0) {
            throw this.fail(400, "limit must be 1 to 100 and offset 0 or more");
        }
        return items.slice(offset, offset + n);
    }

    private async issueToken(req: http.IncomingMessage, res: http.ServerResponse) {
        const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "");
        const [clientId, clientSecret] = basic ? Buffer.from(basic[1], "base64").toString("utf8").split(/:(.*)/s) : [];
        if (clientId !== this.opts.client.id || clientSecret !== this.opts.client.secret) {
            throw new HttpError(401, { error: "unauthorized", error_description: "Full authentication is required to access this resource" });
        }
        const form = new URLSearchParams(await readBody(req));
        if (form.get("client_id") && form.get("client_id") !== clientId) {
            throw new HttpError(400, { error: "invalid_client", error_description: "Given client ID does not match authenticated client" });
        }
        const grant = form.get("grant_type");
        let who: { username: string; ccId: string | null };
        if (grant === "password") {
            who = this.login(form.get("username") ?? "", form.get("password") ?? "");
        } else if (grant === "refresh_token") {
            const known = this.refreshTokens.get(form.get("refresh_token") ?? "");
            if (!known) throw new HttpError(400, { error: "invalid_grant", error_description: "Invalid refresh token" });
            who = known;
        } else {
            throw new HttpError(400, { error: "unsupported_grant_type", error_description: `Unsupported grant type: ${grant ?? ""}` });
        }
        const accessToken = crypto.randomUUID();
        const refreshToken = crypto.randomUUID();
        this.tokens.set(accessToken, { ...who, expiresAt: this.now() + this.opts.tokenTtlSeconds * 1000 });
        this.refreshTokens.set(refreshToken, who);
        this.stats.tokensIssued++;
        this.issued.tokens.add(accessToken).add(refreshToken);
        sendJson(res, 200, {
            access_token: accessToken,
            token_type: "bearer",
            refresh_token: refreshToken,
            expires_in: this.opts.tokenTtlSeconds,
            scope: "*",
        });
    }

    private login(username: string, password: string): { username: string; ccId: string | null } {
        const bad = new HttpError(400, { error: "invalid_grant", error_description: "Bad credentials" });
        const sep = username.indexOf("\\");
        if (sep < 0) {
            if (username === this.opts.opsAdmin.name && password === this.opts.opsAdmin.password) return { username, ccId: null };
            throw bad;
        }
        const ccId = username.slice(0, sep);
        // The seed's curl writes 'username=$ccId\\$tenantUser' inside single quotes, which sends two
        // backslashes; accept that as well as the single one GWS documents elsewhere.
        const user = username.slice(sep + 1).replace(/^\\/, "");
        if (!this.opts.contactCenters.includes(ccId)) throw bad;
        if (user !== this.opts.tenantUser.name || password !== this.opts.tenantUser.password) throw bad;
        return { username, ccId };
    }

    /** How key-API requests were written: the Authorization header's form and the body's. */
    readonly styles = { bareToken: 0, bearerToken: 0, bareBody: 0, dataBody: 0 };

    private authenticate(req: http.IncomingMessage): Session {
        // The guide sends the bare token, Genesys's provisioning scripts "Bearer <token>": both are taken.
        const raw = req.headers.authorization ?? "";
        const bearer = /^Bearer\s+/i.test(raw);
        this.styles[bearer ? "bearerToken" : "bareToken"]++;
        if (this.opts.requireStyle && bearer !== (this.opts.requireStyle === "scripts")) {
            throw new HttpError(401, { error: "invalid_token", error_description: bearer ? "Invalid access token" : "Full authentication is required to access this resource" });
        }
        const header = raw.replace(/^Bearer\s+/i, "").trim();
        const session = this.tokens.get(header);
        if (!session || session.expiresAt <= this.now()) {
            if (session) this.tokens.delete(header);
            throw new HttpError(401, { error: "invalid_token", error_description: "Invalid access token" });
        }
        return session;
    }

    private visible(session: Session): NexusRecord[] {
        return [...this.keys.values()].filter((k) => session.ccId === null || k.tenant === session.ccId);
    }

    private find(session: Session, id: string): NexusRecord {
        const record = this.keys.get(id);
        if (!record || (session.ccId !== null && record.tenant !== session.ccId)) {
            throw this.fail(404, "API key not found", { detail: "no API key with this id in the tenant" });
        }
        return record;
    }

    private async json(req: http.IncomingMessage): Promise<Record<string, unknown>> {
        let body: unknown;
        try {
            body = JSON.parse(await readBody(req));
        } catch {
            throw this.fail(400, "request body is not valid JSON");
        }
        if (!body || typeof body !== "object" || Array.isArray(body)) {
            throw this.fail(400, "request body must be a JSON object");
        }
        // Genesys's provisioning scripts wrap the body as {"data": {...}}; the guide sends it bare.
        const keys = Object.keys(body);
        const data = (body as { data?: unknown }).data;
        const wrapped = keys.length === 1 && keys[0] === "data" && !!data && typeof data === "object" && !Array.isArray(data);
        this.styles[wrapped ? "dataBody" : "bareBody"]++;
        if (this.opts.requireStyle && wrapped !== (this.opts.requireStyle === "scripts")) {
            throw this.fail(400, "request body is not in the expected form", { detail: this.opts.requireStyle === "scripts" ? 'expected {"data": {...}}' : "expected the fields at the top level" });
        }
        if (wrapped) this.wrappedReq.add(req);
        return (wrapped ? data : body) as Record<string, unknown>;
    }

    private checkName(name: unknown, tenant: string, exceptId?: string): string {
        if (typeof name !== "string" || name.trim() === "" || name.length > 255) {
            throw this.fail(400, "name must be a non-empty string of at most 255 characters");
        }
        for (const k of this.keys.values()) {
            if (k.tenant === tenant && k.name === name && k.id !== exceptId) {
                throw this.fail(409, "name exists", { detail: `an API key named "${name}" already exists in tenant ${tenant}` });
            }
        }
        return name;
    }

    private async create(session: Session, req: http.IncomingMessage, res: http.ServerResponse) {
        const body = await this.json(req);
        const tenant = body.tenant;
        if (typeof tenant !== "string" || tenant === "") throw this.fail(400, "tenant is required");
        const cluster = tenant === "*";
        if (!cluster && !this.opts.contactCenters.includes(tenant)) throw this.fail(400, `unknown tenant ${tenant}`);
        if (session.ccId !== null && session.ccId !== tenant) {
            throw this.fail(403, "not allowed to create API keys for another tenant");
        }
        const allowed: readonly string[] = cluster ? NEXUS_PERMISSIONS.cluster : [...NEXUS_PERMISSIONS.tenant, this.opts.securemailPermission];
        const permissions = body.permissions;
        if (!Array.isArray(permissions) || permissions.length === 0 || !permissions.every((p) => typeof p === "string")) {
            throw this.fail(400, "permissions must be a non-empty array of strings");
        }
        for (const p of permissions as string[]) {
            if (!allowed.includes(p)) throw this.fail(400, `permission ${p} is not valid for tenant ${tenant}`);
        }
        if (body.enabled !== undefined && typeof body.enabled !== "boolean") throw this.fail(400, "enabled must be a boolean");
        const name = this.checkName(body.name, tenant);
        const record: NexusRecord = {
            id: crypto.randomUUID(),
            tenant,
            name,
            permissions: [...new Set(permissions as string[])],
            enabled: body.enabled !== false,
            created: new Date(this.now()).toISOString(),
            revoked: false,
            expires: false,
            createdby: session.username,
            capacity: this.opts.capacity,
            frequency: this.opts.frequency,
        };
        if (this.lateCommit === "armed") {
            this.lateCommit = () => {
                this.keys.set(record.id, record);
                this.issued.keys.add(record.id);
                this.save();
            };
            res.socket?.destroy();
            return;
        }
        this.keys.set(record.id, record);
        this.issued.keys.add(record.id);
        this.save();
        this.reply(res, 200, record);
    }

    private async update(record: NexusRecord, req: http.IncomingMessage, res: http.ServerResponse) {
        const body = await this.json(req);
        for (const field of ["id", "tenant", "permissions", "created", "createdby", "capacity", "frequency"]) {
            if (field in body && JSON.stringify(body[field]) !== JSON.stringify(record[field as keyof NexusRecord])) {
                throw this.fail(400, `${field} cannot be changed`);
            }
        }
        const next = { ...record };
        if ("name" in body) next.name = this.checkName(body.name, record.tenant, record.id);
        if ("enabled" in body) {
            if (typeof body.enabled !== "boolean") throw this.fail(400, "enabled must be a boolean");
            next.enabled = body.enabled;
        }
        if ("expires" in body) {
            const e = body.expires;
            if (e === false || e === null) next.expires = false;
            else if (typeof e === "string" && !Number.isNaN(Date.parse(e))) next.expires = new Date(e).toISOString();
            else throw this.fail(400, "expires must be an ISO 8601 date or false");
        }
        if ("revoked" in body) {
            if (typeof body.revoked !== "boolean") throw this.fail(400, "revoked must be a boolean");
            if (record.revoked && !body.revoked) throw this.fail(409, "a revoked API key cannot be reinstated");
            next.revoked = body.revoked;
        }
        this.keys.set(record.id, next);
        this.save();
        this.reply(res, 200, next);
    }

    /**
     * The documented Secure Mail read, GET /nexus/v3/securemail?address=… with `x-api-key`: a key
     * that holds the Secure Mail permission (or nexus:consumer:*) is answered; a chat key is refused
     * 403. What the real answer holds is not shown by any source; this one is a stand-in.
     */
    private securemail(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
        const record = this.consumer(req);
        if (!record.permissions.some((p) => p === this.opts.securemailPermission || p === "nexus:consumer:*")) {
            throw this.fail(403, "API key not allowed", { detail: "the key has no Secure Mail permission" });
        }
        const address = url.searchParams.get("address");
        if (!address) throw this.fail(400, "address is required", { detail: "GET /nexus/v3/securemail needs ?address=" });
        sendJson(res, 200, { data: { address, tenant: record.tenant, messages: [] } });
    }

    /**
     * A test convenience, not a Genesys endpoint (no source has a whoami): any live key may call it;
     * the tests and the local stack's probeUrl use it to see whether a key is accepted.
     */
    private whoami(req: http.IncomingMessage, res: http.ServerResponse) {
        const record = this.consumer(req);
        const window = this.windows.get(record.id)!;
        sendJson(res, 200, {
            tenant: record.tenant,
            name: record.name,
            permissions: record.permissions,
            remaining: record.capacity - window.used,
        });
    }

    /** The key of a consumer call (`x-api-key`), checked as Nexus would: enabled, not revoked, not expired, within capacity per frequency. */
    private consumer(req: http.IncomingMessage): NexusRecord {
        const key = String(req.headers["x-api-key"] ?? "");
        const record = this.keys.get(key);
        if (!record) throw this.fail(401, "invalid API key");
        if (record.revoked) throw this.fail(403, "API key revoked");
        if (!record.enabled) throw this.fail(403, "API key disabled");
        if (record.expires !== false && Date.parse(record.expires) <= this.now()) throw this.fail(403, "API key expired");
        const now = Date.now();
        let window = this.windows.get(record.id);
        if (!window || now - window.start >= record.frequency * 1000) {
            window = { start: now, used: 0 };
            this.windows.set(record.id, window);
        }
        if (window.used >= record.capacity) {
            const retry = Math.ceil((window.start + record.frequency * 1000 - now) / 1000);
            throw this.fail(429, "rate limit exceeded", { headers: { "retry-after": String(retry) } });
        }
        window.used++;
        return record;
    }
}
