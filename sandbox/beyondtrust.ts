// Sandbox for BeyondTrust (formerly Bomgar) Remote Support: OAuth2 client credentials and the XML
// command API's session keys (generate_session_key), plus the customer side that takes a key.
//
// Local stack defaults (BEYONDTRUST_DEFAULTS): 127.0.0.1:4402, API account client id
// `keyfleet_local_api_account`, client secret `keyfleet_local_api_secret`, full access to the command API.
//
// What is documented and reproduced as is
// - shared/seeds/beyondtrust-generate-session-key.txt: generate_session_key and its parameters
//   (type=support; queue_id general | rep:[id] | team:[id] | rep_username:[username] |
//   issue:[code_name]; session.custom.external_key and session.custom.[field] at most 1024
//   characters each and 10KB together; session.priority 1..3; session.skills comma-separated code
//   names; ttl; url_hostname), the answer's elements, "rep_username works only if a single user with
//   the given username exists". Every query example of the seed works verbatim with the host swapped.
// - shared/fixtures/beyondtrust/*.xml (recorded answers): root <session_key> in the command
//   namespace, children in the order type, [ttl], expires, queue (attribute available="0|1"),
//   [queue_id], [external_key], short_key (seven digits), key_url https://<host>/?ak=<32 hex>,
//   mail_subject "Remote Support Invitation", mail_body (text holding the key URL, with newlines);
//   no <ttl> when none was requested; expires in Unix seconds; Content-Type text/xml; charset=UTF-8.
//   The recording's expires is exactly 86400 s after its request, hence the default ttl below.
// - BeyondTrust's "Authenticate to the API" page: POST /oauth2/token, HTTP basic client_id:secret,
//   body grant_type=client_credentials, answer {"access_token","token_type":"Bearer","expires_in":3600};
//   at most 30 valid tokens per API account, a 31st invalidates the oldest; regenerating the client
//   secret invalidates every token of the account. Command API: GET or POST to /api/command; a POST
//   carries its parameters url-encoded with Content-Type application/x-www-form-urlencoded
//   (multipart is not supported; another body type is refused, HTTP 400 with an <error>: inferred); namespaces https://www.beyondtrust.com/namespaces/API/command (current) and
//   http://www.bomgar.com/namespaces/API/command (older appliances, option legacyNamespace).
// - get_api_info: <api_information> with api_version, timestamp, permissions/permission[@name]
//   (perm_command = full_access | read_only | deny; the others 1 or 0), as a recorded answer shows;
//   company_name only in legacy mode (removed in API 1.24.1). generate_session_key needs full access.
// - check_health (Command API guide): <appliance> with hostname, version, success (1|0),
//   error_message and failover_role; the element names follow the guide, the values are the sandbox's
//   (option: the `unhealthy` field makes it answer success 0 with that message). Read-only access suffices.
// - get_logged_in_reps: <logged_in_reps> with one <rep id> per logged-in representative: display_name,
//   public_display_name, private_display_name, type, direct_link (an HTML anchor, as text),
//   logged_in_since, presentation_count, support_session_count, showing_on_rep_list.
//
// What is inferred (the vendor is silent), mirrored by the BeyondTrust client:
// - Errors of the command API are HTTP 200 with a root <error> element in the same namespace holding
//   a message (clients of real appliances check the status and then compare the body to an <error>
//   document). Nothing is committed when an error is answered. Wording of messages: BEYONDTRUST_ERRORS.
// - Missing/unknown/expired bearer token: HTTP 401, WWW-Authenticate: Bearer error="invalid_token",
//   and an XML <error>. Bad client credentials at /oauth2/token: 401 {"error":"invalid_client",…}
//   with WWW-Authenticate: Basic; another grant: 400 {"error":"unsupported_grant_type"} (RFC 6749 §5.2).
// - Rate limit: 20 requests per second and 15,000 per hour per API account (fixed windows), counted
//   on /api/command only; beyond: HTTP 429 with Retry-After (seconds) and an XML <error>.
// - ttl: default and maximum 86400 s (the appliance's maximum session key timeout, 24 hours as the
//   recording shows); a larger ttl is lowered to the maximum (<ttl> then says so); a ttl that is not
//   a positive integer is an error. <ttl> appears only when ttl was given.
// - queue: text general | rep | team. rep:[id] and rep_username:[name] answer queue "rep" with
//   queue_id = the rep's id (as the recording); team:[id] answers "team" with queue_id = the team's
//   id; issue:[code] answers the team that owns the issue ("team", that team's id); general has no
//   queue_id. available is 1 when the rep is logged in / a team member is logged in or the team's
//   queue is persistent / any rep is logged in (general), else 0.
// - rep_username matches usernames case-insensitively; usernames are unique per security provider,
//   so two providers (local and an LDAP directory) can each hold a "jdoe": that is "several users".
// - Custom fields: code names are case-sensitive and must be configured (seed: custom_field1 …
//   custom_field10); length is counted in characters; the 10KB total counts the UTF-8 bytes of all
//   values including the external key (10,240 bytes). Unknown skill code names are an error.
// - Values that XML 1.0 cannot carry (control characters) are refused with an error rather than
//   answered as malformed XML; url_hostname must be a hostname (letters, digits, dots, hyphens, an
//   optional :port). key_url defaults to the host the request was sent to (the appliance's name).
// - mail_body: the recording's text with "BeyondTrust" for "Bomgar" unless legacyNamespace.
// - Short keys: seven digits, unique among live (unexpired) keys; an expired key's may come back.
// - Customer side: GET /api/start_session?short_key=… and GET /?ak=… (the key URL) answer a small
//   HTML page (200) until the key expires, then 404 with an HTML "invalid or expired" page. A key may
//   be used more than once until it expires.
// - get_support_teams: <support_teams> with <support_team id> holding name, code_name, comments,
//   issues/issue[@id] (title, code_name) and representatives/rep[@id] (logged-in members:
//   display_name, public_display_name, private_display_name). `showmembers` is not modelled.
// - logged_in_since is Unix seconds; type is "Normal"; direct_link points at https://<host>/?id=<rep id>.
//
// Test controls: stats (CallStats, by route template), issued (every short key, access key, key URL,
// token and regenerated secret), clockOffsetMs / advance(ms), failNext / loseNextAnswer, liveKeys(),
// useShortKey(), regenerateSecret(), expireTokens(); over HTTP GET /_sandbox/stats,
// POST /_sandbox/stats/reset, POST /_sandbox/tokens/expire, POST /_sandbox/advance?ms=N.
import crypto from "node:crypto";
import type http from "node:http";
import { XMLBuilder } from "fast-xml-parser";
import { CallStats, HttpError, listen, readBody, records, sendJson, type Handler, type Listening } from "./http.ts";

