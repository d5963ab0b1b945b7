// Wire client for Genesys Web Services auth and the Digital Channels ("Nexus") API-key API. It is
// the only code in keyfleet that knows Nexus URLs, auth and status codes.
//
// Documented:
//   - the Provision API keys guide (shared/seeds/genesys-digital-channels-api-keys.txt):
//     POST <authURL>/auth/v3/oauth/token, HTTP basic nexus_client:<client secret>, form body
//     username (<ccId>\<tenant user> for tenant and Designer keys, the GWS ops admin for cluster
//     keys), client_id, grant_type=password, password → {access_token, expires_in, …};
//     POST <nexusURL>/nexus/v3/apikeys, `Authorization: <access token>` (the bare token), body
//     {enabled, tenant, name, permissions} → the key record; its `id` is the API key.
//   - Genesys's provisioning scripts (genesys/multicloud-services, services/iwdem/README.md): the
//     same POST with `Authorization: Bearer <token>`, the body as {"data": {...}}, and the
//     permission nexus:consumer:* (setting nexus.requestStyle chooses the form; default the guide's).
//   - the Web API reference: errors as {"status": {"code", "message", "detail"}} (message and detail
//     are shown); lists page with index/count (default 10); GET /nexus/v3/securemail?address=… with
//     x-api-key (a probeUrl for Secure Mail keys). No source has a whoami.
// Inferred, because no source settles it (and what is also accepted):
//   - GET /nexus/v3/apikeys (list), GET|PUT|DELETE /nexus/v3/apikeys/{id} (PUT takes name, enabled,
//     expires, revoked), from the product's admin rights (view, read, create, update, delete) and UI
//     actions; 404 for a key that is gone, 409 for a name already used in the tenant;
//   - the scripts' {"data": …} wrapping applies to PUT as to POST; answers are read bare or wrapped;
//   - errors in the flat {status, message} and GWS's {error, error_description} shapes are read too;
//   - 429 with Retry-After when the key API's rate limit is hit (a second's wait without it);
//   - the key list's paging: both limit/offset and index/count are sent (index as an item offset),
//     pages are followed until an empty one or one with nothing new, and a server that ignores
//     both and answers everything at once is accepted; a repeated page of 10 or 100 may be a cut
//     (listPages says so, and the lifecycle refuses to read absence from it);
//   - every field of a key record is required: an answer without one is refused rather than read
//     as a default.
// The sandbox (sandbox/genesys.ts) implements the same; check it against a real deployment before
// relying on it.
import { createHash } from "node:crypto";
import { callVendor, pacerFor, type Pacer } from "../shared/calls.ts";
import { VendorError, vendorWords, type ErrorKind } from "../shared/errors.ts";
import { tokens, withToken } from "../shared/tokens.ts";
import { rememberSecret } from "../shared/redact.ts";
import { retryAfterMs, send, serverClockOffset, type WireResponse } from "../shared/wire.ts";

export interface NexusEndpoints {
    /** Host of the Auth Services load balancer, e.g. https://auth.example.com. */
    authUrl: string;
    /** Digital Channels FQDN URL, e.g. https://nexus.example.com. */
    nexusUrl: string;
    /** OAuth client; the doc uses nexus_client. */
    clientId: string;
    clientSecret: string;
    /**
     * How requests to the key API are written. "seed" (default): the Provision API keys guide's,
     * `Authorization: <token>` and a bare JSON body. "scripts": Genesys's provisioning scripts'
     * (genesys/multicloud-services, services/iwdem/README.md), `Authorization: Bearer <token>` and
     * the body wrapped as {"data": {...}}; that they wrap PUT as they wrap POST is inferred.
     */
    style?: NexusRequestStyle;
}

export type NexusRequestStyle = "seed" | "scripts";

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

/** Keys asked for per page. */
export const PAGE_SIZE = 100;
/** The page size of Nexus's documented lists when `count` is not honoured. */
const DOCUMENTED_COUNT = 10;

export class NexusClient {
    private readonly endpoints: NexusEndpoints;

