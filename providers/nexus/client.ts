// Wire client for Genesys Web Services auth and the Digital Channels ("Nexus") API-key API. It is
// the only code in keyfleet that knows Nexus URLs, auth and status codes.
//
// Documented (Digital Channels Private Edition Guide, "Provision API keys"):
//   POST <authURL>/auth/v3/oauth/token, HTTP basic nexus_client:<client secret>, form body
//     username (<ccId>\<tenant user> for tenant and Designer keys, the GWS ops admin for cluster
//     keys), client_id, grant_type=password, password → {access_token, expires_in, …}
//   POST <nexusURL>/nexus/v3/apikeys, `Authorization: <access token>` (the bare token),
//     body {enabled, tenant, name, permissions} → the key record; its `id` is the API key.
// Inferred, because the public doc shows only POST: GET /nexus/v3/apikeys (list),
// GET|PUT|DELETE /nexus/v3/apikeys/{id} (PUT takes name, enabled, expires, revoked), following
// the product's admin rights (view, read, create, update, delete) and UI actions (enable/disable,
// expire, revoke, delete); 404 for a key that is gone, 409 for a name already used in the tenant;
// responses either bare or wrapped as {"data": …}. The sandbox (sandbox/genesys.ts) implements
// the same inference; check it against a real deployment before relying on it.
import { createHash } from "node:crypto";
import { VendorError } from "../shared/errors.ts";
import { send } from "../shared/wire.ts";

export interface NexusEndpoints {
    /** Host of the Auth Services load balancer, e.g. https://auth.example.com. */
    authUrl: string;
    /** Digital Channels FQDN URL, e.g. https://nexus.example.com. */
    nexusUrl: string;
    /** OAuth client; the doc uses nexus_client. */
    clientId: string;
    clientSecret: string;
}

/** A GWS password-grant login: `<ccId>\<user>` for a tenant user, the bare name for the ops admin. */
export interface NexusLogin {
    username: string;
    password: string;
}

/** A key record as Nexus returns it. */
export interface NexusKey {
    /** The API key itself. */
    id: string;
    /** Contact center id, or `*` for a cluster key. */
    tenant: string;
    name: string;
    permissions: string[];
    enabled: boolean;
    created: string;
    revoked: boolean;
    /** ISO time, or false when the key never expires. */
    expires: string | false;
    createdby: string;
    /** Requests allowed per `frequency` seconds. */
    capacity: number;
    frequency: number;
}

export interface NewNexusKey {
    tenant: string;
    name: string;
    permissions: string[];
    enabled: boolean;
}

export interface NexusKeyChanges {
    name?: string;
    enabled?: boolean;
    expires?: string | false;
    revoked?: boolean;
}

interface Token {
    value: string;
    expiresAt: number;
}

// One token per credential per process, shared by every client and resource: the dynamic
// provider serves all key resources of a deployment from one process. Stored as promises so that
// resources created in parallel wait for one token request instead of making one each.
const tokens = new Map<string, Promise<Token>>();
/** Tokens are renewed this long before GWS says they expire. */
const EXPIRY_MARGIN_MS = 60_000;

export class NexusClient {
    private readonly endpoints: NexusEndpoints;

    constructor(endpoints: NexusEndpoints) {
        this.endpoints = {
            ...endpoints,
            authUrl: endpoints.authUrl.replace(/\/+$/, ""),
            nexusUrl: endpoints.nexusUrl.replace(/\/+$/, ""),
        };
    }

    async create(login: NexusLogin, key: NewNexusKey): Promise<NexusKey> {
        return record(await this.call(login, "POST", "/nexus/v3/apikeys", key));
    }

    async list(login: NexusLogin): Promise<NexusKey[]> {
        const body = await this.call(login, "GET", "/nexus/v3/apikeys");
        if (!Array.isArray(body)) throw new VendorError(502, "Nexus answered the key list with a body that is not a list");
        return body.map(record);
    }

    /** The key, or undefined when Nexus no longer has it. */
    async get(login: NexusLogin, id: string): Promise<NexusKey | undefined> {
        try {
            return record(await this.call(login, "GET", keyPath(id), undefined, [id]));
        } catch (err) {
            if (err instanceof VendorError && err.status === 404) return undefined;
            throw err;
        }
    }

    async update(login: NexusLogin, id: string, changes: NexusKeyChanges): Promise<NexusKey> {
        return record(await this.call(login, "PUT", keyPath(id), changes, [id]));
    }

    /** Deletes the key; false when it was already gone. */
    async delete(login: NexusLogin, id: string): Promise<boolean> {
        try {
            await this.call(login, "DELETE", keyPath(id), undefined, [id]);
            return true;
        } catch (err) {
            if (err instanceof VendorError && err.status === 404) return false;
            throw err;
        }
    }

    /** A valid access token for `login`, from the process-wide cache when one is there. */
    async token(login: NexusLogin): Promise<string> {
        const cacheKey = this.cacheKey(login);
        const cached = tokens.get(cacheKey);
        if (cached) {
            try {
                const token = await cached;
                if (token.expiresAt > Date.now()) return token.value;
            } catch {
                // a failed login is not cached; fall through and try again
            }
        }
        const fresh = this.login(login);
        tokens.set(cacheKey, fresh);
        fresh.catch(() => tokens.delete(cacheKey));
        return (await fresh).value;
    }

