// The BeyondTrust client, descriptor and lifecycle without the engine: the exact encoding of
// generate_session_key (the seed's query examples), XML parsing of both namespaces and of the
// recorded answers, validation limits with positions, renewal and read from state, and the client
// against a sandbox over HTTP (one token shared by parallel calls, a refused token, <error> answers
// as error kinds, 429s, a lost answer never repeated).
import crypto from "node:crypto";
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { parseEnvironment, formatError } from "../config/load.ts";
import { BeyondTrustClient, parseCommandAnswer, sessionKeyFrom, sessionKeyQuery, type SessionKeyRequest } from "../providers/beyondtrust/client.ts";
import { renewalMarginMs, sessionKeyLifecycle, provider as lcProvider, type SessionKeyOutputs } from "../providers/beyondtrust/lifecycle.ts";
import { beyondtrust } from "../providers/beyondtrust/descriptor.ts";
import { isKind, VendorError } from "../providers/shared/errors.ts";
import { tokens } from "../providers/shared/tokens.ts";
import { rateLimitFrom } from "../providers/shared/calls.ts";
import { Settings } from "../providers/shared/settings.ts";
import { BEYONDTRUST_ERRORS, BeyondTrustSandbox, type BeyondTrustSandboxOptions } from "../sandbox/beyondtrust.ts";
import { listen } from "../sandbox/http.ts";
import { sandboxes } from "../sandbox/index.ts";

/** The dynamic provider with every method present (keyProvider defines them all). */
const provider = lcProvider as Required<typeof lcProvider>;

const FIXTURES = new URL("./fixtures/beyondtrust/", import.meta.url);
const fixture = (name: string) => fs.readFileSync(new URL(name, FIXTURES), "utf8");

describe("generate_session_key encoding", () => {
    // Each query example of the seed, and the request that must produce it exactly.
    const text = fs.readFileSync(new URL("./fixtures/beyondtrust-seed-queries.txt", import.meta.url), "utf8");
    const urls = text.split("\n").filter((l) => l.startsWith("https://support.example.com/api/command?"));
    const requests: SessionKeyRequest[] = [
        { queue: "rep:1" },
        { queue: "team:1" },
        { queue: "rep_username:admin" },
        { queue: "issue:other" },
        { queue: "team:1", ttl: 3600 },
        { queue: "team:1", externalKey: "ABC1234", custom: { custom_field1: "Custom Value" } },
        { queue: "team:1", urlHostname: "support.example.com" },
        { queue: "team:1", priority: 1, skills: ["codename1", "codename2"] },
    ];

    it("writes every query example of the seed exactly as the seed does", () => {
        expect(urls).toHaveLength(requests.length);
        requests.forEach((req, i) => expect(`https://support.example.com/api/command?${sessionKeyQuery(req)}`).toBe(urls[i]));
    });

    it("puts the parameters in the seed's order and encodes what a query cannot carry", () => {
        const q = sessionKeyQuery({
            queue: "rep_username:j doe",
            externalKey: "T-1&2=3",
            custom: { custom_field1: "a+b/c?d", custom_field2: "ünï" },
            priority: 3,
            skills: ["s1"],
            ttl: 60,
            urlHostname: "remote.example.com",
        });
        expect(q).toBe(
            "action=generate_session_key&type=support&queue_id=rep_username:j%20doe&session.custom.external_key=T-1%262%3D3" +
                "&session.custom.custom_field1=a%2Bb%2Fc%3Fd&session.custom.custom_field2=%C3%BCn%C3%AF&session.priority=3&session.skills=s1&ttl=60&url_hostname=remote.example.com",
        );
        // What the appliance decodes is what was asked.
        const back = new URLSearchParams(q);
        expect(back.get("queue_id")).toBe("rep_username:j doe");
        expect(back.get("session.custom.external_key")).toBe("T-1&2=3");
        expect(back.get("session.custom.custom_field1")).toBe("a+b/c?d");
        expect(back.get("session.custom.custom_field2")).toBe("ünï");
        // Absent optional fields are not sent at all (not as empty values).
        expect(sessionKeyQuery({ queue: "general", externalKey: null, priority: null, skills: [], ttl: null, urlHostname: null, custom: {} })).toBe(
            "action=generate_session_key&type=support&queue_id=general",
        );
    });
});