    constructor(endpoints: NexusEndpoints) {
        this.endpoints = {
            ...endpoints,
            authUrl: endpoints.authUrl.replace(/\/+$/, ""),
            nexusUrl: endpoints.nexusUrl.replace(/\/+$/, ""),
        };
    }

    /** The Nexus API's base URL (what a key list is shared by). */
    get url(): string {
        return this.endpoints.nexusUrl;
    }

    /** How far the Nexus API's clock (the one that stamps `created`) is ahead of keyfleet's, from its answers' Date header; undefined before any. */
    // Inferred: the Date header comes from the clock that stamps the record's creation time (RFC 9110
    // §6.6.1 requires the header, not that clock). Without one, the core falls back to its own clock
    // and names a clock off as the cause when a lost create's key is missed.
    clockOffset(): number | undefined {
        return serverClockOffset(this.endpoints.nexusUrl);
    }

    async create(login: NexusLogin, key: NewNexusKey): Promise<NexusKey> {
        return record(await this.call(login, "POST", "/nexus/v3/apikeys", key), "creating a key");
    }

    /**
     * Every key the login may see, page by page. Key-list paging is undocumented, and Nexus's
     * documented lists page with `index`/`count` (default 10), so both forms are sent and a short
     * page is never taken for the last one: pages are followed until one is empty or brings no key
     * not yet seen (a server that ignores both answers the same page again). `complete` is false
     * when that repeated page is exactly 10 or PAGE_SIZE long: it may be a cut, not the whole list,
     * and a caller must not read a key's absence from it as the key being gone.
     */
    async listPages(login: NexusLogin): Promise<{ keys: NexusKey[]; complete: boolean }> {
        const seen = new Map<string, NexusKey>();
        for (;;) {
            const at = seen.size;
            const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(at), index: String(at), count: String(PAGE_SIZE) });
            const body = await this.call(login, "GET", `/nexus/v3/apikeys?${query}`);
            if (!Array.isArray(body)) throw new VendorError("invalidAnswer", "Nexus answered the key list (GET /nexus/v3/apikeys) with a body that is not a list");
            const page = body.map((b) => record(b, "listing keys"));
            for (const k of page) if (!seen.has(k.id)) seen.set(k.id, k);
            if (page.length === 0) return { keys: [...seen.values()], complete: true };
            if (seen.size === at) return { keys: [...seen.values()], complete: page.length !== DOCUMENTED_COUNT && page.length !== PAGE_SIZE };
        }
    }

    /** Every key the login may see (see listPages). */
    async list(login: NexusLogin): Promise<NexusKey[]> {
        return (await this.listPages(login)).keys;
    }

    /** The key, or undefined when Nexus no longer has it. */
    async get(login: NexusLogin, id: string): Promise<NexusKey | undefined> {
        try {
            return record(await this.call(login, "GET", keyPath(id), undefined, [id]), "reading a key");
        } catch (err) {
            if (err instanceof VendorError && err.kind === "notFound") return undefined;
            throw err;
        }
    }

    async update(login: NexusLogin, id: string, changes: NexusKeyChanges): Promise<NexusKey> {
        return record(await this.call(login, "PUT", keyPath(id), changes, [id]), "updating a key");
    }

    /** Deletes the key; false when it was already gone. */
    async delete(login: NexusLogin, id: string): Promise<boolean> {
        try {
            await this.call(login, "DELETE", keyPath(id), undefined, [id]);
            return true;
        } catch (err) {
            if (err instanceof VendorError && err.kind === "notFound") return false;
            throw err;
        }
    }

    /**
     * Uses `apiKey` once, as a consumer would, on `url` (the stack's probeUrl: a read-only call the
     * key's permission allows, e.g. the documented GET /nexus/v3/securemail?address=… for Secure Mail
     * keys), for rotation.verify. One request, no retry: the answer is the verdict.
     */
    async probe(apiKey: string, url: string): Promise<{ probe: string; status: number; text: string }> {
        const res = await send({ method: "GET", url, headers: { "x-api-key": apiKey, accept: "application/json" } });
        // The probe names the call without its query: a mailbox address is nobody's business in a log.
        const shown = url.split("?")[0];
        return { probe: `GET ${shown}`, status: res.status, text: res.text };
    }

    /** A valid access token for `login`, from the process-wide cache (one login per credential, shared by every waiter). */
    async token(login: NexusLogin): Promise<string> {
        return tokens.get(this.cacheKey(login), () => this.login(login));
    }

    private cacheKey(login: NexusLogin): string {
        // The secrets are hashed into the key so that a changed password gets a new token.
        const secrets = createHash("sha256").update(`${this.endpoints.clientSecret}\0${login.password}`).digest("hex");
        return `nexus\0${this.endpoints.authUrl}\0${this.endpoints.clientId}\0${login.username}\0${secrets}`;
    }

    /** One pace per Nexus account: the key API's rate limit counts per login. */
    private pacer(login: NexusLogin): Pacer {
        return pacerFor(`nexus\0${this.endpoints.nexusUrl}\0${login.username}`);
    }

    private async login(login: NexusLogin): Promise<{ value: string; lifetimeMs: number }> {
        const basic = Buffer.from(`${this.endpoints.clientId}:${this.endpoints.clientSecret}`).toString("base64");
        // A password grant is safe to repeat, so an auth outage is retried like any read.
        const res = await callVendor({ idempotent: true, pacer: pacerFor(`gws\0${this.endpoints.authUrl}`) }, async () => {
            const r = await send({
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
            if (r.status === 429 || r.status >= 500) throw failure(r, [login.password, this.endpoints.clientSecret], "the GWS auth service is unavailable; try again later");
            return r;
        }).catch((err: unknown) => {
            if (err instanceof VendorError && (err.kind === "unavailable" || err.kind === "outcomeUnknown")) {
                throw new VendorError("unavailable", `GWS auth at ${new URL(this.endpoints.authUrl).origin} did not answer: ${err.vendorMessage}`, {
                    code: err.code,
                    hint: "the GWS auth service is unavailable (this is not a wrong password); check keyfleet:nexus.authUrl and try again later",
                });
            }
            throw err;
        });
        const body = parse(res.text);
        if (res.status !== 200) {
            throw new VendorError(res.status === 403 ? "forbidden" : "unauthorized", vendorMessage(body, res.text, [login.password, this.endpoints.clientSecret]), {
                code: res.status,
                hint: `GWS refused the login of "${login.username}"; check that user's password and the client secret in the stack config`,
            });
        }
        const { access_token: value, expires_in: expiresIn, refresh_token: refresh } = body as { access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
        // GWS sends a refresh token keyfleet never uses; it is a credential all the same.
        rememberSecret(refresh);
        if (typeof value !== "string" || value === "") throw new VendorError("invalidAnswer", "GWS answered the token request without an access_token");
        return { value, lifetimeMs: (typeof expiresIn === "number" ? expiresIn : 3600) * 1000 };
    }

    /** `secrets` are values the vendor might echo in an error (the key id is the key); they are masked. */
    private async call(login: NexusLogin, method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown, secrets: string[] = []): Promise<unknown> {
        const scripts = this.endpoints.style === "scripts";
        // A POST creates a key: never repeated on a lost answer (the core looks the key up instead).
        return callVendor({ idempotent: method !== "POST", pacer: this.pacer(login) }, async () => {
            // A 401 is a token expired or revoked before its time (a GWS restart): the core logs in again, once.
            const { answer: res, token } = await withToken(
                tokens,
                this.cacheKey(login),
                () => this.login(login),
                (token) =>
                    send({
                        method,
                        url: `${this.endpoints.nexusUrl}${path}`,
                        headers: { authorization: scripts ? `Bearer ${token}` : token, ...(body === undefined ? {} : { "content-type": "application/json" }) },
                        body: body === undefined ? undefined : JSON.stringify(scripts ? { data: body } : body),
                    }),
                (res) => res.status === 401,
            );
            if (res.status === 204) return undefined;
            if (res.status < 200 || res.status >= 300) throw failure(res, [...secrets, token]);
            const parsed = parse(res.text);
            if (parsed === undefined) throw new VendorError("invalidAnswer", `Nexus answered ${method} with a body that is not JSON`);
            // Some Nexus versions wrap responses as {"data": …}.
            return parsed && typeof parsed === "object" && "data" in parsed ? (parsed as { data: unknown }).data : parsed;
        });
    }
}

/** Nexus and GWS statuses as the core's kinds. */
const KIND_BY_STATUS: Record<number, ErrorKind> = { 400: "rejected", 401: "unauthorized", 403: "forbidden", 404: "notFound", 409: "conflict", 422: "rejected", 429: "rateLimited" };

function failure(res: WireResponse, secrets: string[], hint?: string): VendorError {
    const kind: ErrorKind = KIND_BY_STATUS[res.status] ?? (res.status >= 500 ? "unavailable" : "rejected");
    return new VendorError(kind, vendorMessage(parse(res.text), res.text, secrets), {
        code: res.status,
        hint: kind === "unavailable" ? hint : undefined,
        retryAfterMs: res.status === 429 ? (retryAfterMs(res.headers) ?? 1000) : undefined,
    });
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
        // The Digital Channels Web API reference's shape: {"status": {"code", "message", "detail"}};
        // detail is where Nexus says what was wrong, so both are shown.
        const status = b.status && typeof b.status === "object" ? (b.status as Record<string, unknown>) : undefined;
        if (status) words = [status.message, status.detail].filter((v): v is string => typeof v === "string" && v.trim() !== "").join(": ");
        if (!words && typeof b.message === "string" && typeof b.detail === "string" && b.detail) words = `${b.message}: ${b.detail}`;
        if (!words) for (const field of ["message", "error_description", "error"]) {
            const v = b[field];
            if (typeof v === "string" && v) words = v;
            else if (v && typeof v === "object" && typeof (v as { message?: unknown }).message === "string") words = (v as { message: string }).message;
            if (words) break;
        }
    }
    return vendorWords(words || text, secrets);
}

/**
 * A key record, read strictly: a missing or mistyped field is an error naming the operation and the
 * field, never a default (a missing `enabled` read as true would hide drift; a missing
 * `permissions` read as [] would replace every key at every refresh).
 */
function record(body: unknown, operation: string): NexusKey {
    const bad = (field: string, expected: string) =>
        new VendorError("invalidAnswer", `Nexus answered ${operation} with a record whose "${field}" is ${expected}`);
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new VendorError("invalidAnswer", `Nexus answered ${operation} with a body that is not an API key record`);
    const r = body as Record<string, unknown>;
    // A Nexus key's id is its value: every record read (a list holds other stacks' keys too) is
    // remembered, so that nothing this process prints can show one (redact.ts).
    rememberSecret(r.id);
    for (const field of ["id", "tenant", "name", "created", "createdby"]) if (typeof r[field] !== "string") throw bad(field, "missing or not a string");
    if (!Array.isArray(r.permissions) || !r.permissions.every((p) => typeof p === "string")) throw bad("permissions", "missing or not a list of strings");
    for (const field of ["enabled", "revoked"]) if (typeof r[field] !== "boolean") throw bad(field, "missing or not true/false");
    if (r.expires !== false && (typeof r.expires !== "string" || Number.isNaN(Date.parse(r.expires)))) throw bad("expires", "neither false nor an ISO 8601 time");
    for (const field of ["capacity", "frequency"]) if (typeof r[field] !== "number") throw bad(field, "missing or not a number");
    return {
        id: r.id as string,
        tenant: r.tenant as string,
        name: r.name as string,
        permissions: (r.permissions as string[]).slice(),
        enabled: r.enabled as boolean,
        created: r.created as string,
        revoked: r.revoked as boolean,
        expires: r.expires as string | false,
        createdby: r.createdby as string,
        capacity: r.capacity as number,
        frequency: r.frequency as number,
    };
}