    /**
     * Drops the cached token if it is still the one that was refused; when a parallel call has
     * already replaced it, the new one stays, and all waiting calls share one new login.
     */
    private async forget(login: NexusLogin, refused: string) {
        const key = this.cacheKey(login);
        const cached = tokens.get(key);
        const value = await cached?.then((t) => t.value).catch(() => undefined);
        if (tokens.get(key) === cached && (value === undefined || value === refused)) tokens.delete(key);
    }

    private cacheKey(login: NexusLogin): string {
        // The secrets are hashed into the key so that a changed password gets a new token.
        const secrets = createHash("sha256").update(`${this.endpoints.clientSecret}\0${login.password}`).digest("hex");
        return `${this.endpoints.authUrl}\0${this.endpoints.clientId}\0${login.username}\0${secrets}`;
    }

    private async login(login: NexusLogin): Promise<Token> {
        const basic = Buffer.from(`${this.endpoints.clientId}:${this.endpoints.clientSecret}`).toString("base64");
        const res = await send({
            method: "POST",
            url: `${this.endpoints.authUrl}/auth/v3/oauth/token`,
            headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
                username: login.username,
                client_id: this.endpoints.clientId,
                grant_type: "password",
                password: login.password,
            }).toString(),
        });
        const body = parse(res.text);
        if (res.status !== 200) {
            throw new VendorError(
                res.status,
                vendorMessage(body, res.text, [login.password, this.endpoints.clientSecret]),
                `GWS refused the login of "${login.username}"; check that user's password and the client secret in the stack config`,
            );
        }
        const { access_token: value, expires_in: expiresIn } = body as { access_token?: unknown; expires_in?: unknown };
        if (typeof value !== "string" || value === "") throw new VendorError(502, "GWS answered without an access_token");
        const ttlMs = (typeof expiresIn === "number" ? expiresIn : 3600) * 1000;
        return { value, expiresAt: Date.now() + Math.max(ttlMs - EXPIRY_MARGIN_MS, ttlMs / 2) };
    }

    /** `secrets` are values the vendor might echo in an error (the key id is the key); they are masked. */
    private async call(login: NexusLogin, method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown, secrets: string[] = []): Promise<unknown> {
        for (let attempt = 1; ; attempt++) {
            const token = await this.token(login);
            const res = await send({
                method,
                url: `${this.endpoints.nexusUrl}${path}`,
                // The doc sends the bare token, not "Bearer <token>".
                headers: { authorization: token, ...(body === undefined ? {} : { "content-type": "application/json" }) },
                body: body === undefined ? undefined : JSON.stringify(body),
            });
            if (res.status === 401 && attempt === 1) {
                // Expired or revoked before its time (a GWS restart): log in again, once.
                await this.forget(login, token);
                continue;
            }
            if (res.status === 204) return undefined;
            const parsed = parse(res.text);
            if (res.status < 200 || res.status >= 300) throw new VendorError(res.status, vendorMessage(parsed, res.text, [...secrets, token]));
            // Some Nexus versions wrap responses as {"data": …}.
            return parsed && typeof parsed === "object" && "data" in parsed ? (parsed as { data: unknown }).data : parsed;
        }
    }
}

function keyPath(id: string): string {
    return `/nexus/v3/apikeys/${encodeURIComponent(id)}`;
}

function parse(text: string): unknown {
    if (!text) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

/**
 * The vendor's own words for a failure, from the GWS OAuth shape or the Nexus shape, with any of
 * `secrets` the vendor echoed masked before the text is shortened (a cut could split a secret and
 * let its first part through).
 */
function vendorMessage(body: unknown, text: string, secrets: string[]): string {
    let words = "";
    if (body && typeof body === "object") {
        const b = body as Record<string, unknown>;
        for (const field of ["message", "error_description", "error"]) {
            const v = b[field];
            if (typeof v === "string" && v) words = v;
            else if (v && typeof v === "object" && typeof (v as { message?: unknown }).message === "string") words = (v as { message: string }).message;
            if (words) break;
        }
    }
    if (!words) words = text.replace(/\s+/g, " ").trim() || "no details";
    const masked = secrets.filter(Boolean).reduce((out, secret) => out.replaceAll(secret, "[redacted]"), words);
    return masked.length > 200 ? `${masked.slice(0, 200)}…` : masked;
}

function record(body: unknown): NexusKey {
    const r = body as Partial<NexusKey> | undefined;
    if (!r || typeof r.id !== "string" || typeof r.tenant !== "string" || typeof r.name !== "string") {
        throw new VendorError(502, "Nexus answered with a body that is not an API key record");
    }
    return {
        id: r.id,
        tenant: r.tenant,
        name: r.name,
        permissions: Array.isArray(r.permissions) ? r.permissions.map(String) : [],
        enabled: r.enabled !== false,
        created: typeof r.created === "string" ? r.created : "",
        revoked: r.revoked === true,
        expires: typeof r.expires === "string" ? r.expires : false,
        createdby: typeof r.createdby === "string" ? r.createdby : "",
        capacity: typeof r.capacity === "number" ? r.capacity : 0,
        frequency: typeof r.frequency === "number" ? r.frequency : 0,
    };
}
