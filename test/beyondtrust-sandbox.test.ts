// The BeyondTrust Remote Support sandbox over real HTTP: OAuth2 client credentials (30 tokens per
// account, secret regeneration), the XML command API's session keys and their errors, the customer
// side, expiry, rate limit, faults, persistence, and answers shaped like the recorded ones.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { afterEach, describe, expect, it } from "vitest";
import {
    BEYONDTRUST_DEFAULTS,
    BEYONDTRUST_ERRORS as E,
    BEYONDTRUST_LEGACY_NAMESPACE,
    BEYONDTRUST_NAMESPACE,
    BeyondTrustSandbox,
    start,
    type BeyondTrustSandboxOptions,
} from "../sandbox/beyondtrust.ts";
import { listen } from "../sandbox/http.ts";

const CLIENT_ID = "bt_test_account";
const GENERATE = "action=generate_session_key&type=support";

interface T {
    sandbox: BeyondTrustSandbox;
    url: string;
    secret: string;
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
});

async function boot(options: BeyondTrustSandboxOptions = {}): Promise<T> {
    const secret = `bt-secret-${crypto.randomUUID()}`;
    const sandbox = new BeyondTrustSandbox({ client: { id: CLIENT_ID, secret }, ...options });
    const server = await listen(sandbox.handler, 0);
    open.push(server);
    return { sandbox, url: server.url, secret };
}