describe("XML answers", () => {
    it("reads the recorded rep-queue answer (older Bomgar namespace, no <ttl>)", () => {
        const key = sessionKeyFrom(parseCommandAnswer(fixture("generate_session_key-rep-queue.xml"), "generate_session_key"));
        expect(key).toMatchObject({ type: "support", ttl: null, expires: 1575045211, queue: "rep", available: false, queueId: 1, externalKey: null, shortKey: "2960564" });
        expect(key.keyUrl).toBe("https://support.example.com/?ak=3893f3dad96e61ce73d292ef83216468");
        expect(key.mailSubject).toBe("Remote Support Invitation");
        expect(key.mailBody).toContain(key.keyUrl);
        expect(key.mailBody.startsWith("Click on the link below")).toBe(true);
    });

    it("reads the recorded general-queue answer (queue general, no <queue_id>)", () => {
        const key = sessionKeyFrom(parseCommandAnswer(fixture("generate_session_key-general-queue.xml"), "generate_session_key"));
        expect(key).toMatchObject({ queue: "general", queueId: null, shortKey: "3870731", expires: 1575045211, available: false });
    });

    it("reads the current namespace, a prefixed namespace, <ttl>, <external_key> and a short key with a leading zero", () => {
        const current = `<?xml version="1.0" encoding="UTF-8"?>
<session_key xmlns="https://www.beyondtrust.com/namespaces/API/command">
  <type>support</type><ttl>3600</ttl><expires>1700003600</expires><queue available="1">team</queue><queue_id>1</queue_id>
  <external_key>ABC &amp; 1234</external_key><short_key>0123456</short_key><key_url>https://s.example.com/?ak=00ff</key_url>
  <mail_subject>Remote Support Invitation</mail_subject><mail_body>go to https://s.example.com/?ak=00ff</mail_body>
</session_key>`;
        expect(sessionKeyFrom(parseCommandAnswer(current, "generate_session_key"))).toEqual({
            type: "support",
            ttl: 3600,
            expires: 1700003600,
            queue: "team",
            available: true,
            queueId: 1,
            externalKey: "ABC & 1234",
            shortKey: "0123456",
            keyUrl: "https://s.example.com/?ak=00ff",
            mailSubject: "Remote Support Invitation",
            mailBody: "go to https://s.example.com/?ak=00ff",
        });
        const prefixed = current.replace('<session_key xmlns="', '<c:session_key xmlns:c="').replace("</session_key>", "</c:session_key>").replaceAll("<short_key>", "<c:short_key>").replaceAll("</short_key>", "</c:short_key>");
        expect(sessionKeyFrom(parseCommandAnswer(prefixed, "generate_session_key")).shortKey).toBe("0123456");
    });

    it("reads an <error> of either namespace as its message", () => {
        for (const ns of ["https://www.beyondtrust.com/namespaces/API/command", "http://www.bomgar.com/namespaces/API/command"]) {
            const a = parseCommandAnswer(`<?xml version="1.0"?>\n<error xmlns="${ns}">Invalid queue_id &quot;team:9&quot;: no such queue.</error>`, "generate_session_key");
            expect(a.root).toBe("error");
            expect(a.content["#text"]).toBe('Invalid queue_id "team:9": no such queue.');
        }
    });

    it("refuses what is not a session key: other namespace, not XML, a missing or malformed element", () => {
        const rep = fixture("generate_session_key-rep-queue.xml");
        const refused = (xml: string, words: RegExp) => {
            let err: unknown;
            try {
                sessionKeyFrom(parseCommandAnswer(xml, "generate_session_key"));
            } catch (e) {
                err = e;
            }
            expect(isKind(err, "invalidAnswer"), String(err)).toBe(true);
            expect((err as Error).message).toMatch(words);
        };
        refused(rep.replace("http://www.bomgar.com/namespaces/API/command", "urn:other"), /outside the command namespace \(urn:other\)/);
        refused(rep.replace(/ xmlns="[^"]*"/, ""), /outside the command namespace \(none\)/);
        refused("<html><body>proxy error</body>", /not XML/);
        refused(rep.replace(/<short_key>.*<\/short_key>/, ""), /<short_key> is missing/);
        refused(rep.replace("2960564", "29605"), /<short_key> is not seven characters/);
        refused(rep.replace("1575045211", "soon"), /<expires> is not a whole number/);
        refused(rep.replace(' available="0"', ""), /<queue> is without an available attribute/);
        refused(rep.replace(/<mail_body>[\s\S]*<\/mail_body>/, ""), /<mail_body> is missing/);
    });
});

describe("validation of the beyondtrust: section", () => {
    const load = (body: string) => parseEnvironment(`beyondtrust:\n  sessionKeys:\n${body}`, "config/test.yaml");
    const errors = (body: string) => {
        const r = load(body);
        return r.ok ? [] : r.errors.map(formatError);
    };

    it("accepts the issue's YAML and every queue form", () => {
        const r = load(`    - name: web intake
      queue: team:1
      ttl: 604800
      externalKey: ABC1234
      custom: { custom_field1: Custom Value }
      priority: 1
      skills: [codename1, codename2]
      urlHostname: support.example.com
      renewBefore: 1d
${["general", "rep:1", "rep_username:admin", "rep_username:j doe", "issue:other"].map((q, i) => `    - name: k${i}\n      queue: "${q}"`).join("\n")}
`);
        expect(r.ok, JSON.stringify(!r.ok && r.errors)).toBe(true);
    });

    it("places every error at its file:line:col and field, all at once", () => {
        const big = "x".repeat(1025);
        expect(
            errors(`    - name: a
      queue: teams:1
      ttl: 1.5
      priority: 4
      externalKey: ${big}
      custom: { custom-field: x, external_key: y, ok_field: ${big} }
      skills: [a b]
      urlHostname: "https://x"
    - name: a
      queue: rep:0
      ttl: 0
      renewBefore: 3d
`),
        ).toEqual([
            "config/test.yaml:4:14 beyondtrust.sessionKeys[0].queue: \"teams:1\" must be general, rep:<id>, team:<id>, rep_username:<name> or issue:<code_name>",
            "config/test.yaml:5:12 beyondtrust.sessionKeys[0].ttl: must be a whole number of seconds",
            "config/test.yaml:6:17 beyondtrust.sessionKeys[0].priority: must be 1 (high), 2 (medium) or 3 (low)",
            "config/test.yaml:7:20 beyondtrust.sessionKeys[0].externalKey: must be at most 1024 characters",
            'config/test.yaml:8:31 beyondtrust.sessionKeys[0].custom.custom-field: custom field name "custom-field": must be a code name (letters, digits and underscores)',
            'config/test.yaml:8:48 beyondtrust.sessionKeys[0].custom.external_key: custom field name "external_key": is not a custom field here: set the external key with externalKey',
            "config/test.yaml:8:61 beyondtrust.sessionKeys[0].custom.ok_field: must be at most 1024 characters",
            "config/test.yaml:9:16 beyondtrust.sessionKeys[0].skills[0]: must be a code name (letters, digits and underscores)",
            "config/test.yaml:10:20 beyondtrust.sessionKeys[0].urlHostname: must be a hostname, like support.example.com",
            'config/test.yaml:11:13 beyondtrust.sessionKeys[1].name: duplicate session key name "a" in this environment; first at line 3',
            'config/test.yaml:12:14 beyondtrust.sessionKeys[1].queue: "rep:0" must be general, rep:<id>, team:<id>, rep_username:<name> or issue:<code_name>',
            "config/test.yaml:13:12 beyondtrust.sessionKeys[1].ttl: must be a positive number of seconds",
        ]);
    });

    it("counts 1,024 characters (not bytes) per field and 10 KB of UTF-8 for all of them together", () => {
        const chars = (c: string, n: number) => c.repeat(n);
        // 1,024 two-byte characters: one field at its limit.
        expect(errors(`    - name: a\n      queue: general\n      externalKey: "${chars("é", 1024)}"\n`)).toEqual([]);
        // Ten fields of 1,000 bytes and an external key of 240: exactly 10,240 bytes.
        const ten = Array.from({ length: 10 }, (_, i) => `custom_field${i + 1}: "${chars("x", 1000)}"`).join(", ");
        expect(errors(`    - name: a\n      queue: general\n      externalKey: "${chars("k", 240)}"\n      custom: { ${ten} }\n`)).toEqual([]);
        expect(errors(`    - name: a\n      queue: general\n      externalKey: "${chars("k", 241)}"\n      custom: { ${ten} }\n`)).toEqual([
            "config/test.yaml:6:15 beyondtrust.sessionKeys[0].custom: custom fields and the external key together are 10241 bytes; the appliance takes at most 10 KB (10240 bytes)",
        ]);
    });

    it("refuses a renewBefore not shorter than ttl (every up would renew)", () => {
        expect(errors(`    - name: a\n      queue: general\n      ttl: 3600\n      renewBefore: 1h\n`)).toEqual([
            "config/test.yaml:6:20 beyondtrust.sessionKeys[0].renewBefore: 1h is not shorter than ttl (3600 s): every up would replace the key",
        ]);
        expect(errors(`    - name: a\n      queue: general\n      ttl: 3601\n      renewBefore: 1h\n`)).toEqual([]);
    });

    it("the provider's check refuses the same input with the same words (state edited by hand)", async () => {
        const r = await provider.check({} as never, { vendor: "beyondtrust", name: "a", targetQueue: "general", externalKey: "k".repeat(241), custom: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`custom_field${i + 1}`, "x".repeat(1000)])) } as never);
        expect(r.failures).toEqual([{ property: "custom", reason: "custom: custom fields and the external key together are 10241 bytes; the appliance takes at most 10 KB (10240 bytes)" }]);
        const q = await provider.check({} as never, { vendor: "beyondtrust", name: "a", targetQueue: "nowhere", priority: 0 } as never);
        expect(q.failures?.map((f) => f.property)).toEqual(["targetQueue", "priority"]);
    });
});

