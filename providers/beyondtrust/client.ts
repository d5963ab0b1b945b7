// Wire client for BeyondTrust (formerly Bomgar) Remote Support: OAuth2 client credentials and the
// XML command API's generate_session_key. It is the only code in keyfleet that knows BeyondTrust
// URLs, auth, answers and status codes.
//
// Documented (shared/seeds/beyondtrust-generate-session-key.txt, BeyondTrust's "Authenticate to the
// API" page, the recorded answers in test/fixtures/beyondtrust/):
//   POST <url>/oauth2/token, HTTP basic client_id:client_secret, grant_type=client_credentials
//     → {"access_token","token_type":"Bearer","expires_in":3600}; then `Authorization: Bearer <token>`.
//     An API account holds at most 30 live tokens and a 31st invalidates the oldest: hence one token
//     per account per process (the core's token cache), whatever the number of keys.
//   <url>/api/command with action=generate_session_key&type=support&queue_id=<queue>
//     [&session.custom.external_key=…][&session.custom.<field>=…][&session.priority=1..3]
//     [&session.skills=a,b][&ttl=<s>][&url_hostname=<host>], in that order and encoded as the seed
//     writes them (`queue_id=rep:1`, `Custom%20Value`, `codename1,codename2`). The seed shows GET
//     with a query; the Command API guide allows POST with the same parameters url-encoded in an
//     `application/x-www-form-urlencoded` body (multipart is not supported): every command is sent
//     that way, so that custom fields and the external key never appear in a URL.
//   The answer: root <session_key> in https://www.beyondtrust.com/namespaces/API/command, or on older
//     appliances http://www.bomgar.com/namespaces/API/command; children type, [ttl], expires (Unix
//     seconds), queue (text general|rep|team, attribute available 0|1), [queue_id], [external_key],
//     short_key (seven characters), key_url, mail_subject, mail_body (which holds the key URL).
//   "When making consecutive API calls, you must close the connection after each API call":
//     every call sends `Connection: close` (no keep-alive to the appliance).
//   Rate limit: 20 requests per second and 15,000 per hour per API account; when the appliance
//     sends X-RateLimit-Limit / X-RateLimit-Remaining, the core's pacer follows them
//     (providers/shared/calls.ts; their window is inferred, see RATE_WINDOW_MS).
// Inferred (the vendor is silent), mirrored by sandbox/beyondtrust.ts:
//   - a command error is HTTP 200 with a root <error> element holding a message, in the same
//     namespace; nothing is made when one is answered;
//   - a refused bearer token is HTTP 401 (an <error> body); the client logs in again, once;
//   - beyond the rate limit: HTTP 429 with Retry-After in seconds;
//   - an <error> whose message speaks of access or permission means the API account may not do it;
//   - a ttl above the appliance's maximum is lowered to the maximum (the sandbox takes 24 h as the
//     maximum and default, as the recorded answers suggest); renewal therefore caps renewBefore at
//     half the lifetime the appliance actually gave.
// The appliance has no action to read, list, update or revoke a session key: once made, a key is
// only known from the answer that made it, and stays usable until it expires.
import { createHash } from "node:crypto";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { callVendor, pacerFor, rateLimitFrom, type Pacer } from "../shared/calls.ts";
import { BEYONDTRUST_LIMITS } from "./schema.ts";
import { VendorError, vendorWords, type ErrorKind } from "../shared/errors.ts";
import { tokens, withToken } from "../shared/tokens.ts";
import { retryAfterMs, send, type WireResponse } from "../shared/wire.ts";

export const BEYONDTRUST_NAMESPACES = ["https://www.beyondtrust.com/namespaces/API/command", "http://www.bomgar.com/namespaces/API/command"] as const;

/**
 * The window X-RateLimit-Limit / -Remaining count, when the appliance sends them: inferred as the
 * per-second one (no source says which, nor sends a reset time). An hourly count read this way only
 * pauses a second too early; the 429 with Retry-After that follows is still waited out.
 */
const RATE_WINDOW_MS = 1000;

export interface BeyondTrustEndpoint {
    /** The appliance's base URL, e.g. https://support.example.com. */
    url: string;
    clientId: string;
    clientSecret: string;
}

/** What generate_session_key takes, besides type=support. */
export interface SessionKeyRequest {
    /** general | rep:<id> | team:<id> | rep_username:<name> | issue:<code_name> (the seed's queue_id). */
    queue: string;
    externalKey?: string | null;
    /** Custom field code name → value; sent as session.custom.<name>. */
    custom?: Record<string, string>;
    priority?: number | null;
    skills?: string[];
    ttl?: number | null;
    urlHostname?: string | null;
}