function basic(id: string, secret: string) {
    return `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
}

async function tokenRequest(t: T, id = CLIENT_ID, secret = t.secret, body = "grant_type=client_credentials") {
    const res = await fetch(`${t.url}/oauth2/token`, {
        method: "POST",
        headers: { authorization: basic(id, secret), "content-type": "application/x-www-form-urlencoded" },
        body,
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

async function token(t: T, id = CLIENT_ID, secret = t.secret): Promise<string> {
    const r = await tokenRequest(t, id, secret);
    expect(r.status).toBe(200);
    return String(r.json.access_token);
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseTagValue: false, parseAttributeValue: false });

interface Answer {
    status: number;
    headers: Headers;
    text: string;
    doc: Record<string, any>;
}

async function command(t: T, query: string, bearer: string): Promise<Answer> {
    const res = await fetch(`${t.url}/api/command?${query}`, { headers: { authorization: `Bearer ${bearer}` } });
    const text = await res.text();
    expect(XMLValidator.validate(text)).toBe(true);
    return { status: res.status, headers: res.headers, text, doc: parser.parse(text) };
}

/** A generate_session_key answer's <session_key> (fails the test on an <error>). */
async function generate(t: T, bearer: string, params: string) {
    const a = await command(t, `${GENERATE}&${params}`, bearer);
    expect(a.doc.error, a.text).toBeUndefined();
    expect(a.status).toBe(200);
    expect(a.headers.get("content-type")).toBe("text/xml; charset=UTF-8");
    expect(a.doc.session_key["@_xmlns"]).toBe(BEYONDTRUST_NAMESPACE);
    return a.doc.session_key as Record<string, any>;
}

/** Asserts an <error> answer with this message (HTTP 200 unless said otherwise) and that no key was made. */
async function expectError(t: T, bearer: string, query: string, message: string, status = 200) {
    const before = t.sandbox.keys.size;
    const a = await command(t, query, bearer);
    expect(a.status).toBe(status);
    expect(a.doc.session_key).toBeUndefined();
    expect(a.doc.error["#text"] ?? a.doc.error).toBe(message);
    expect(a.doc.error["@_xmlns"]).toBe(BEYONDTRUST_NAMESPACE);
    expect(t.sandbox.keys.size).toBe(before);
    return a;
}

/** The ordered element names and attribute names of an XML document (values left out). */
type Shape = { name: string; attrs: string[]; children: Shape[] };
function shape(xml: string): Shape {
    const ordered = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: "" }).parse(xml) as any[];
    const walk = (node: Record<string, any>): Shape | null => {
        const name = Object.keys(node).find((k) => k !== ":@");
        if (!name || name === "#text" || name.startsWith("?")) return null;
        return {
            name,
            attrs: Object.keys(node[":@"] ?? {}).sort(),
            children: (node[name] as Record<string, any>[]).map(walk).filter((s): s is Shape => s !== null),
        };
    };
    return ordered.map(walk).find((s) => s !== null)!;
}

const FIXTURES = new URL("./fixtures/beyondtrust/", import.meta.url);

describe("OAuth2 client credentials", () => {
    it("issues Bearer tokens for one hour that open the command API", async () => {
        const t = await boot();
        const r = await tokenRequest(t);
        expect(r.status).toBe(200);
        expect(Object.keys(r.json).sort()).toEqual(["access_token", "expires_in", "token_type"]);
        expect(r.json).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
        const bearer = String(r.json.access_token);
        expect(t.sandbox.issued.tokens.has(bearer)).toBe(true);
        expect(t.sandbox.stats.tokensIssued).toBe(1);
        const info = await command(t, "action=get_api_info", bearer);
        expect(info.status).toBe(200);
        expect(info.doc.api_information.api_version).toBe("1.24.1");

        t.sandbox.advance(3600 * 1000);
        const late = await command(t, "action=get_api_info", bearer);
        expect(late.status).toBe(401);
        expect(late.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
        expect(late.doc.error["#text"]).toBe(E.invalidToken);
    });

    it("refuses bad client credentials the OAuth way, and other grants", async () => {
        const t = await boot();
        for (const [id, secret] of [[CLIENT_ID, "wrong"], ["nobody", t.secret], [CLIENT_ID, ""]]) {
            const r = await tokenRequest(t, id, secret);
            expect(r.status).toBe(401);
            expect(r.json.error).toBe("invalid_client");
            expect(r.headers.get("www-authenticate")).toMatch(/^Basic/);
        }
        const noAuth = await fetch(`${t.url}/oauth2/token`, { method: "POST", body: "grant_type=client_credentials", headers: { "content-type": "application/x-www-form-urlencoded" } });
        expect(noAuth.status).toBe(401);
        expect(((await noAuth.json()) as { error: string }).error).toBe("invalid_client");
        const password = await tokenRequest(t, CLIENT_ID, t.secret, "grant_type=password&username=a&password=b");
        expect(password.status).toBe(400);
        expect(password.json.error).toBe("unsupported_grant_type");
        const missing = await tokenRequest(t, CLIENT_ID, t.secret, "");
        expect(missing.status).toBe(400);
        expect(missing.json.error).toBe("invalid_request");
        expect(t.sandbox.stats.tokensIssued).toBe(0);
        const bogus = await command(t, "action=get_api_info", "not-a-token");
        expect(bogus.status).toBe(401);
    });

    it("keeps at most 30 live tokens per account: the 31st invalidates the oldest", async () => {
        const t = await boot();
        const tokens: string[] = [];
        for (let i = 0; i < 31; i++) tokens.push(await token(t));
        expect(new Set(tokens).size).toBe(31);
        expect(t.sandbox.liveTokens()).toHaveLength(30);
        expect((await command(t, "action=get_api_info", tokens[0])).status).toBe(401);
        for (const live of [tokens[1], tokens[15], tokens[30]]) expect((await command(t, "action=get_api_info", live)).status).toBe(200);
        await token(t);
        expect((await command(t, "action=get_api_info", tokens[1])).status).toBe(401);
        expect((await command(t, "action=get_api_info", tokens[2])).status).toBe(200);
    });

    it("expired tokens do not count toward the 30", async () => {
        const t = await boot();
        const first = await token(t);
        t.sandbox.advance(3599 * 1000);
        for (let i = 0; i < 29; i++) await token(t);
        expect(t.sandbox.liveTokens()).toHaveLength(30);
        t.sandbox.advance(2000); // first expires
        const next = await token(t);
        expect(t.sandbox.liveTokens()).toHaveLength(30);
        expect((await command(t, "action=get_api_info", first)).status).toBe(401);
        expect((await command(t, "action=get_api_info", next)).status).toBe(200);
        expect((await command(t, "action=get_api_info", t.sandbox.liveTokens()[0])).status).toBe(200);
    });

    it("regenerating the secret invalidates every token of the account, and the old secret", async () => {
        const other = { clientId: "other_account", clientSecret: "other-secret-xyz", commandAccess: "full_access" as const };
        const t = await boot({ accounts: [other] });
        const a = await token(t);
        const b = await token(t);
        const o = await token(t, other.clientId, other.clientSecret);
        const fresh = t.sandbox.regenerateSecret();
        expect(fresh).not.toBe(t.secret);
        expect(t.sandbox.issued.tokens.has(fresh)).toBe(true);
        for (const old of [a, b]) expect((await command(t, "action=get_api_info", old)).status).toBe(401);
        expect((await command(t, "action=get_api_info", o)).status).toBe(200);
        expect((await tokenRequest(t)).status).toBe(401);
        const c = await token(t, CLIENT_ID, fresh);
        expect((await command(t, "action=get_api_info", c)).status).toBe(200);
    });
});

describe("generate_session_key", () => {
    it("answers the general queue as recorded: no queue_id, no ttl, expiry at the 24-hour maximum", async () => {
        const t = await boot();
        const bearer = await token(t);
        const nowS = Math.floor(t.sandbox.now() / 1000);
        const k = await generate(t, bearer, "queue_id=general");
        expect(k.type).toBe("support");
        expect(k.queue).toEqual({ "#text": "general", "@_available": "1" });
        expect(k.queue_id).toBeUndefined();
        expect(k.ttl).toBeUndefined();
        expect(k.external_key).toBeUndefined();
        expect(Number(k.expires) - nowS).toBeGreaterThanOrEqual(BEYONDTRUST_DEFAULTS.maxSessionKeyTtlSeconds);
        expect(Number(k.expires) - nowS).toBeLessThanOrEqual(BEYONDTRUST_DEFAULTS.maxSessionKeyTtlSeconds + 1);
        expect(k.short_key).toMatch(/^\d{7}$/);
        const host = new URL(t.url).host;
        expect(k.key_url).toMatch(new RegExp(`^https://${host.replace(/\./g, "\\.")}/\\?ak=[0-9a-f]{32}$`));
        expect(k.mail_subject).toBe("Remote Support Invitation");
        expect(k.mail_body).toContain(k.key_url);
        const live = t.sandbox.liveKeys();
        expect(live).toHaveLength(1);
        expect(live[0]).toMatchObject({ shortKey: k.short_key, keyUrl: k.key_url, queue: "general", queueId: null });
        for (const secret of [k.short_key, k.key_url, live[0].accessKey]) expect(t.sandbox.issued.keys.has(secret)).toBe(true);
    });

    it("places keys in each queue form", async () => {
        const t = await boot({ rateLimit: null });
        const bearer = await token(t);
        const cases: [string, string, string | undefined, string][] = [
            ["rep:1", "rep", "1", "1"], // admin, logged in
            ["rep:2", "rep", "2", "0"], // jdoe (local), logged out
            ["rep_username:admin", "rep", "1", "1"],
            ["rep_username:ADMIN", "rep", "1", "1"],
            ["rep_username:msmith", "rep", "4", "0"],
            ["team:1", "team", "1", "1"],
            ["team:2", "team", "2", "0"], // nobody of the team logged in
            ["issue:other", "team", "1", "1"],
            ["issue:password_reset", "team", "2", "0"],
        ];
        for (const [queueId, queue, id, available] of cases) {
            const k = await generate(t, bearer, `queue_id=${encodeURIComponent(queueId)}`);
            expect({ queueId, queue: k.queue["#text"], id: k.queue_id, available: k.queue["@_available"] }).toEqual({ queueId, queue, id, available });
        }
        t.sandbox.setLoggedIn(4, true);
        expect((await generate(t, bearer, "queue_id=team:2")).queue["@_available"]).toBe("1");
        t.sandbox.teams[1].persistent = true;
        t.sandbox.setLoggedIn(4, false);
        expect((await generate(t, bearer, "queue_id=team:2")).queue["@_available"]).toBe("1");
        for (const r of t.sandbox.reps) t.sandbox.setLoggedIn(r.id, false);
        expect((await generate(t, bearer, "queue_id=general")).queue["@_available"]).toBe("0");
    });

    it("stores custom fields, priority, skills, ttl and url_hostname, escaping what it echoes", async () => {
        const t = await boot();
        const bearer = await token(t);
        const external = `T-1 <a href="x">&'"]]>`;
        const k = await generate(
            t,
            bearer,
            `queue_id=team:1&ttl=600&session.custom.external_key=${encodeURIComponent(external)}&session.custom.custom_field2=${encodeURIComponent("é ✓ <b>")}&session.priority=3&session.skills=codename2&url_hostname=remote.example.com`,
        );
        expect(k.ttl).toBe("600");
        expect(k.external_key).toBe(external);
        expect(k.key_url).toMatch(/^https:\/\/remote\.example\.com\/\?ak=[0-9a-f]{32}$/);
        const record = t.sandbox.liveKeys()[0];
        expect(record).toMatchObject({ ttl: 600, externalKey: external, custom: { custom_field2: "é ✓ <b>" }, priority: 3, skills: ["codename2"] });
        expect(Number(k.expires)).toBe(Math.floor(record.createdAt / 1000) + 600);
        // A ttl beyond the appliance's maximum is lowered to it, and says so.
        const long = await generate(t, bearer, "queue_id=general&ttl=999999");
        expect(long.ttl).toBe(String(BEYONDTRUST_DEFAULTS.maxSessionKeyTtlSeconds));
    });

    it("accepts POST with a form body as well as GET", async () => {
        const t = await boot();
        const bearer = await token(t);
        const res = await fetch(`${t.url}/api/command`, {
            method: "POST",
            headers: { authorization: `Bearer ${bearer}`, "content-type": "application/x-www-form-urlencoded" },
            body: `${GENERATE}&queue_id=rep:1&session.custom.external_key=POSTED`,
        });
        const doc = parser.parse(await res.text());
        expect(res.status).toBe(200);
        expect(doc.session_key.external_key).toBe("POSTED");
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBe(1);
    });

    it("answers each documented error as an <error> and commits nothing", async () => {
        const t = await boot({ rateLimit: null });
        const bearer = await token(t);
        const q = (p: string) => `${GENERATE}&${p}`;
        for (const bad of ["rep:99", "team:99", "issue:nope", "rep:abc", "queue:1", "rep:", "general:1"]) {
            await expectError(t, bearer, q(`queue_id=${encodeURIComponent(bad)}`), E.unknownQueue(bad));
        }
        await expectError(t, bearer, "action=generate_session_key&queue_id=general", E.invalidType);
        await expectError(t, bearer, "action=generate_session_key&type=presentation&queue_id=general", E.invalidType);
        await expectError(t, bearer, GENERATE, E.missingQueue);
        await expectError(t, bearer, q("queue_id=rep_username:nobody"), E.noSuchUser("nobody"));
        await expectError(t, bearer, q("queue_id=rep_username:jdoe"), E.severalUsers("jdoe"));
        await expectError(t, bearer, q("queue_id=rep_username:JDoe"), E.severalUsers("JDoe"));
        await expectError(t, bearer, q("queue_id=general&session.custom.no_such_field=x"), E.unknownCustomField("no_such_field"));
        await expectError(t, bearer, q("queue_id=general&session.custom.Custom_Field1=x"), E.unknownCustomField("Custom_Field1"));
        await expectError(t, bearer, q(`queue_id=general&session.custom.custom_field1=${"x".repeat(1025)}`), E.tooLong("session.custom.custom_field1"));
        await expectError(t, bearer, q(`queue_id=general&session.custom.external_key=${"x".repeat(1025)}`), E.tooLong("session.custom.external_key"));
        // 1024 characters is fine, counted as characters (multi-byte ones too).
        await generate(t, bearer, `queue_id=general&session.custom.external_key=${"x".repeat(1024)}&session.custom.custom_field1=${encodeURIComponent("é".repeat(1024))}`);
        // Ten full fields fit (10,240 bytes); the external key on top does not.
        const ten = Array.from({ length: 10 }, (_, i) => `session.custom.custom_field${i + 1}=${"y".repeat(1024)}`).join("&");
        await generate(t, bearer, `queue_id=general&${ten}`);
        await expectError(t, bearer, q(`queue_id=general&${ten}&session.custom.external_key=z`), E.customDataTooLarge);
        for (const p of ["0", "4", "-1", "1.5", "high", ""]) {
            await expectError(t, bearer, q(`queue_id=general&session.priority=${p}`), E.invalidPriority);
        }
        await expectError(t, bearer, q("queue_id=general&session.skills=codename1,codename9"), E.unknownSkill("codename9"));
        for (const ttl of ["0", "-5", "1h", "1.5"]) await expectError(t, bearer, q(`queue_id=general&ttl=${ttl}`), E.invalidTtl);
        await expectError(t, bearer, q("queue_id=general&url_hostname=evil.example.com/path"), E.invalidHostname);
        await expectError(t, bearer, q("queue_id=general&session.custom.external_key=a%01b"), E.invalidCharacters("session.custom.external_key"));
        await expectError(t, bearer, "action=", E.missingAction);
        await expectError(t, bearer, "action=delete_everything", E.unknownAction);
        expect(t.sandbox.stats.byRoute["GET /api/command"]).toBe(2);
        expect(t.sandbox.liveKeys()).toHaveLength(2); // the two accepted above
    });

    it("quotes hostile input in error messages as well-formed XML", async () => {
        const t = await boot();
        const bearer = await token(t);
        const hostile = `team:<x>&"]]>\u0001${"\u00e9".repeat(200)}`;
        const a = await command(t, `${GENERATE}&queue_id=${encodeURIComponent(hostile)}`, bearer);
        expect(a.doc.error["#text"]).toMatch(/^Invalid queue_id "team:<x>&"\]\]>\uFFFD/);
        expect(a.text).not.toContain("\u0001");
        expect(a.text).toContain("&lt;x&gt;&amp;");
    });

    it("refuses accounts without the permission to generate session keys", async () => {
        const t = await boot({
            commandAccess: "read_only",
            accounts: [{ clientId: "denied", clientSecret: "denied-secret", commandAccess: "deny" }],
        });
        const bearer = await token(t);
        await expectError(t, bearer, `${GENERATE}&queue_id=general`, E.readOnly);
        const info = await command(t, "action=get_api_info", bearer);
        const perms = info.doc.api_information.permissions.permission as { "@_name": string; "#text": string }[];
        expect(perms.find((p) => p["@_name"] === "perm_command")?.["#text"]).toBe("read_only");
        expect((await command(t, "action=get_logged_in_reps", bearer)).doc.logged_in_reps).toBeDefined();
        const denied = await token(t, "denied", "denied-secret");
        await expectError(t, denied, "action=get_api_info", E.noCommandAccess);
        await expectError(t, denied, `${GENERATE}&queue_id=general`, E.noCommandAccess);
    });

    it("keeps short keys unique among live keys, and frees them when keys expire", async () => {
        const queue = ["1234567", "1234567", "1234567", "7654321", "1234567"];
        const t = await boot({ shortKeySource: () => queue.shift() ?? String(crypto.randomInt(1_000_000, 10_000_000)), rateLimit: null });
        const bearer = await token(t);
        const a = await generate(t, bearer, "queue_id=general&ttl=60");
        const b = await generate(t, bearer, "queue_id=general");
        expect(a.short_key).toBe("1234567");
        expect(b.short_key).toBe("7654321"); // two collisions skipped
        t.sandbox.advance(61_000);
        const c = await generate(t, bearer, "queue_id=general");
        expect(c.short_key).toBe("1234567"); // a's has expired
        const many = new Set<string>();
        const u = await boot({ rateLimit: null });
        const ub = await token(u);
        for (let i = 0; i < 100; i++) many.add((await generate(u, ub, "queue_id=general")).short_key);
        expect(many.size).toBe(100);
        expect(new Set(u.sandbox.liveKeys().map((k) => k.accessKey)).size).toBe(100);
    });
});