export const BEYONDTRUST_NAMESPACE = "https://www.beyondtrust.com/namespaces/API/command";
export const BEYONDTRUST_LEGACY_NAMESPACE = "http://www.bomgar.com/namespaces/API/command";

export const BEYONDTRUST_DEFAULTS = {
    port: 4402,
    client: { id: "keyfleet_local_api_account", secret: "keyfleet_local_api_secret" },
    tokenTtlSeconds: 3600,
    maxTokensPerAccount: 30,
    /** The appliance's maximum session key timeout: default and upper bound of ttl. */
    maxSessionKeyTtlSeconds: 86400,
    rateLimit: { perSecond: 20, perHour: 15000 },
    maxFieldLength: 1024,
    maxCustomDataBytes: 10 * 1024,
} as const;

/** The messages of the sandbox's <error> answers (wording inferred). */
export const BEYONDTRUST_ERRORS = {
    missingAction: "The action parameter is required.",
    unknownAction: "Invalid action.",
    noCommandAccess: "This API account does not have access to the command API.",
    readOnly: "This API account has read-only access to the command API; generating session keys requires full access.",
    invalidType: 'Invalid session type; the only supported value is "support".',
    missingQueue: "The queue_id parameter is required.",
    unknownQueue: (q: string) => `Invalid queue_id "${q}": no such queue.`,
    noSuchUser: (u: string) => `No user with the username "${u}" exists.`,
    severalUsers: (u: string) => `More than one user has the username "${u}"; use rep:[id] instead.`,
    unknownCustomField: (f: string) => `Unknown custom field "${f}"; custom fields must first be configured in /login > Management > API Configuration.`,
    tooLong: (param: string) => `The value of ${param} is longer than 1024 characters.`,
    customDataTooLarge: "The combined custom fields, including the external key, exceed 10KB.",
    invalidPriority: "session.priority must be an integer from 1 to 3.",
    unknownSkill: (s: string) => `Unknown skill "${s}".`,
    invalidTtl: "ttl must be a positive integer number of seconds.",
    invalidHostname: "url_hostname is not a valid hostname.",
    invalidCharacters: (param: string) => `The value of ${param} contains characters that are not allowed.`,
    invalidToken: "Invalid or expired access token.",
    rateLimited: "Rate limit exceeded for this API account.",
    postContentType: "POST parameters must be sent as application/x-www-form-urlencoded.",
} as const;

export type CommandAccess = "full_access" | "read_only" | "deny";

export interface BtApiAccount {
    clientId: string;
    clientSecret: string;
    commandAccess: CommandAccess;
}

export interface BtRep {
    id: number;
    username: string;
    securityProvider: string;
    publicDisplayName: string;
    privateDisplayName: string;
    loggedIn: boolean;
}

export interface BtTeam {
    id: number;
    name: string;
    codeName: string;
    persistent: boolean;
    members: number[];
    issues: { id: number; codeName: string; title: string }[];
}

export interface SessionKeyRecord {
    shortKey: string;
    /** The `ak` of the key URL. */
    accessKey: string;
    keyUrl: string;
    type: "support";
    queue: "general" | "rep" | "team";
    queueId: number | null;
    /** The ttl as answered when one was requested, else null. */
    ttl: number | null;
    /** Unix seconds. */
    expires: number;
    externalKey: string | null;
    custom: Record<string, string>;
    priority: number | null;
    skills: string[];
    createdAt: number;
    createdBy: string;
    uses: number;
}