/** A generate_session_key answer. */
export interface SessionKey {
    type: string;
    /** Seconds, when the appliance said (only when a ttl was requested). */
    ttl: number | null;
    /** Unix seconds. */
    expires: number;
    /** general, rep or team. */
    queue: string;
    available: boolean;
    queueId: number | null;
    externalKey: string | null;
    shortKey: string;
    keyUrl: string;
    mailSubject: string;
    mailBody: string;
}

/** A check_health answer. */
export interface ApplianceHealth {
    healthy: boolean;
    hostname: string | null;
    version: string | null;
    /** none, primary or backup. */
    failoverRole: string | null;
    error: string | null;
}

/** Characters the seed leaves as they are inside a value: `queue_id=rep:1`, `session.skills=codename1,codename2`. */
function encode(value: string): string {
    return encodeURIComponent(value).replace(/%3A/gi, ":").replace(/%2C/gi, ",");
}

/** The generate_session_key parameters (the POST body), parameter by parameter as the seed writes them. */
export function sessionKeyQuery(req: SessionKeyRequest): string {
    const params: [string, string][] = [
        ["action", "generate_session_key"],
        ["type", "support"],
        ["queue_id", req.queue],
    ];
    if (req.externalKey !== undefined && req.externalKey !== null) params.push(["session.custom.external_key", req.externalKey]);
    for (const [field, value] of Object.entries(req.custom ?? {})) params.push([`session.custom.${field}`, value]);
    if (req.priority !== undefined && req.priority !== null) params.push(["session.priority", String(req.priority)]);
    if (req.skills && req.skills.length > 0) params.push(["session.skills", req.skills.join(",")]);
    if (req.ttl !== undefined && req.ttl !== null) params.push(["ttl", String(req.ttl)]);
    if (req.urlHostname !== undefined && req.urlHostname !== null) params.push(["url_hostname", req.urlHostname]);
    return params.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&");
}

const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "@_",
    // Short keys may start with a zero; every value stays text and is converted field by field.
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
});

/** A parsed command answer: the root element's local name and content, namespace checked. */
export interface CommandAnswer {
    root: string;
    content: Record<string, unknown>;
}

const localName = (name: string) => name.slice(name.indexOf(":") + 1);

/**
 * Parses a command API answer with fast-xml-parser: one root element in one of the two command
 * namespaces (a prefixed or a default namespace), children keyed by their local names.
 */
export function parseCommandAnswer(text: string, action: string): CommandAnswer {
    const invalid = (why: string) => new VendorError("invalidAnswer", `BeyondTrust answered ${action} with ${why}`);
    if (XMLValidator.validate(text) !== true) throw invalid("a body that is not XML");
    const doc = parser.parse(text) as Record<string, unknown>;
    const roots = Object.keys(doc).filter((k) => !k.startsWith("?") && !k.startsWith("#"));
    if (roots.length !== 1) throw invalid("a document without a single root element");
    const name = roots[0];
    const raw = doc[name];
    const content: Record<string, unknown> = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : { "#text": raw ?? "" };
    const prefix = name.includes(":") ? name.slice(0, name.indexOf(":")) : "";
    const ns = content[prefix ? `@_xmlns:${prefix}` : "@_xmlns"];
    if (!(BEYONDTRUST_NAMESPACES as readonly unknown[]).includes(ns)) {
        throw invalid(`a <${localName(name)}> element outside the command namespace (${typeof ns === "string" ? ns : "none"}); check that keyfleet:beyondtrust.url is a Remote Support appliance`);
    }
    const local: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(content)) local[k.startsWith("@_") || k === "#text" ? k : localName(k)] = v;
    return { root: localName(name), content: local };
}

function text(v: unknown): string | undefined {
    if (typeof v === "string") return v;
    if (v && typeof v === "object" && typeof (v as { "#text"?: unknown })["#text"] === "string") return (v as { "#text": string })["#text"];
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).every((k) => k.startsWith("@_"))) return "";
    return undefined;
}

/** The message of an <error> answer, or undefined for any other root. */
export function errorMessage(answer: CommandAnswer): string | undefined {
    if (answer.root !== "error") return undefined;
    return text(answer.content)?.trim() || "no details";
}