describe("customer side", () => {
    it("takes a key by short key or key URL until it expires, then refuses it", async () => {
        const t = await boot();
        const bearer = await token(t);
        const k = await generate(t, bearer, "queue_id=rep:1&ttl=120");
        const keyPath = new URL(k.key_url).pathname + new URL(k.key_url).search;
        const byShort = await fetch(`${t.url}/api/start_session?short_key=${k.short_key}`);
        expect(byShort.status).toBe(200);
        expect(byShort.headers.get("content-type")).toMatch(/^text\/html/);
        expect(await byShort.text()).not.toContain(k.short_key);
        expect((await fetch(`${t.url}${keyPath}`)).status).toBe(200);
        expect((await fetch(`${t.url}/api/start_session?short_key=0000000`)).status).toBe(404);
        expect(t.sandbox.useShortKey(k.short_key)?.uses).toBe(3);

        t.sandbox.advance(119_000);
        expect((await fetch(`${t.url}/api/start_session?short_key=${k.short_key}`)).status).toBe(200);
        t.sandbox.advance(1_000);
        const refused = await fetch(`${t.url}/api/start_session?short_key=${k.short_key}`);
        expect(refused.status).toBe(404);
        expect(await refused.text()).toMatch(/invalid or has expired/);
        expect((await fetch(`${t.url}${keyPath}`)).status).toBe(404);
        expect(t.sandbox.useShortKey(k.short_key)).toBeNull();
        expect(t.sandbox.liveKeys()).toHaveLength(0);
        expect(t.sandbox.stats.byRoute["GET /api/start_session"]).toBe(4);
        expect(t.sandbox.stats.byRoute["GET /?ak={ak}"]).toBe(2);
    });
});