export interface BeyondTrustSandboxOptions {
    /** The API account (default BEYONDTRUST_DEFAULTS.client, full access). */
    client?: { id: string; secret: string };
    /** Command API access of that account; "read_only" cannot generate session keys. */
    commandAccess?: CommandAccess;
    /** More API accounts (another permission, say). */
    accounts?: BtApiAccount[];
    tokenTtlSeconds?: number;
    maxTokensPerAccount?: number;
    maxSessionKeyTtlSeconds?: number;
    /** Per API account; null switches the limit off. */
    rateLimit?: { perSecond: number; perHour: number } | null;
    /**
     * Answer /api/command with X-RateLimit-Limit (the per-second limit) and X-RateLimit-Remaining
     * (left in the current second), as the issue says some appliances do; which window they count
     * is not documented (the per-second one here).
     */
    rateLimitHeaders?: boolean;
    /** Answer in http://www.bomgar.com/namespaces/API/command, as older appliances do. */
    legacyNamespace?: boolean;
    /** JSON file keeping the session keys across restarts (written 0600: it holds key values). */
    dataFile?: string;
    /** Base clock in ms (default Date.now); clockOffsetMs is added to it. */
    clock?: () => number;
    /** Source of short keys (tests force collisions); default seven random digits. */
    shortKeySource?: () => string;
    reps?: BtRep[];
    teams?: BtTeam[];
    skills?: string[];
    customFields?: string[];
}

export const BEYONDTRUST_SEED = {
    reps: [
        { id: 1, username: "admin", securityProvider: "Local", publicDisplayName: "Admin", privateDisplayName: "Administrator", loggedIn: true },
        { id: 2, username: "jdoe", securityProvider: "Local", publicDisplayName: "Jane Doe", privateDisplayName: "Jane Doe (local)", loggedIn: false },
        { id: 3, username: "jdoe", securityProvider: "Corporate LDAP", publicDisplayName: "John Doe", privateDisplayName: "John Doe (LDAP)", loggedIn: true },
        { id: 4, username: "msmith", securityProvider: "Local", publicDisplayName: "Mary Smith", privateDisplayName: "Mary Smith", loggedIn: false },
    ] satisfies BtRep[],
    teams: [
        { id: 1, name: "General Support", codeName: "general_support", persistent: false, members: [1, 2, 3], issues: [{ id: 1, codeName: "other", title: "Other" }] },
        { id: 2, name: "Escalations", codeName: "escalations", persistent: false, members: [4], issues: [{ id: 2, codeName: "password_reset", title: "Password reset" }] },
    ] satisfies BtTeam[],
    skills: ["codename1", "codename2"],
    customFields: Array.from({ length: 10 }, (_, i) => `custom_field${i + 1}`),
} as const;

interface TokenRecord {
    clientId: string;
    expiresAt: number;
}

/** A command-API answer other than a session key: status, XML <error> message, headers. */
class BtError extends Error {
    readonly status: number;
    readonly headers: Record<string, string>;
    constructor(status: number, message: string, headers: Record<string, string> = {}) {
        super(message);
        this.status = status;
        this.headers = headers;
    }
}

/** Characters XML 1.0 cannot carry (escaping does not help): C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF. */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NOT_XML_G = new RegExp(NOT_XML.source, "gu");