describe("renewal and read from state", () => {
    const H = 3_600_000;
    const t0 = Date.parse("2030-01-01T00:00:00Z");
    const state = (lifetimeH: number, renewBefore: string | null, ttl: number | null = null) =>
        ({ created: new Date(t0).toISOString(), expires: new Date(t0 + lifetimeH * H).toISOString(), renewBefore, ttl }) as unknown as SessionKeyOutputs;

    it("renews within renewBefore, by default within a tenth of the lifetime, never beyond half of it", () => {
        const r = (s: SessionKeyOutputs, atH: number) => sessionKeyLifecycle.expiry!.renewal!(s, s, t0 + atH * H);
        // Default: 24 h key, a tenth is 2.4 h.
        expect(r(state(24, null), 21.5)).toBeUndefined();
        expect(r(state(24, null), 21.7)).toMatch(/within a tenth of its lifetime/);
        // renewBefore 6h.
        expect(r(state(24, "6h"), 17.9)).toBeUndefined();
        expect(r(state(24, "6h"), 18)).toBe("session key expires at 2030-01-02T00:00:00.000Z, within renewBefore 6h");
        // ttl 604800 lowered by the appliance to 24 h; renewBefore 1d is capped at half the lifetime.
        expect(r(state(24, "1d", 604800), 0)).toBeUndefined();
        expect(r(state(24, "1d", 604800), 11.9)).toBeUndefined();
        // The reason names the margin that applied, not the one asked for.
        expect(r(state(24, "1d", 604800), 12)).toBe("session key expires at 2030-01-02T00:00:00.000Z, within half its lifetime (renewBefore 1d is longer than that)");
        expect(r(state(24, null), 24)).toBe("session key expired at 2030-01-02T00:00:00.000Z");
        expect(renewalMarginMs("1d", 7 * 24 * H)).toBe(24 * H);
    });

    it("the provider's diff replaces a key due for renewal with no input change, and not before", async () => {
        const inputs = { vendor: "beyondtrust", name: "a", targetQueue: "general", ttl: null, externalKey: null, custom: {}, priority: null, skills: [], urlHostname: null, renewBefore: "1h", rotation: null, adopt: null, predecessor: null, rotationDue: null };
        const now = Date.now();
        const olds = { ...inputs, created: new Date(now - 10 * H).toISOString(), expires: new Date(now + 5 * H).toISOString() };
        expect(await provider.diff("bts_x", olds as never, inputs as never)).toMatchObject({ changes: false, replaces: [] });
        const soon = { ...olds, expires: new Date(now + 0.5 * H).toISOString() };
        // The plan names no field for a renewal the program does not see (only the provider reads
        // the appliance's expiry): no pseudo-field "rotation", no bookkeeping input.
        expect(await provider.diff("bts_x", soon as never, inputs as never)).toMatchObject({ replaces: ["rotation"], detailedDiff: {} });
        // Where the program names a reason (a rotation by age or generation), the plan shows it.
        expect(await provider.diff("bts_x", soon as never, { ...inputs, rotationDue: "rotation due: older than 30d" } as never)).toMatchObject({
            changes: true,
            replaces: ["rotation"],
            detailedDiff: { rotationDue: "update-replace" },
        });
        // The same reason as the last run's is not news.
        expect(await provider.diff("bts_x", { ...soon, rotationDue: "rotation due: older than 30d" } as never, { ...inputs, rotationDue: "rotation due: older than 30d" } as never)).toMatchObject({ detailedDiff: {} });
        // An input change replaces too: the appliance cannot update a key.
        expect(await provider.diff("bts_x", olds as never, { ...inputs, priority: 2, predecessor: "bts_w" } as never)).toEqual(
            expect.objectContaining({ changes: true, replaces: ["priority"], detailedDiff: { priority: "update-replace" } }),
        );
        // renewBefore is keyfleet's own: a change rewrites state only.
        expect(await provider.diff("bts_x", olds as never, { ...inputs, renewBefore: "2h" } as never)).toMatchObject({ changes: true, replaces: [], detailedDiff: { renewBefore: "update" } });
    });

    it("read keeps a live key as state has it and drops an expired one; delete calls no vendor and needs no credentials", async () => {
        const live = { vendor: "beyondtrust", name: "a", targetQueue: "general", expires: new Date(Math.floor(Date.now() / 1000) * 1000 + H).toISOString(), keyUrl: "https://x/?ak=1", shortKey: "1234567", mailBody: "b", mailSubject: "s", queue: "general", queueId: null, available: true, created: new Date().toISOString() };
        const kept = await provider.read("bts_1", live as never);
        expect(kept.id).toMatch(/^bts_[0-9a-f]{16}$/);
        expect(kept.props).toMatchObject({ shortKey: "1234567", keyUrl: "https://x/?ak=1", expires: live.expires });
        expect(await provider.read("bts_1", { ...live, expires: new Date(Date.now() - 1000).toISOString() } as never)).toEqual({});
        await provider.delete("bts_1", live as never);
    });
});