describe("rate limit", () => {
    it("answers 429 with Retry-After and an XML error beyond the per-second and per-hour limits", async () => {
        const t = await boot({ rateLimit: { perSecond: 3, perHour: 5 }, clock: () => 1_700_000_000_000 });
        const bearer = await token(t);
        for (let i = 0; i < 3; i++) expect((await command(t, "action=get_api_info", bearer)).status).toBe(200);
        const over = await command(t, "action=get_api_info", bearer);
        expect(over.status).toBe(429);
        expect(over.headers.get("retry-after")).toBe("1");
        expect(over.doc.error["#text"]).toBe(E.rateLimited);
        await expectError(t, bearer, `${GENERATE}&queue_id=general`, E.rateLimited, 429);
        t.sandbox.advance(1000);
        expect((await command(t, "action=get_api_info", bearer)).status).toBe(200);
        expect((await generate(t, bearer, "queue_id=general")).short_key).toMatch(/^\d{7}$/);
        t.sandbox.advance(1000);
        const hourly = await command(t, "action=get_api_info", bearer);
        expect(hourly.status).toBe(429);
        expect(Number(hourly.headers.get("retry-after"))).toBe(3600 - 2);
        t.sandbox.advance(3600_000);
        expect((await command(t, "action=get_api_info", await token(t))).status).toBe(200);
    });

    it("defaults to 20 per second per API account", async () => {
        const t = await boot({ clock: () => 1_700_000_000_000 });
        const bearer = await token(t);
        const statuses = await Promise.all(Array.from({ length: 21 }, () => command(t, "action=get_api_info", bearer).then((a) => a.status)));
        expect(statuses.filter((s) => s === 200)).toHaveLength(20);
        expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    });
});