/** A <session_key> answer, read strictly: a missing or malformed element is an error naming it, never a default. */
export function sessionKeyFrom(answer: CommandAnswer): SessionKey {
    const action = "generate_session_key";
    const c = answer.content;
    if (answer.root !== "session_key") throw new VendorError("invalidAnswer", `BeyondTrust answered ${action} with a <${answer.root}> element, not a <session_key>`);
    const bad = (field: string, expected: string) => new VendorError("invalidAnswer", `BeyondTrust answered ${action} with a <session_key> whose <${field}> is ${expected}`);
    const required = (field: string): string => {
        const v = text(c[field]);
        if (v === undefined || v === "") throw bad(field, "missing or empty");
        return v;
    };
    const optional = (field: string): string | null => (c[field] === undefined ? null : (text(c[field]) ?? null));
    const whole = (field: string, v: string | null): number | null => {
        if (v === null) return null;
        if (!/^\d+$/.test(v)) throw bad(field, "not a whole number");
        return Number(v);
    };
    const shortKey = required("short_key");
    if ([...shortKey].length !== 7) throw bad("short_key", "not seven characters");
    const keyUrl = required("key_url");
    try {
        new URL(keyUrl);
    } catch {
        throw bad("key_url", "not a URL");
    }
    const queue = c.queue;
    const available = queue && typeof queue === "object" ? (queue as Record<string, unknown>)["@_available"] : undefined;
    if (available !== "0" && available !== "1") throw bad("queue", 'without an available attribute of "0" or "1"');
    return {
        type: required("type"),
        ttl: whole("ttl", optional("ttl")),
        expires: whole("expires", required("expires"))!,
        queue: required("queue"),
        available: available === "1",
        queueId: whole("queue_id", optional("queue_id")),
        externalKey: optional("external_key"),
        shortKey,
        keyUrl,
        mailSubject: required("mail_subject"),
        mailBody: required("mail_body"),
    };
}

/** How an <error> message or an HTTP status reads as one of the core's kinds. */
function kindOf(status: number, message: string): ErrorKind {
    if (status === 429) return "rateLimited";
    if (status === 401) return "unauthorized";
    if (status === 403) return "forbidden";
    if (status >= 500) return "unavailable";
    // Inferred: the appliance words a missing permission of the API account this way.
    if (/\baccess\b|\bpermission/i.test(message)) return "forbidden";
    return "rejected";
}


export class BeyondTrustClient {
    private readonly endpoint: BeyondTrustEndpoint;

    constructor(endpoint: BeyondTrustEndpoint) {
        this.endpoint = { ...endpoint, url: endpoint.url.replace(/\/+$/, "") };
    }

    /** Makes a session key. Never repeated on a lost answer: the key may have been made. */
    async generateSessionKey(req: SessionKeyRequest): Promise<SessionKey> {
        return sessionKeyFrom(await this.command("generate_session_key", sessionKeyQuery(req), false));
    }

    /**
     * The appliance's own health (check_health, Command API guide): reachability, login and the
     * command API in one read-only call. The answer's <appliance> holds <hostname>, <version>,
     * <success> (1 or 0), <error_message> and <failover_role>; only <success> is relied on, and an
     * answer without it counts as healthy (inferred tolerance: its other fields vary by version).
     */
    async checkHealth(): Promise<ApplianceHealth> {
        const answer = await this.query("check_health");
        if (answer.root !== "appliance") throw new VendorError("invalidAnswer", `BeyondTrust answered check_health with a <${answer.root}> element, not an <appliance>`);
        const c = answer.content;
        const success = text(c.success)?.trim();
        return {
            healthy: success === undefined || success === "1",
            hostname: text(c.hostname) ?? null,
            version: text(c.version) ?? null,
            failoverRole: text(c.failover_role) ?? null,
            error: text(c.error_message)?.trim() || null,
        };
    }

    /** Any read-only command (get_api_info, get_support_teams, …), parsed. */
    async query(action: string): Promise<CommandAnswer> {
        return this.command(action, `action=${encode(action)}`, true);
    }

    /** A valid access token, from the process-wide cache: one login per API account per process, shared by every waiter. */
    async token(): Promise<string> {
        return tokens.get(this.cacheKey(), () => this.login());
    }

    private cacheKey(): string {
        // The secret is hashed into the key so that a regenerated secret gets a new token.
        const secret = createHash("sha256").update(this.endpoint.clientSecret).digest("hex");
        return `beyondtrust\0${this.endpoint.url}\0${this.endpoint.clientId}\0${secret}`;
    }

    /** One pace per API account: the vendor's limits count per account. */
    private pacer(): Pacer {
        return pacerFor(`beyondtrust\0${this.endpoint.url}\0${this.endpoint.clientId}`, BEYONDTRUST_LIMITS);
    }