// ---- the client against a sandbox over HTTP -------------------------------------------------------

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
});

async function boot(options: BeyondTrustSandboxOptions = {}) {
    const secret = `bt-secret-${crypto.randomUUID()}`;
    const sandbox = new BeyondTrustSandbox({ client: { id: "client_test", secret }, ...options });
    const server = await listen(sandbox.handler, 0);
    open.push(server);
    return { sandbox, url: server.url, secret, client: new BeyondTrustClient({ url: server.url, clientId: "client_test", clientSecret: secret }) };
}

async function failure(p: Promise<unknown>): Promise<VendorError> {
    const err = await p.then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VendorError);
    return err as VendorError;
}

describe("client over HTTP", () => {
    it("makes keys for each queue form with one token shared by parallel calls", async () => {
        const t = await boot();
        const forms = ["general", "rep:1", "team:1", "rep_username:admin", "issue:other"];
        const keys = await Promise.all(forms.map((queue) => t.client.generateSessionKey({ queue, priority: 2, custom: { custom_field1: "v" }, externalKey: "T-1" })));
        expect(keys.map((k) => [k.queue, k.queueId])).toEqual([["general", null], ["rep", 1], ["team", 1], ["rep", 1], ["team", 1]]);
        expect(t.sandbox.stats.tokensIssued).toBe(1);
        for (const k of keys) {
            const record = t.sandbox.keys.get(new URL(k.keyUrl).searchParams.get("ak")!)!;
            expect(record).toMatchObject({ shortKey: k.shortKey, priority: 2, custom: { custom_field1: "v" }, externalKey: "T-1", expires: k.expires });
        }
    });

    it("answers in the older namespace are read too", async () => {
        const t = await boot({ legacyNamespace: true });
        const k = await t.client.generateSessionKey({ queue: "team:1", ttl: 600 });
        expect(k).toMatchObject({ queue: "team", queueId: 1, ttl: 600 });
        expect(k.mailBody).toContain("Bomgar(TM)");
    });

    it("logs in again, once, when the appliance refuses the cached token", async () => {
        const t = await boot();
        await t.client.generateSessionKey({ queue: "general" });
        t.sandbox.expireTokens();
        await t.client.generateSessionKey({ queue: "general" });
        expect(t.sandbox.stats.tokensIssued).toBe(2);
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBe(3);
        // A regenerated secret: the fresh login is refused, and the error says what to check, never the secret.
        t.sandbox.regenerateSecret();
        const err = await failure(t.client.generateSessionKey({ queue: "general" }));
        expect(err.kind).toBe("unauthorized");
        expect(err.hint).toMatch(/keyfleet:beyondtrustClientSecret/);
        expect(err.message).not.toContain(t.secret);
    });

    it("turns <error> answers into the core's kinds with the appliance's words, and makes nothing", async () => {
        const t = await boot();
        const cases: [SessionKeyRequest, string, string][] = [
            [{ queue: "team:9" }, "rejected", BEYONDTRUST_ERRORS.unknownQueue("team:9")],
            [{ queue: "rep_username:jdoe" }, "rejected", BEYONDTRUST_ERRORS.severalUsers("jdoe")],
            [{ queue: "rep_username:nobody" }, "rejected", BEYONDTRUST_ERRORS.noSuchUser("nobody")],
            [{ queue: "general", custom: { nope: "x" } }, "rejected", BEYONDTRUST_ERRORS.unknownCustomField("nope")],
            [{ queue: "general", skills: ["nope"] }, "rejected", BEYONDTRUST_ERRORS.unknownSkill("nope")],
        ];
        for (const [req, kind, words] of cases) {
            const err = await failure(t.client.generateSessionKey(req));
            expect(err.kind).toBe(kind);
            expect(err.message).toBe(`generate_session_key: ${words}`);
        }
        expect(t.sandbox.keys.size).toBe(0);
        const ro = await boot({ commandAccess: "read_only" });
        const err = await failure(ro.client.generateSessionKey({ queue: "general" }));
        expect(err.kind).toBe("forbidden");
        expect(err.message).toContain(BEYONDTRUST_ERRORS.readOnly);
    });

    it("waits out 429s (Retry-After) and makes each key once", async () => {
        const t = await boot({ rateLimit: { perSecond: 3, perHour: 15000 } });
        const keys = await Promise.all(Array.from({ length: 6 }, () => t.client.generateSessionKey({ queue: "general" })));
        expect(new Set(keys.map((k) => k.shortKey)).size).toBe(6);
        expect(t.sandbox.keys.size).toBe(6);
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBeGreaterThan(6);
    });

    it("never repeats a generate_session_key whose answer was lost: outcome unknown, one call", async () => {
        const t = await boot();
        await t.client.token();
        t.sandbox.loseNextAnswer("POST /api/command?action=generate_session_key");
        const err = await failure(t.client.generateSessionKey({ queue: "general" }));
        expect(err.kind).toBe("outcomeUnknown");
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBe(1);
        expect(t.sandbox.keys.size).toBe(1);
        // Through the lifecycle: the error names the key and says an unused key expires by itself.
        const made = await failure(
            (async () => {
                t.sandbox.loseNextAnswer("POST /api/command?action=generate_session_key");
                process.env.KEYFLEET_BEYONDTRUST_URL = t.url;
                process.env.KEYFLEET_BEYONDTRUST_CLIENT_ID = "client_test";
                process.env.KEYFLEET_BEYONDTRUST_CLIENT_SECRET = t.secret;
                try {
                    return await provider.create({ vendor: "beyondtrust", name: "lost", targetQueue: "general", ttl: null, externalKey: null, custom: {}, priority: null, skills: [], urlHostname: null, renewBefore: null, rotation: null, adopt: null, predecessor: null, rotationDue: null } as never);
                } finally {
                    delete process.env.KEYFLEET_BEYONDTRUST_URL;
                    delete process.env.KEYFLEET_BEYONDTRUST_CLIENT_ID;
                    delete process.env.KEYFLEET_BEYONDTRUST_CLIENT_SECRET;
                }
            })(),
        );
        expect(made.message).toMatch(/^creating BeyondTrust session key "lost" \(queue general\) failed: no answer from http:\/\/127\.0\.0\.1:\d+ \(.*\); keyfleet does not repeat it: .* made a key nobody received, which expires by itself/);
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBe(2);
        expect(t.sandbox.keys.size).toBe(2);
    });

    it("the listed sandbox starts, and the token cache counts one login per account", async () => {
        tokens.clear();
        const server = await sandboxes.find((sb) => sb.section === beyondtrust.section)!.start({ port: 0, host: "127.0.0.1" });
        open.push(server);
        const c = new BeyondTrustClient({ url: server.url, clientId: "keyfleet_local_api_account", clientSecret: "keyfleet_local_api_secret" });
        await Promise.all([c.query("get_api_info"), c.query("get_support_teams"), c.query("get_logged_in_reps")]);
        expect([...tokens.logins.values()]).toEqual([1]);
    });
});