describe("faults", () => {
    it("a lost answer commits the key but the client sees a socket error", async () => {
        const t = await boot();
        const bearer = await token(t);
        t.sandbox.loseNextAnswer("GET /api/command?action=generate_session_key");
        await expect(fetch(`${t.url}/api/command?${GENERATE}&queue_id=team:1&session.custom.external_key=LOST-1`, { headers: { authorization: `Bearer ${bearer}` } })).rejects.toThrow();
        const live = t.sandbox.liveKeys();
        expect(live).toHaveLength(1);
        expect(live[0].externalKey).toBe("LOST-1");
        expect(t.sandbox.issued.keys.has(live[0].shortKey)).toBe(true);
        // The next call is answered normally.
        expect((await generate(t, bearer, "queue_id=team:1")).short_key).not.toBe(live[0].shortKey);
    });

    it("a lost token answer issues the token all the same", async () => {
        const t = await boot();
        t.sandbox.loseNextAnswer("POST /oauth2/token");
        await expect(tokenRequest(t)).rejects.toThrow();
        expect(t.sandbox.liveTokens()).toHaveLength(1);
        expect(t.sandbox.stats.tokensIssued).toBe(1);
    });

    it("failNext answers an injected error and commits nothing; skip lets calls through first", async () => {
        const t = await boot();
        const bearer = await token(t);
        t.sandbox.failNext("/api/command?action=generate_session_key", 503, "Service Unavailable", 1);
        await generate(t, bearer, "queue_id=general");
        await expectError(t, bearer, `${GENERATE}&queue_id=general`, "Service Unavailable", 503);
        await generate(t, bearer, "queue_id=general");
        expect(t.sandbox.liveKeys()).toHaveLength(2);
        t.sandbox.failNext("POST /oauth2/token", 500);
        expect((await tokenRequest(t)).status).toBe(500);
    });
});