/** Text of user input quoted in a message: no characters XML cannot carry, at most 100 characters. */
function quote(s: string): string {
    const clean = s.replace(NOT_XML_G, "\uFFFD");
    return [...clean].length > 100 ? `${[...clean].slice(0, 100).join("")}…` : clean;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_", format: true, indentBy: "\t", suppressEmptyNode: false });

export class BeyondTrustSandbox {
    readonly stats = new CallStats();
    /** The request target (path and query) of every /api/command call, for tests that check what reaches a URL. */
    readonly commandTargets: string[] = [];
    /** Every session key ever generated (live or not), by access key. */
    readonly keys = new Map<string, SessionKeyRecord>();
    /** Every key value and credential this sandbox handed out, for tests that scan output for leaks. */
    readonly issued = { keys: new Set<string>(), tokens: new Set<string>() };
    /** Moves the sandbox's clock (token and key expiry, rate windows) forward, so tests need not sleep. */
    clockOffsetMs = 0;
    readonly accounts = new Map<string, BtApiAccount>();
    readonly reps: BtRep[];
    readonly teams: BtTeam[];
    readonly skills: string[];
    readonly customFields: string[];

    private readonly tokens = new Map<string, TokenRecord>();
    /** Tokens per account, oldest first. */
    private readonly tokenOrder = new Map<string, string[]>();
    private readonly windows = new Map<string, { second: { start: number; used: number }; hour: { start: number; used: number } }>();
    private readonly faults: { route: string; status: number; message: string; skip: number; lost: boolean }[] = [];
    private readonly lost = new WeakSet<http.IncomingMessage>();
    /** When each logged-in rep logged in (ms on the sandbox clock). */
    private readonly loggedInSince = new Map<number, number>();
    private readonly opts: {
        tokenTtlSeconds: number;
        maxTokensPerAccount: number;
        maxSessionKeyTtlSeconds: number;
        rateLimit: { perSecond: number; perHour: number } | null;
        rateLimitHeaders: boolean;
        legacyNamespace: boolean;
        dataFile?: string;
        clock: () => number;
        shortKeySource: () => string;
    };
    readonly primaryClientId: string;

    constructor(options: BeyondTrustSandboxOptions = {}) {
        const client = options.client ?? { ...BEYONDTRUST_DEFAULTS.client };
        this.primaryClientId = client.id;
        this.accounts.set(client.id, { clientId: client.id, clientSecret: client.secret, commandAccess: options.commandAccess ?? "full_access" });
        for (const a of options.accounts ?? []) this.accounts.set(a.clientId, { ...a });
        this.opts = {
            tokenTtlSeconds: options.tokenTtlSeconds ?? BEYONDTRUST_DEFAULTS.tokenTtlSeconds,
            maxTokensPerAccount: options.maxTokensPerAccount ?? BEYONDTRUST_DEFAULTS.maxTokensPerAccount,
            maxSessionKeyTtlSeconds: options.maxSessionKeyTtlSeconds ?? BEYONDTRUST_DEFAULTS.maxSessionKeyTtlSeconds,
            rateLimit: options.rateLimit === undefined ? { ...BEYONDTRUST_DEFAULTS.rateLimit } : options.rateLimit,
            rateLimitHeaders: options.rateLimitHeaders ?? false,
            legacyNamespace: options.legacyNamespace ?? false,
            dataFile: options.dataFile,
            clock: options.clock ?? Date.now,
            shortKeySource: options.shortKeySource ?? (() => String(crypto.randomInt(1_000_000, 10_000_000))),
        };
        this.reps = (options.reps ?? BEYONDTRUST_SEED.reps).map((r) => ({ ...r }));
        this.teams = (options.teams ?? BEYONDTRUST_SEED.teams).map((t) => ({ ...t, members: [...t.members], issues: t.issues.map((i) => ({ ...i })) }));
        this.skills = [...(options.skills ?? BEYONDTRUST_SEED.skills)];
        this.customFields = [...(options.customFields ?? BEYONDTRUST_SEED.customFields)];
        for (const r of this.reps) if (r.loggedIn) this.loggedInSince.set(r.id, this.now());
        const saved = records.load<{ sessionKeys?: SessionKeyRecord[] }>(this.opts.dataFile);
        if (saved) {
            for (const record of saved.sessionKeys ?? []) {
                this.keys.set(record.accessKey, record);
                this.issued.keys.add(record.shortKey).add(record.accessKey).add(record.keyUrl);
            }
        }
    }

    now(): number {
        return this.opts.clock() + this.clockOffsetMs;
    }

    /** Moves the clock forward by `ms`. */
    advance(ms: number) {
        this.clockOffsetMs += ms;
    }

    get namespace(): string {
        return this.opts.legacyNamespace ? BEYONDTRUST_LEGACY_NAMESPACE : BEYONDTRUST_NAMESPACE;
    }

    /**
     * Makes the next call to `route` (after `skip` others) fail with `status` and an XML <error>
     * (JSON for /oauth2/token). Routes: "POST /oauth2/token", "GET /api/command?action=generate_session_key"
     * (or without the method, for GET and POST alike), "GET /api/start_session", "GET /?ak={ak}".
     */
    failNext(route: string, status: number, message = "injected failure", skip = 0) {
        this.faults.push({ route, status, message, skip, lost: false });
    }

    /** Makes the next call to `route` (after `skip` others) do its work, then reset the connection without an answer. */
    loseNextAnswer(route: string, skip = 0) {
        this.faults.push({ route, status: 0, message: "", skip, lost: true });
    }

    /** Session keys that have not expired, oldest first. */
    liveKeys(): SessionKeyRecord[] {
        const now = this.now();
        return [...this.keys.values()].filter((k) => k.expires * 1000 > now);
    }

    /** What the customer side does with a short key: the live key it names (its use counted), or null. */
    useShortKey(shortKey: string): SessionKeyRecord | null {
        const record = this.liveKeys().find((k) => k.shortKey === shortKey) ?? null;
        if (record) {
            record.uses++;
            this.save();
        }
        return record;
    }

    /** The same through the key URL's access key. */
    useAccessKey(accessKey: string): SessionKeyRecord | null {
        const record = this.keys.get(accessKey);
        if (!record || record.expires * 1000 <= this.now()) return null;
        record.uses++;
        this.save();
        return record;
    }

    /** Regenerates an API account's client secret (default: the primary one), invalidating all its tokens. Returns the new secret. */
    regenerateSecret(clientId = this.primaryClientId): string {
        const account = this.accounts.get(clientId);
        if (!account) throw new Error(`no API account ${clientId}`);
        account.clientSecret = crypto.randomBytes(33).toString("base64");
        this.issued.tokens.add(account.clientSecret);
        for (const token of this.tokenOrder.get(clientId) ?? []) this.tokens.delete(token);
        this.tokenOrder.set(clientId, []);
        return account.clientSecret;
    }

    /** Invalidates every access token, as an appliance restart with cleared sessions would. */
    expireTokens() {
        this.tokens.clear();
        this.tokenOrder.clear();
    }

    /** Logs a representative in or out (changes `available` and get_logged_in_reps). */
    setLoggedIn(repId: number, loggedIn: boolean) {
        const rep = this.reps.find((r) => r.id === repId);
        if (!rep) throw new Error(`no rep ${repId}`);
        if (loggedIn && !rep.loggedIn) this.loggedInSince.set(repId, this.now());
        rep.loggedIn = loggedIn;
    }

    /** Live access tokens of an account, oldest first. */
    liveTokens(clientId = this.primaryClientId): string[] {
        const now = this.now();
        return (this.tokenOrder.get(clientId) ?? []).filter((t) => (this.tokens.get(t)?.expiresAt ?? 0) > now);
    }

    private save() {
        records.save(this.opts.dataFile, { sessionKeys: [...this.keys.values()] });
    }

    // ---- HTTP ------------------------------------------------------------------------------------

    readonly handler: Handler = async (req, res, url) => {
        const path = url.pathname;
        const method = req.method ?? "GET";
        if (path.startsWith("/_sandbox/")) return this.control(method, url, res);
        let xml = true;
        try {
            if (path === "/oauth2/token") {
                xml = false;
                this.count(`${method} /oauth2/token`, req);
                if (method !== "POST") throw new HttpError(405, { error: "invalid_request", error_description: "use POST" }, { allow: "POST" });
                return await this.issueToken(req, res);
            }
            if (path === "/api/command") {
                if (method !== "GET" && method !== "POST") throw new BtError(405, "Use GET or POST.", { allow: "GET, POST" });
                this.commandTargets.push(req.url ?? "");
                const params = new URLSearchParams(url.search);
                if (method === "POST") {
                    const body = await readBody(req);
                    // The guide: POST parameters come url-encoded with this content type; multipart is not supported.
                    if (body && !/^application\/x-www-form-urlencoded\b/i.test(String(req.headers["content-type"] ?? ""))) {
                        throw new BtError(400, BEYONDTRUST_ERRORS.postContentType);
                    }
                    for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
                }
                const action = params.get("action");
                const known = action !== null && (COMMANDS as readonly string[]).includes(action);
                this.count(known ? `${method} /api/command?action=${action}` : `${method} /api/command`, req);
                const account = this.authenticate(req);
                for (const [name, value] of Object.entries(this.pace(account))) res.setHeader(name, value);
                if (account.commandAccess === "deny") throw new BtError(200, BEYONDTRUST_ERRORS.noCommandAccess);
                if (action === null || action === "") throw new BtError(200, BEYONDTRUST_ERRORS.missingAction);
                if (!known) throw new BtError(200, BEYONDTRUST_ERRORS.unknownAction);
                return this.command(action as Command, params, account, req, res);
            }
            if (path === "/api/start_session" && (method === "GET" || method === "POST")) {
                xml = false;
                this.count(`${method} /api/start_session`, req);
                const params = new URLSearchParams(url.search);
                if (method === "POST") for (const [k, v] of new URLSearchParams(await readBody(req))) params.append(k, v);
                return this.customer(res, this.useShortKey(params.get("short_key") ?? ""));
            }
            if (path === "/" && url.searchParams.has("ak") && method === "GET") {
                xml = false;
                this.count("GET /?ak={ak}", req);
                return this.customer(res, this.useAccessKey(url.searchParams.get("ak") ?? ""));
            }
            this.stats.count("unknown");
            xml = false;
            return this.send(res, 404, "text/html; charset=UTF-8", page("Not Found", "The requested page does not exist."));
        } catch (err) {
            if (err instanceof BtError) return this.sendXml(res, err.status, { error: err.message }, err.headers);
            if (err instanceof HttpError) {
                if (xml) {
                    const message = (err.body as { message?: string; error_description?: string })?.message ?? (err.body as { error_description?: string })?.error_description ?? "request failed";
                    return this.sendXml(res, err.status, { error: message }, err.headers);
                }
                if (res.req && this.lost.has(res.req)) return void res.socket?.destroy();
                return sendJson(res, err.status, err.body, err.headers);
            }
            throw err;
        }
    };

    private control(method: string, url: URL, res: http.ServerResponse) {
        const path = url.pathname;
        if (path === "/_sandbox/stats" && method === "GET") return sendJson(res, 200, this.stats.snapshot());
        if (path === "/_sandbox/stats/reset" && method === "POST") {
            this.stats.reset();
            return sendJson(res, 200, {});
        }
        if (path === "/_sandbox/tokens/expire" && method === "POST") {
            this.expireTokens();
            return sendJson(res, 200, {});
        }
        if (path === "/_sandbox/advance" && method === "POST") {
            const ms = Number(url.searchParams.get("ms"));
            if (!Number.isFinite(ms) || ms < 0) return sendJson(res, 400, { message: "ms must be a non-negative number" });
            this.advance(ms);
            return sendJson(res, 200, { clockOffsetMs: this.clockOffsetMs });
        }
        return sendJson(res, 404, { message: "not found" });
    }

    private count(route: string, req: http.IncomingMessage) {
        this.stats.count(route);
        const bare = route.replace(/^[A-Z]+ /, "");
        const index = this.faults.findIndex((f) => (f.route === route || f.route === bare) && f.skip-- <= 0);
        if (index < 0) return;
        const [fault] = this.faults.splice(index, 1);
        if (fault.lost) {
            this.lost.add(req);
            return;
        }
        if (route.endsWith("/oauth2/token")) throw new HttpError(fault.status, { error: "server_error", error_description: fault.message });
        throw new BtError(fault.status, fault.message);
    }

    private send(res: http.ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}) {
        // A lost answer: the work is done, the client never hears of it.
        if (res.req && this.lost.has(res.req)) {
            res.socket?.destroy();
            return;
        }
        res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...headers });
        res.end(body);
    }

    /** One XML document: `root` is { name: content }; the namespace goes on the root element. */
    private sendXml(res: http.ServerResponse, status: number, root: Record<string, unknown>, headers: Record<string, string> = {}) {
        this.send(res, status, "text/xml; charset=UTF-8", this.xml(root), headers);
    }

    /** Builds a document with XMLBuilder (which escapes text and attributes); text XML cannot carry is replaced first. */
    xml(root: Record<string, unknown>): string {
        const [name, content] = Object.entries(root)[0];
        const body = typeof content === "object" && content !== null ? { "@_xmlns": this.namespace, ...(content as object) } : { "@_xmlns": this.namespace, "#text": content };
        return `<?xml version="1.0" encoding="UTF-8"?>\n\n${builder.build({ [name]: sanitize(body) })}`;
    }

    private async issueToken(req: http.IncomingMessage, res: http.ServerResponse) {
        const basic = /^Basic\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
        const [clientId, clientSecret] = basic ? Buffer.from(basic[1], "base64").toString("utf8").split(/:(.*)/s) : [];
        const account = clientId === undefined ? undefined : this.accounts.get(clientId);
        const form = new URLSearchParams(await readBody(req));
        if (!account || !timingSafeEqual(clientSecret ?? "", account.clientSecret)) {
            throw new HttpError(401, { error: "invalid_client", error_description: "Client authentication failed." }, { "www-authenticate": 'Basic realm="oauth2"' });
        }
        const grant = form.get("grant_type");
        if (grant === null) throw new HttpError(400, { error: "invalid_request", error_description: "The grant_type parameter is required." });
        if (grant !== "client_credentials") throw new HttpError(400, { error: "unsupported_grant_type", error_description: "Only client_credentials is supported." });
        const now = this.now();
        const order = (this.tokenOrder.get(account.clientId) ?? []).filter((t) => {
            const live = (this.tokens.get(t)?.expiresAt ?? 0) > now;
            if (!live) this.tokens.delete(t);
            return live;
        });
        while (order.length >= this.opts.maxTokensPerAccount) this.tokens.delete(order.shift()!);
        const token = randomToken(40);
        this.tokens.set(token, { clientId: account.clientId, expiresAt: now + this.opts.tokenTtlSeconds * 1000 });
        order.push(token);
        this.tokenOrder.set(account.clientId, order);
        this.stats.tokensIssued++;
        this.issued.tokens.add(token);
        this.send(res, 200, "application/json", JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: this.opts.tokenTtlSeconds }), { "cache-control": "no-store" });
    }

    private authenticate(req: http.IncomingMessage): BtApiAccount {
        const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
        const record = this.tokens.get(token);
        const account = record && this.accounts.get(record.clientId);
        if (!record || !account || record.expiresAt <= this.now()) {
            throw new BtError(401, BEYONDTRUST_ERRORS.invalidToken, { "www-authenticate": 'Bearer error="invalid_token"' });
        }
        return account;
    }

    /** Counts the call against the account's windows; the X-RateLimit-* headers to answer with (option rateLimitHeaders). */
    private pace(account: BtApiAccount): Record<string, string> {
        const limit = this.opts.rateLimit;
        if (!limit) return {};
        const now = this.now();
        let w = this.windows.get(account.clientId);
        if (!w) this.windows.set(account.clientId, (w = { second: { start: now, used: 0 }, hour: { start: now, used: 0 } }));
        if (now - w.second.start >= 1000) w.second = { start: now, used: 0 };
        if (now - w.hour.start >= 3_600_000) w.hour = { start: now, used: 0 };
        let retryMs = 0;
        if (w.hour.used >= limit.perHour) retryMs = w.hour.start + 3_600_000 - now;
        else if (w.second.used >= limit.perSecond) retryMs = w.second.start + 1000 - now;
        const announce = (used: number): Record<string, string> => (this.opts.rateLimitHeaders ? { "x-ratelimit-limit": String(limit.perSecond), "x-ratelimit-remaining": String(Math.max(0, limit.perSecond - used)) } : {});
        if (retryMs > 0) throw new BtError(429, BEYONDTRUST_ERRORS.rateLimited, { "retry-after": String(Math.max(1, Math.ceil(retryMs / 1000))), ...announce(w.second.used) });
        w.second.used++;
        w.hour.used++;
        return announce(w.second.used);
    }

    private customer(res: http.ServerResponse, record: SessionKeyRecord | null) {
        if (!record) return this.send(res, 404, "text/html; charset=UTF-8", page("Remote Support", "This session key is invalid or has expired. Please ask your representative for a new one."));
        this.send(res, 200, "text/html; charset=UTF-8", page("Remote Support", "Your download will begin shortly. Run the file to connect to your support representative."));
    }

    // ---- command API -----------------------------------------------------------------------------

    private command(action: Command, params: URLSearchParams, account: BtApiAccount, req: http.IncomingMessage, res: http.ServerResponse) {
        const host = String(req.headers.host ?? "support.example.com");
        switch (action) {
            case "get_api_info":
                return this.sendXml(res, 200, { api_information: this.apiInfo(account) });
            case "check_health":
                return this.sendXml(res, 200, { appliance: this.health(host) });
            case "get_logged_in_reps":
                return this.sendXml(res, 200, { logged_in_reps: { rep: this.reps.filter((r) => r.loggedIn).map((r) => this.repElement(r, host)) } });
            case "get_support_teams":
                return this.sendXml(res, 200, { support_teams: { support_team: this.teams.map((t) => this.teamElement(t)) } });
            case "generate_session_key": {
                if (account.commandAccess !== "full_access") throw new BtError(200, BEYONDTRUST_ERRORS.readOnly);
                const record = this.generate(params, account, host);
                return this.sendXml(res, 200, { session_key: this.sessionKeyElement(record) });
            }
        }
    }

    /** Set by tests: what check_health reports as wrong (success 0 and this error_message), or null when healthy. */
    unhealthy: string | null = null;

    /** check_health's <appliance>: hostname, version, success, error_message, failover_role (the guide's fields; values are the sandbox's). */
    private health(host: string) {
        return {
            "@_id": "keyfleet-sandbox",
            hostname: host.replace(/:\d+$/, ""),
            version: this.opts.legacyNamespace ? "19.1.1" : "24.1.1",
            success: this.unhealthy === null ? "1" : "0",
            ...(this.unhealthy === null ? {} : { error_message: this.unhealthy }),
            failover_role: "none",
        };
    }

    private apiInfo(account: BtApiAccount) {
        const perms: [string, string][] = [
            ["perm_command", account.commandAccess],
            ["perm_reporting_support", "0"],
            ["perm_reporting_presentation", "0"],
            ["perm_reporting_license", "0"],
            ["perm_reporting_archive", "0"],
            ["perm_real_time_state", "0"],
            ["perm_ecm", "0"],
            ["perm_backup", "0"],
            ["perm_scim", "0"],
            ["perm_configuration", "0"],
        ];
        return {
            api_version: this.opts.legacyNamespace ? "1.19.0" : "1.24.1",
            ...(this.opts.legacyNamespace ? { company_name: "keyfleet" } : {}),
            timestamp: String(Math.floor(this.now() / 1000)),
            permissions: { permission: perms.map(([name, value]) => ({ "@_name": name, "#text": value })) },
        };
    }

    private repElement(r: BtRep, host: string) {
        return {
            "@_id": String(r.id),
            display_name: r.publicDisplayName,
            public_display_name: r.publicDisplayName,
            private_display_name: r.privateDisplayName,
            type: "Normal",
            direct_link: `<a href="https://${host}/?id=${r.id}">${htmlEscape(r.publicDisplayName)}</a>`,
            logged_in_since: String(Math.floor((this.loggedInSince.get(r.id) ?? this.now()) / 1000)),
            presentation_count: "0",
            support_session_count: "0",
            showing_on_rep_list: "1",
        };
    }

    private teamElement(t: BtTeam) {
        const loggedIn = this.reps.filter((r) => r.loggedIn && t.members.includes(r.id));
        return {
            "@_id": String(t.id),
            name: t.name,
            code_name: t.codeName,
            comments: "",
            issues: { issue: t.issues.map((i) => ({ "@_id": String(i.id), title: i.title, code_name: i.codeName })) },
            representatives: {
                rep: loggedIn.map((r) => ({ "@_id": String(r.id), display_name: r.publicDisplayName, public_display_name: r.publicDisplayName, private_display_name: r.privateDisplayName })),
            },
        };
    }

    private sessionKeyElement(k: SessionKeyRecord) {
        const brand = this.opts.legacyNamespace ? "Bomgar" : "BeyondTrust";
        return {
            type: k.type,
            ...(k.ttl !== null ? { ttl: String(k.ttl) } : {}),
            expires: String(k.expires),
            queue: { "@_available": this.available(k) ? "1" : "0", "#text": k.queue },
            ...(k.queueId !== null ? { queue_id: String(k.queueId) } : {}),
            ...(k.externalKey !== null ? { external_key: k.externalKey } : {}),
            short_key: k.shortKey,
            key_url: k.keyUrl,
            mail_subject: "Remote Support Invitation",
            mail_body:
                `\nClick on the link below and follow the directions.\n\n${k.keyUrl}\n\n` +
                `${brand}(TM) enables a support representative to view your screen in order to assist you.\n` +
                "Session traffic is fully encrypted to protect your system's data.\n" +
                "Once a session has begun, you will be able to end it at any time\n\t",
        };
    }

    private available(k: SessionKeyRecord): boolean {
        if (k.queue === "general") return this.reps.some((r) => r.loggedIn);
        if (k.queue === "rep") return this.reps.some((r) => r.id === k.queueId && r.loggedIn);
        const team = this.teams.find((t) => t.id === k.queueId);
        return !!team && (team.persistent || this.reps.some((r) => r.loggedIn && team.members.includes(r.id)));
    }

    /** Validates a generate_session_key request and commits the key; throws BtError (nothing committed) on any problem. */
    private generate(params: URLSearchParams, account: BtApiAccount, host: string): SessionKeyRecord {
        const E = BEYONDTRUST_ERRORS;
        const type = params.get("type");
        if (type !== "support") throw new BtError(200, E.invalidType);
        const queueParam = params.get("queue_id");
        if (queueParam === null || queueParam === "") throw new BtError(200, E.missingQueue);
        const { queue, queueId } = this.resolveQueue(queueParam);

        let ttl: number | null = null;
        const ttlParam = params.get("ttl");
        if (ttlParam !== null) {
            if (!/^\d+$/.test(ttlParam) || Number(ttlParam) < 1) throw new BtError(200, E.invalidTtl);
            ttl = Math.min(Number(ttlParam), this.opts.maxSessionKeyTtlSeconds);
        }

        let externalKey: string | null = null;
        const custom: Record<string, string> = {};
        let bytes = 0;
        for (const [name, value] of params) {
            if (!name.startsWith("session.custom.")) continue;
            const field = name.slice("session.custom.".length);
            if (field !== "external_key" && !this.customFields.includes(field)) throw new BtError(200, E.unknownCustomField(quote(field)));
            if ([...value].length > BEYONDTRUST_DEFAULTS.maxFieldLength) throw new BtError(200, E.tooLong(`session.custom.${field}`));
            if (NOT_XML.test(value)) throw new BtError(200, E.invalidCharacters(`session.custom.${field}`));
            if (field === "external_key") externalKey = value;
            else custom[field] = value;
        }
        for (const v of [externalKey ?? "", ...Object.values(custom)]) bytes += Buffer.byteLength(v, "utf8");
        if (bytes > BEYONDTRUST_DEFAULTS.maxCustomDataBytes) throw new BtError(200, E.customDataTooLarge);

        let priority: number | null = null;
        const priorityParam = params.get("session.priority");
        if (priorityParam !== null) {
            if (!/^[1-3]$/.test(priorityParam.trim())) throw new BtError(200, E.invalidPriority);
            priority = Number(priorityParam.trim());
        }

        const skills: string[] = [];
        const skillsParam = params.get("session.skills");
        if (skillsParam !== null && skillsParam.trim() !== "") {
            for (const s of skillsParam.split(",").map((x) => x.trim())) {
                if (!this.skills.includes(s)) throw new BtError(200, E.unknownSkill(quote(s)));
                if (!skills.includes(s)) skills.push(s);
            }
        }

        let urlHost = host;
        const hostParam = params.get("url_hostname");
        if (hostParam !== null) {
            if (!/^(?=.{1,253}(?::\d{1,5})?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::\d{1,5})?$/.test(hostParam)) {
                throw new BtError(200, E.invalidHostname);
            }
            urlHost = hostParam;
        }

        const now = this.now();
        const accessKey = crypto.randomBytes(16).toString("hex");
        const record: SessionKeyRecord = {
            shortKey: this.newShortKey(),
            accessKey,
            keyUrl: `https://${urlHost}/?ak=${accessKey}`,
            type: "support",
            queue,
            queueId,
            ttl,
            expires: Math.floor(now / 1000) + (ttl ?? this.opts.maxSessionKeyTtlSeconds),
            externalKey,
            custom,
            priority,
            skills,
            createdAt: now,
            createdBy: account.clientId,
            uses: 0,
        };
        this.keys.set(accessKey, record);
        this.issued.keys.add(record.shortKey).add(record.accessKey).add(record.keyUrl);
        this.save();
        return record;
    }

    private resolveQueue(q: string): { queue: SessionKeyRecord["queue"]; queueId: number | null } {
        const E = BEYONDTRUST_ERRORS;
        if (q === "general") return { queue: "general", queueId: null };
        const sep = q.indexOf(":");
        const kind = sep < 0 ? q : q.slice(0, sep);
        const arg = sep < 0 ? "" : q.slice(sep + 1);
        const id = /^\d+$/.test(arg) ? Number(arg) : NaN;
        if (kind === "rep" && this.reps.some((r) => r.id === id)) return { queue: "rep", queueId: id };
        if (kind === "team" && this.teams.some((t) => t.id === id)) return { queue: "team", queueId: id };
        if (kind === "rep_username" && arg !== "") {
            const matches = this.reps.filter((r) => r.username.toLowerCase() === arg.toLowerCase());
            if (matches.length === 0) throw new BtError(200, E.noSuchUser(quote(arg)));
            if (matches.length > 1) throw new BtError(200, E.severalUsers(quote(arg)));
            return { queue: "rep", queueId: matches[0].id };
        }
        if (kind === "issue") {
            const team = this.teams.find((t) => t.issues.some((i) => i.codeName === arg));
            if (team) return { queue: "team", queueId: team.id };
        }
        throw new BtError(200, E.unknownQueue(quote(q)));
    }

    private newShortKey(): string {
        const live = new Set(this.liveKeys().map((k) => k.shortKey));
        for (let i = 0; i < 1000; i++) {
            const candidate = this.opts.shortKeySource();
            if (!/^\d{7}$/.test(candidate)) throw new Error(`short key source gave ${JSON.stringify(candidate)}, not seven digits`);
            if (!live.has(candidate)) return candidate;
        }
        throw new BtError(503, "Could not allocate a unique short key.");
    }
}