describe("no keep-alive to the appliance (Command API guide)", () => {
    it("sends Connection: close and uses one connection per call", async () => {
        const secret = "s3cret-keepalive";
        const sandbox = new BeyondTrustSandbox({ client: { id: "client_ka", secret } });
        const sockets = new Set<unknown>();
        const headers: (string | undefined)[] = [];
        const server = await listen(async (req, res, url) => {
            sockets.add(req.socket);
            headers.push(req.headers.connection);
            await sandbox.handler(req, res, url);
        }, 0);
        try {
            const client = new BeyondTrustClient({ url: server.url, clientId: "client_ka", clientSecret: secret });
            for (let i = 0; i < 3; i++) await client.generateSessionKey({ queue: "general" });
            expect(headers.length).toBe(4);
            expect(headers.every((h) => h === "close")).toBe(true);
            expect(sockets.size).toBe(headers.length);
        } finally {
            await server.close();
        }
    });
});

describe("generate_session_key goes as a form POST", () => {
    it("keeps custom fields and the external key out of the URL; the appliance reads them from the body", async () => {
        const t = await boot();
        const external = `EXT-${crypto.randomUUID()}`;
        const field = `secret-field-${crypto.randomUUID()}`;
        const k = await t.client.generateSessionKey({ queue: "team:1", externalKey: external, custom: { custom_field1: field }, priority: 2 });
        const record = t.sandbox.keys.get(new URL(k.keyUrl).searchParams.get("ak")!)!;
        expect(record).toMatchObject({ externalKey: external, custom: { custom_field1: field }, priority: 2 });
        expect(t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"]).toBe(1);
        expect(t.sandbox.commandTargets).toEqual(["/api/command"]);
        for (const target of t.sandbox.commandTargets) {
            expect(target).not.toContain(external);
            expect(target).not.toContain(field);
            expect(target).not.toContain("custom");
            expect(target).not.toContain("queue_id");
        }
    });

    it("the sandbox takes GET (the seed's query) and form POST, and refuses a POST body of another type", async () => {
        const t = await boot();
        const { access_token: bearer } = (await (
            await fetch(`${t.url}/oauth2/token`, { method: "POST", headers: { authorization: `Basic ${Buffer.from(`client_test:${t.secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=client_credentials" })
        ).json()) as { access_token: string };
        const auth = { authorization: `Bearer ${bearer}` };
        const get = await fetch(`${t.url}/api/command?action=generate_session_key&type=support&queue_id=general`, { headers: auth });
        expect(await get.text()).toContain("<short_key>");
        const form = await fetch(`${t.url}/api/command`, { method: "POST", headers: { ...auth, "content-type": "application/x-www-form-urlencoded" }, body: "action=generate_session_key&type=support&queue_id=general" });
        expect(await form.text()).toContain("<short_key>");
        const json = await fetch(`${t.url}/api/command`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ action: "generate_session_key" }) });
        expect([json.status, await json.text()]).toEqual([400, expect.stringContaining(BEYONDTRUST_ERRORS.postContentType)]);
        expect(t.sandbox.liveKeys()).toHaveLength(2);
    });
});

describe("pacing from X-RateLimit-* headers", () => {
    // An appliance allowing 5 a second, below the documented 20 the client paces for by default.
    const tight = { rateLimit: { perSecond: 5, perHour: 10_000 } };
    const run = async (options: BeyondTrustSandboxOptions) => {
        const t = await boot(options);
        for (let i = 0; i < 12; i++) await t.client.generateSessionKey({ queue: "general" });
        return { calls: t.sandbox.stats.byRoute["POST /api/command?action=generate_session_key"], keys: t.sandbox.liveKeys().length };
    };

    it("follows the appliance's announced limit and remaining count: no 429 at all", { timeout: 20_000 }, async () => {
        const withHeaders = await run({ ...tight, rateLimitHeaders: true });
        expect(withHeaders).toEqual({ calls: 12, keys: 12 });
        // Not vacuous: the same appliance without the headers refuses some (the client waits them out).
        const without = await run(tight);
        expect(without.keys).toBe(12);
        expect(without.calls).toBeGreaterThan(12);
    });

    it("reads the headers as whole numbers only, and ignores an answer without them", () => {
        expect(rateLimitFrom({ "x-ratelimit-limit": "20", "x-ratelimit-remaining": "0" })).toEqual({ limit: 20, remaining: 0 });
        expect(rateLimitFrom({ "x-ratelimit-limit": "lots" })).toBeUndefined();
        expect(rateLimitFrom({})).toBeUndefined();
    });
});

describe("check_health", () => {
    it("the sandbox answers the guide's <appliance>, and the client reads it", async () => {
        const t = await boot();
        expect(await t.client.checkHealth()).toEqual({ healthy: true, hostname: "127.0.0.1", version: "24.1.1", failoverRole: "none", error: null });
        t.sandbox.unhealthy = "database replication stalled";
        expect(await t.client.checkHealth()).toMatchObject({ healthy: false, error: "database replication stalled" });
        expect(t.sandbox.stats.byRoute["POST /api/command?action=check_health"]).toBe(2);
        // Read-only command access suffices for it.
        const ro = await boot({ commandAccess: "read_only" });
        expect((await ro.client.checkHealth()).healthy).toBe(true);
    });

    it("is what report --live asks a BeyondTrust appliance (the descriptor's health): healthy, unhealthy, unreachable", async () => {
        const t = await boot();
        const settings = (url: string, secret = t.secret) => {
            const s = new Settings();
            s.configure({ get: (k) => ({ "keyfleet:beyondtrust": JSON.stringify({ url, clientId: "client_test" }), "keyfleet:beyondtrustClientSecret": secret })[k] });
            return s;
        };
        expect(await beyondtrust.health!(settings(t.url))).toBeUndefined();
        t.sandbox.unhealthy = "disk full";
        expect(await beyondtrust.health!(settings(t.url))).toBe("check_health: the appliance 127.0.0.1 reports a problem: disk full");
        const wrong = await beyondtrust.health!(settings(t.url, "wrong-secret"));
        expect(wrong).toMatch(/^check_health failed: /);
        expect(wrong).not.toContain("wrong-secret");
        process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
        try {
            expect(await beyondtrust.health!(settings("http://127.0.0.1:9"))).toMatch(/^check_health failed: BeyondTrust at http:\/\/127\.0\.0\.1:9 did not answer/);
        } finally {
            delete process.env.KEYFLEET_RETRY_BUDGET_MS;
        }
    });
});

describe("a refused login names network prefixes", () => {
    it("hints that the API account may be limited to network prefixes", async () => {
        const sandbox = new BeyondTrustSandbox({ client: { id: "client_np", secret: "right-secret" } });
        const server = await listen(sandbox.handler, 0);
        try {
            const client = new BeyondTrustClient({ url: server.url, clientId: "client_np", clientSecret: "wrong-secret" });
            const err = await client.generateSessionKey({ queue: "general" }).catch((e: unknown) => e);
            expect(err).toBeInstanceOf(VendorError);
            expect((err as VendorError).hint).toMatch(/network prefixes/);
        } finally {
            await server.close();
        }
    });
});