describe("the seed", () => {
    const text = fs.readFileSync(new URL("./fixtures/beyondtrust-seed-queries.txt", import.meta.url), "utf8");
    const urls = text.split("\n").filter((l) => l.startsWith("https://support.example.com/api/command?"));

    it("the copied section matches the seed, when the seed is at hand", () => {
        const seed = "/work/shared/seeds/beyondtrust-generate-session-key.txt";
        if (!fs.existsSync(seed)) return;
        const section = fs.readFileSync(seed, "utf8").split("Query Examples: generate_session_key")[1];
        expect(text.replace(/^#.*\n/gm, "").trim()).toBe(`Query Examples: generate_session_key${section}`.trim());
    });

    it("runs every query example verbatim with the host swapped", async () => {
        expect(urls).toHaveLength(8);
        const t = await boot();
        const bearer = await token(t);
        const keys: Record<string, any>[] = [];
        for (const u of urls) {
            const res = await fetch(u.replace("https://support.example.com", t.url), { headers: { authorization: `Bearer ${bearer}` } });
            const body = await res.text();
            expect(res.status, u).toBe(200);
            const doc = parser.parse(body);
            expect(doc.error, `${u}: ${body}`).toBeUndefined();
            keys.push(doc.session_key);
        }
        expect(keys.map((k) => `${k.queue["#text"]}:${k.queue_id}`)).toEqual(["rep:1", "team:1", "rep:1", "team:1", "team:1", "team:1", "team:1", "team:1"]);
        expect(keys[4].ttl).toBe("3600");
        expect(keys.filter((k) => k.ttl !== undefined)).toHaveLength(1);
        expect(keys[5].external_key).toBe("ABC1234");
        expect(keys[6].key_url).toMatch(/^https:\/\/support\.example\.com\/\?ak=/);
        const records = t.sandbox.liveKeys();
        expect(records[5].custom).toEqual({ custom_field1: "Custom Value" });
        expect(records[7]).toMatchObject({ priority: 1, skills: ["codename1", "codename2"] });
        expect(new Set(keys.map((k) => k.short_key)).size).toBe(8);
    });
});

describe("answers shaped like the recorded ones", () => {
    for (const [file, queueId] of [
        ["generate_session_key-rep-queue.xml", "rep:1"],
        ["generate_session_key-general-queue.xml", "general"],
    ] as const) {
        it(`${file}: same elements, order and attributes; namespace current by default, Bomgar's with legacyNamespace`, async () => {
            const recorded = fs.readFileSync(new URL(file, FIXTURES), "utf8");
            const expected = shape(recorded);
            expect(expected.name).toBe("session_key");
            for (const legacy of [false, true]) {
                const t = await boot({ legacyNamespace: legacy });
                const bearer = await token(t);
                const res = await fetch(`${t.url}/api/command?${GENERATE}&queue_id=${queueId}`, { headers: { authorization: `Bearer ${bearer}` } });
                const body = await res.text();
                expect(shape(body)).toEqual(expected);
                const ns = /<session_key xmlns="([^"]+)"/.exec(body)?.[1];
                expect(ns).toBe(legacy ? BEYONDTRUST_LEGACY_NAMESPACE : BEYONDTRUST_NAMESPACE);
                if (legacy) expect(ns).toBe(/<session_key xmlns="([^"]+)"/.exec(recorded)?.[1]);
                const ours = parser.parse(body).session_key;
                const theirs = parser.parse(recorded).session_key;
                expect(ours.mail_subject).toBe(theirs.mail_subject);
                expect(ours.short_key).toMatch(/^\d{7}$/);
                expect(theirs.short_key).toMatch(/^\d{7}$/);
                expect(ours.key_url).toMatch(/^https:\/\/[^/]+\/\?ak=[0-9a-f]{32}$/);
                expect(theirs.key_url).toMatch(/^https:\/\/[^/]+\/\?ak=[0-9a-f]{32}$/);
                // The body's text is the recorded one, with the key URL and (current appliances) the brand swapped.
                const normalise = (s: string, url: string) => s.replaceAll(url, "URL").replace("Bomgar(TM)", "BeyondTrust(TM)").replace(/&apos;/g, "'");
                expect(normalise(ours.mail_body, ours.key_url)).toBe(normalise(theirs.mail_body, theirs.key_url));
            }
        });
    }

    it("an <error> is one element in the namespace holding the message", async () => {
        const t = await boot();
        const a = await expectError(t, await token(t), `${GENERATE}&queue_id=rep:42`, E.unknownQueue("rep:42"));
        expect(shape(a.text)).toEqual({ name: "error", attrs: ["xmlns"], children: [] });
    });
});