const COMMANDS = ["generate_session_key", "get_logged_in_reps", "get_support_teams", "get_api_info", "check_health"] as const;
type Command = (typeof COMMANDS)[number];

const TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
function randomToken(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += TOKEN_ALPHABET[crypto.randomInt(TOKEN_ALPHABET.length)];
    return out;
}

function timingSafeEqual(a: string, b: string): boolean {
    const x = crypto.createHash("sha256").update(a).digest();
    const y = crypto.createHash("sha256").update(b).digest();
    return crypto.timingSafeEqual(x, y);
}

/** Replaces, in every string of a tree to be built into XML, the characters XML 1.0 cannot carry. */
function sanitize(value: unknown): unknown {
    if (typeof value === "string") return value.replace(NOT_XML_G, "\uFFFD");
    if (Array.isArray(value)) return value.map(sanitize);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sanitize(v)]));
    return value;
}

function htmlEscape(s: string): string {
    return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, text: string): string {
    return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${htmlEscape(title)}</title></head><body><p>${htmlEscape(text)}</p></body></html>\n`;
}

/** Starts the sandbox on `port` (4402 for the local stack; 0 picks a free one). */
export async function start(opts: { port: number; host?: string; dataFile?: string }): Promise<{ sandbox: BeyondTrustSandbox; server: Listening }> {
    const sandbox = new BeyondTrustSandbox({ dataFile: opts.dataFile });
    const server = await listen(sandbox.handler, opts.port, opts.host);
    return { sandbox, server };
}