    private async login(): Promise<{ value: string; lifetimeMs: number }> {
        const { url, clientId, clientSecret } = this.endpoint;
        const basic = Buffer.from(`${clientId}:${clientSecret}`).toString("base64");
        // A client-credentials grant is safe to repeat, so an outage is retried like any read.
        const res = await callVendor({ idempotent: true, pacer: this.pacer() }, async () => {
            const r = await send({
                method: "POST",
                url: `${url}/oauth2/token`,
                headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
                body: "grant_type=client_credentials",
                close: true,
            });
            if (r.status === 429 || r.status >= 500) {
                throw new VendorError(r.status === 429 ? "rateLimited" : "unavailable", `token request answered ${r.status}`, {
                    code: r.status,
                    retryAfterMs: r.status === 429 ? (retryAfterMs(r.headers) ?? 1000) : undefined,
                });
            }
            return r;
        }).catch((err: unknown) => {
            if (err instanceof VendorError && (err.kind === "unavailable" || err.kind === "outcomeUnknown")) {
                throw new VendorError("unavailable", `BeyondTrust at ${new URL(url).origin} did not answer the token request: ${err.vendorMessage}`, {
                    code: err.code,
                    notProcessed: true,
                    hint: "the appliance is unavailable (this is not a wrong secret); check keyfleet:beyondtrust.url and try again later",
                });
            }
            throw err;
        });
        let body: Record<string, unknown> | undefined;
        try {
            body = JSON.parse(res.text) as Record<string, unknown>;
        } catch {
            body = undefined;
        }
        if (res.status !== 200) {
            const words = typeof body?.error_description === "string" ? body.error_description : typeof body?.error === "string" ? body.error : res.text;
            throw new VendorError(res.status === 403 ? "forbidden" : "unauthorized", vendorWords(words, [clientSecret], 300), {
                code: res.status,
                hint: `BeyondTrust refused the login of API account "${clientId}"; check keyfleet:beyondtrust.clientId and keyfleet:beyondtrustClientSecret (regenerating the secret on the appliance invalidates the old one), and that the API account is not limited to network prefixes that exclude this machine`,
            });
        }
        const value = body?.access_token;
        if (typeof value !== "string" || value === "") throw new VendorError("invalidAnswer", "BeyondTrust answered the token request without an access_token");
        const expiresIn = body?.expires_in;
        return { value, lifetimeMs: (typeof expiresIn === "number" && expiresIn > 0 ? expiresIn : 3600) * 1000 };
    }

    /** One command under the core's pacing; `idempotent` false means never repeated on a lost answer. */
    private async command(action: string, query: string, idempotent: boolean): Promise<CommandAnswer> {
        // The login comes before this call takes its place in the pace: a call that waited for a token
        // after its slot would go late and bunch up with the calls after it, past 20 in a second.
        await this.token();
        return callVendor({ idempotent, pacer: this.pacer() }, async () => {
            // A 401 is a token invalidated before its time (a 31st token elsewhere, a regenerated
            // secret): the core logs in again, once; the resend takes a place in the pace again so
            // resends do not bunch up.
            const { answer: res, token } = await withToken(
                tokens,
                this.cacheKey(),
                () => this.login(),
                async (token) => {
                    // POST with a form body, as the Command API guide allows: custom fields (up to 10 KB)
                    // and the external key stay out of URLs, so out of proxy and access logs.
                    const res = await send({
                        method: "POST",
                        url: `${this.endpoint.url}/api/command`,
                        headers: { authorization: `Bearer ${token}`, accept: "text/xml", "content-type": "application/x-www-form-urlencoded" },
                        body: query,
                        close: true,
                    });
                    // The appliance's own count of the account's budget, when it sends one, paces the next calls.
                    const budget = rateLimitFrom(res.headers);
                    if (budget) this.pacer().observe({ ...budget, windowMs: RATE_WINDOW_MS });
                    return res;
                },
                (res) => res.status === 401,
                () => this.pacer().slot(),
            );
            try {
                return this.answer(action, res, token);
            } catch (err) {
                // A 200 whose body cannot be read (truncated, a proxy's page) may still have made a key.
                if (!idempotent && res.status === 200 && err instanceof VendorError && err.kind === "invalidAnswer") {
                    throw new VendorError("outcomeUnknown", err.vendorMessage);
                }
                throw err;
            }
        });
    }

    private answer(action: string, res: WireResponse, token: string): CommandAnswer {
        const secrets = [token, this.endpoint.clientSecret];
        if (res.status !== 200) {
            let words = res.text;
            try {
                words = errorMessage(parseCommandAnswer(res.text, action)) ?? res.text;
            } catch {
                // Not the command API's XML (a proxy's page, say): its text is the answer.
            }
            const kind = kindOf(res.status, words);
            throw new VendorError(kind, vendorWords(`${action}: ${words}`, secrets, 300), {
                code: res.status,
                retryAfterMs: res.status === 429 ? (retryAfterMs(res.headers) ?? 1000) : undefined,
                hint: kind === "unauthorized" ? "BeyondTrust refused a fresh access token; check that the API account is enabled, may use the command API, and is not limited to network prefixes that exclude this machine" : undefined,
            });
        }
        const answer = parseCommandAnswer(res.text, action);
        const message = errorMessage(answer);
        if (message !== undefined) throw new VendorError(kindOf(200, message), vendorWords(`${action}: ${message}`, secrets, 300));
        return answer;
    }
}