describe("other commands", () => {
    it("get_logged_in_reps lists logged-in reps only", async () => {
        const t = await boot();
        const bearer = await token(t);
        const reps = (await command(t, "action=get_logged_in_reps", bearer)).doc.logged_in_reps.rep as Record<string, any>[];
        expect(reps.map((r) => r["@_id"])).toEqual(["1", "3"]);
        expect(Object.keys(reps[0])).toEqual([
            "display_name", "public_display_name", "private_display_name", "type", "direct_link",
            "logged_in_since", "presentation_count", "support_session_count", "showing_on_rep_list", "@_id",
        ]);
        expect(reps[0].direct_link).toMatch(/^<a href="https:\/\/[^"]+\/\?id=1">Admin<\/a>$/);
        for (const r of t.sandbox.reps) t.sandbox.setLoggedIn(r.id, false);
        const none = await command(t, "action=get_logged_in_reps", bearer);
        expect(none.doc.logged_in_reps.rep).toBeUndefined();
        expect(shape(none.text)).toEqual({ name: "logged_in_reps", attrs: ["xmlns"], children: [] });
    });

    it("get_support_teams lists teams with their issues and logged-in reps", async () => {
        const t = await boot();
        const bearer = await token(t);
        const teams = (await command(t, "action=get_support_teams", bearer)).doc.support_teams.support_team as Record<string, any>[];
        expect(teams.map((x) => [x["@_id"], x.name, x.code_name])).toEqual([["1", "General Support", "general_support"], ["2", "Escalations", "escalations"]]);
        expect(teams[0].issues.issue).toMatchObject({ "@_id": "1", code_name: "other" });
        expect((teams[0].representatives.rep as any[]).map((r) => r["@_id"])).toEqual(["1", "3"]);
    });

    it("get_api_info gives version, timestamp and permissions; legacy appliances add company_name", async () => {
        const t = await boot({ clock: () => 1_700_000_000_000 });
        const info = (await command(t, "action=get_api_info", await token(t))).doc.api_information;
        expect(info.api_version).toBe("1.24.1");
        expect(info.timestamp).toBe("1700000000");
        expect(info.company_name).toBeUndefined();
        const legacy = await boot({ legacyNamespace: true });
        const old = (await command(legacy, "action=get_api_info", await token(legacy))).doc.api_information;
        expect(old["@_xmlns"]).toBe(BEYONDTRUST_LEGACY_NAMESPACE);
        expect(old.company_name).toBeDefined();
    });
});

describe("persistence and start()", () => {
    it("keeps keys across restarts in a file readable by the owner only", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bt-sandbox-"));
        const dataFile = path.join(dir, "data.json");
        try {
            const first = await start({ port: 0, dataFile });
            open.push(first.server);
            const t1: T = { sandbox: first.sandbox, url: first.server.url, secret: BEYONDTRUST_DEFAULTS.client.secret };
            const k = await generate(t1, await token(t1, BEYONDTRUST_DEFAULTS.client.id), "queue_id=rep:1&session.custom.external_key=KEEP");
            expect(fs.statSync(dataFile).mode & 0o777).toBe(0o600);
            await first.server.close();

            const second = await start({ port: 0, dataFile });
            open.push(second.server);
            expect(second.sandbox.liveKeys().map((r) => [r.shortKey, r.externalKey])).toEqual([[k.short_key, "KEEP"]]);
            expect(second.sandbox.issued.keys.has(k.key_url)).toBe(true);
            expect((await fetch(`${second.server.url}/api/start_session?short_key=${k.short_key}`)).status).toBe(200);
            expect(fs.statSync(dataFile).mode & 0o777).toBe(0o600);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("counts calls by route template, never by raw values, and serves its controls", async () => {
        const t = await boot();
        const bearer = await token(t);
        const k = await generate(t, bearer, "queue_id=general");
        await fetch(`${t.url}/api/start_session?short_key=${k.short_key}`);
        const stats = (await (await fetch(`${t.url}/_sandbox/stats`)).json()) as { byRoute: Record<string, number>; tokensIssued: number };
        expect(stats.byRoute).toEqual({ "POST /oauth2/token": 1, "GET /api/command?action=generate_session_key": 1, "GET /api/start_session": 1 });
        expect(stats.tokensIssued).toBe(1);
        expect(JSON.stringify(stats)).not.toContain(k.short_key);
        await fetch(`${t.url}/_sandbox/advance?ms=86400000`, { method: "POST" });
        expect(t.sandbox.liveKeys()).toHaveLength(0);
        await fetch(`${t.url}/_sandbox/tokens/expire`, { method: "POST" });
        expect(t.sandbox.liveTokens()).toHaveLength(0);
    });
});
