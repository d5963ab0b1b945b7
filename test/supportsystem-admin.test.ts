// The admin-panel transport (issue 15) against the sandbox's admin panel (rebuilt from osTicket's
// templates): the client's operations, a lost add answer that converges with exactly one key, an
// expired session that logs in once, a session id that changes after the login, a list of several
// pages, CSRF refusals, two-factor and locked accounts, the notes sanitizer, and the pre-flight
// check per transport.
import { parseSetCookie, stringifyCookie } from "cookie";
import { parse } from "node-html-parser";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCalls, forgetSessions, forgetSnapshot, SupportSystemAdminClient } from "../providers/supportsystem/admin.ts";
import { checkSettings } from "../providers/shared/preflight.ts";
import { supportsystem } from "../providers/supportsystem/descriptor.ts";
import { composeNotes, parseNotes, sameNotes } from "../providers/supportsystem/lifecycle.ts";
import { sanitizeNotes } from "../sandbox/supportsystem-admin.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

let h: HelpDesk;
let client: SupportSystemAdminClient;
const panel = () => h.sandbox.adminPanel;

beforeAll(async () => {
    h = await startHelpDesk();
    client = new SupportSystemAdminClient({ url: h.url, user: panel().user, password: panel().password, paceMs: 0 });
});
afterAll(async () => {
    forgetSessions();
    await h?.close();
});

const row = (ip: string, name: string) => ({ apikey: "", ipaddr: ip, isactive: true, canCreateTickets: true, canExecCron: false, notes: composeNotes(name, "A <b>note</b>") });

describe("SupportSystem admin-panel transport", () => {
    it("adds, reads, updates and deletes a key the API accepts", async () => {
        const made = await client.insert(row("127.0.0.1", "web form"));
        expect(made).toMatchObject({ ipaddr: "127.0.0.1", isactive: true, canCreateTickets: true, canExecCron: false, notes: "A <b>note</b> [keyfleet:web form]" });
        expect(made.apikey).toMatch(/^[0-9A-F]{32}$/);
        expect(await h.post("/api/tickets.json", made.apikey, "127.0.0.1")).toMatchObject({ status: 201 });
        const updated = await client.update(made.id, { isactive: false });
        expect(updated.isactive).toBe(false);
        expect((await h.post("/api/tickets.json", made.apikey, "127.0.0.1")).status).toBe(401);
        expect(await client.delete(made.id)).toBe(true);
        expect(await client.delete(made.id)).toBe(false);
        expect(await h.rows()).toEqual([]);
        expect(panel().logins).toBe(1);
    });

    it("a lost add answer converges with exactly one key", async () => {
        panel().faults.lostAdd = 1;
        const made = await client.insert(row("127.0.0.2", "lost"));
        const rows = await h.rows();
        expect(rows.filter((r) => r.notes?.includes("[keyfleet:lost]"))).toHaveLength(1);
        expect(rows[0].id).toBe(made.id);
        await client.delete(made.id);
    });

    it("an add answered 200 with a proxy's error page converges with exactly one key (issue 17, defect 3)", async () => {
        panel().faults.garbledAdd = 1;
        const made = await client.insert(row("127.0.0.2", "garbled"));
        const rows = await h.rows();
        expect(rows.filter((r) => r.notes?.includes("[keyfleet:garbled]"))).toHaveLength(1);
        expect(rows.find((r) => r.notes?.includes("[keyfleet:garbled]"))!.id).toBe(made.id);
        expect(panel().faults.garbledAdd).toBe(0);
        await client.delete(made.id);
    });

    it("an expired session mid-run logs in again once", async () => {
        const before = panel().logins;
        panel().expireSessions();
        const made = await client.insert(row("127.0.0.3", "expired"));
        expect(panel().logins).toBe(before + 1);
        await client.delete(made.id);
    });

    it("requests in flight together when the session expires log in again once, not once each", async () => {
        await client.list();
        const before = panel().logins;
        panel().expireSessions();
        const made = await Promise.all([1, 2, 3].map((n) => client.insert(row(`127.0.2.${n}`, `parallel ${n}`))));
        expect(panel().logins).toBe(before + 1);
        for (const m of made) await client.delete(m.id);
    });

    it("a locked account fails with a clear message, one login attempt", async () => {
        forgetSessions();
        panel().faults.locked = true;
        const logins = adminCalls.login;
        await expect(client.list()).rejects.toThrow(/locked out/);
        expect(adminCalls.login).toBe(logins + 1);
        panel().faults.locked = false;
    });

    it("follows the session id the panel sets after the login (osTicket changes it 10 s after a login)", async () => {
        forgetSessions();
        panel().regenerateMs = 0;
        panel().oldIdMs = 0;
        try {
            const before = panel().logins;
            await client.list();
            forgetSnapshot();
            await client.list();
            expect(panel().logins).toBe(before + 1);
        } finally {
            panel().regenerateMs = 10_000;
            panel().oldIdMs = 60_000;
        }
    });

    it("walks every page of the list (PAGE_LIMIT rows a page)", async () => {
        panel().pageLimit = 2;
        try {
            const made = [];
            for (const n of [1, 2, 3, 4, 5]) made.push(await client.insert(row(`127.0.1.${n}`, `paged ${n}`)));
            expect(new Set(made.map((m) => m.id)).size).toBe(5);
            forgetSnapshot();
            const listed = await client.list();
            expect(listed.map((r) => r.id).sort()).toEqual(made.map((m) => m.id).sort());
            expect(panel().requests.filter((r) => r === "GET apikeys.php").length).toBeGreaterThan(0);
            for (const m of made) await client.delete(m.id);
        } finally {
            panel().pageLimit = 25;
        }
    });

    it("an update or a delete reads only the list and that key's page, not every key's page", async () => {
        const made = [];
        for (const n of [1, 2, 3, 4, 5]) made.push(await client.insert(row(`127.0.4.${n}`, `few ${n}`)));
        forgetSnapshot();
        const seen = panel().requests.length;
        await client.update(made[2].id, { canExecCron: true });
        expect(panel().requests.slice(seen)).toEqual(["GET apikeys.php", `GET apikeys.php`, "POST apikeys.php", "GET apikeys.php", "GET apikeys.php"]);
        const before = panel().requests.length;
        await client.delete(made[2].id);
        expect(panel().requests.slice(before)).toEqual(["GET apikeys.php", "POST apikeys.php"]);
        for (const m of made) await client.delete(m.id);
    });

    it("a refused CSRF token is read again and the request repeated once; twice is a clear error after a look at the list", async () => {
        const made = await client.insert(row("127.0.0.6", "csrf"));
        panel().faults.csrf = 1;
        expect((await client.update(made.id, { canExecCron: true })).canExecCron).toBe(true);
        panel().faults.csrf = 2;
        await expect(client.update(made.id, { canExecCron: false })).rejects.toThrow(/CSRF token was refused twice \(Valid CSRF Token Required\)/);
        await client.delete(made.id);
        // An add refused twice: the list is looked at for the key (it may have been made), none is, the refusal is told.
        panel().faults.csrf = 2;
        const seen = panel().requests.length;
        await expect(client.insert(row("127.0.0.7", "csrf add"))).rejects.toThrow(/CSRF token was refused twice/);
        expect(panel().requests.slice(seen)).toEqual(["GET apikeys.php", "POST apikeys.php", "GET apikeys.php", "POST apikeys.php", "GET apikeys.php"]);
        expect(await h.rows()).toEqual([]);
    });

    it("an account with two-factor login fails with a clear message", async () => {
        forgetSessions();
        panel().faults.twoFactor = true;
        try {
            await expect(client.list()).rejects.toThrow(/second factor/);
        } finally {
            panel().faults.twoFactor = false;
        }
    });

    it("an agent who is not an administrator fails naming the fix", async () => {
        forgetSessions();
        panel().faults.agent = true;
        try {
            await expect(client.list()).rejects.toThrow(/API keys are for administrators and the panel sent this account to \/scp\/index.php; make admin an administrator/);
        } finally {
            panel().faults.agent = false;
            forgetSessions();
        }
    });

    it("wrong credentials are a refused login naming the settings", async () => {
        forgetSessions();
        const wrong = new SupportSystemAdminClient({ url: h.url, user: panel().user, password: "not-it", paceMs: 0 });
        const seen = panel().requests.length;
        await expect(wrong.list()).rejects.toThrow(/login refused \(Access denied\); check keyfleet:supportsystem.adminUser/);
        // One attempt: a refused login is never repeated (each one is a strike toward the lockout).
        expect(panel().requests.slice(seen).filter((r) => r === "POST login.php")).toEqual(["POST login.php"]);
        forgetSessions();
    });

    it("paces every request of the panel in one queue, also when resources run in parallel", async () => {
        forgetSessions();
        forgetSnapshot();
        const paced = new SupportSystemAdminClient({ url: h.url, user: panel().user, password: panel().password, paceMs: 120 });
        const seen = panel().requests.length;
        const started = performance.now();
        const made = await Promise.all([1, 2, 3].map((n) => paced.insert(row(`127.0.5.${n}`, `paced ${n}`))));
        const took = performance.now() - started;
        const sent = panel().requests.length - seen;
        // A sleep per request would let the three inserts send together: about a third of this.
        expect(sent).toBeGreaterThan(6);
        expect(took).toBeGreaterThanOrEqual((sent - 1) * 120 * 0.9);
        for (const m of made) await client.delete(m.id);
    });
});

describe("SupportSystem sandbox's admin panel answers as osTicket's scp/ does", () => {
    /** A browser of one: its cookie jar, no redirects followed. */
    const jar: Record<string, string> = {};
    const go = async (method: "GET" | "POST", path: string, form?: Record<string, string | string[]>) => {
        const body = form ? new URLSearchParams(Object.entries(form).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v] as [string, string]]))).toString() : undefined;
        const res = await request(`${h.url}/scp/${path}`, { method, body, headers: { cookie: stringifyCookie(jar), ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}) } });
        const set = res.headers["set-cookie"];
        for (const line of Array.isArray(set) ? set : set ? [set] : []) {
            const c = parseSetCookie(line);
            jar[c.name] = c.value ?? "";
        }
        const text = await res.body.text();
        return { status: res.statusCode, location: res.headers.location, text, doc: parse(text, { parseNoneClosedTags: true }) };
    };

    it("redirects to the login with the page remembered, logs in, refuses a POST without the CSRF token, shows osTicket's messages", async () => {
        expect(await go("GET", "apikeys.php?a=add")).toMatchObject({ status: 302, location: "/scp/login.php" });
        expect(jar.OSTSESSID).toMatch(/^[0-9a-f]{26}$/);
        const login = await go("GET", "login.php");
        expect(login.doc.querySelector("#login-message")?.text).toBe("Authentication Required");
        const token = login.doc.querySelector('form#login input[name="__CSRFToken__"]')!.getAttribute("value")!;
        expect(await go("POST", "login.php", { __CSRFToken__: "wrong", do: "scplogin", userid: panel().user, passwd: panel().password })).toMatchObject({ status: 302, location: "/scp/login.php" });
        expect((await go("GET", "login.php")).doc.querySelector("#login-message")?.text).toBe("Valid CSRF Token Required");
        expect(await go("POST", "login.php", { __CSRFToken__: token, do: "scplogin", userid: panel().user, passwd: panel().password })).toMatchObject({ status: 302, location: "/scp/apikeys.php?a=add" });
        const add = await go("GET", "apikeys.php?a=add");
        const csrf = add.doc.querySelector('meta[name="csrf_token"]')!.getAttribute("content")!;
        expect(add.doc.querySelector('form.save input[name="do"]')?.getAttribute("value")).toBe("add");
        expect(await go("POST", "apikeys.php", { do: "add", ipaddr: "127.0.0.1" })).toMatchObject({ status: 400, text: "Valid CSRF Token Required" });
        const bad = await go("POST", "apikeys.php?a=add", { __CSRFToken__: csrf, do: "add", a: "add", ipaddr: "not an ip", isactive: "1" });
        expect(bad.doc.querySelector("#content #msg_error")?.text).toBe("Unable to add this API key. Correct any errors below and try again.");
        // The Status row's `.error` is a bare "*"; the IP row's carries the message.
        expect(bad.doc.querySelectorAll("form.save .error").map((e) => e.text.replace(/\u00a0/g, " ").trim())).toEqual(["*", "* Valid IP is required"]);
        const ok = await go("POST", "apikeys.php?a=add", { __CSRFToken__: csrf, do: "add", a: "add", ipaddr: "127.0.0.9", isactive: "1", notes: "x" });
        expect(ok.doc.querySelector("#msg_notice")?.text).toBe("Successfully added an API key.");
        const tr = ok.doc.querySelectorAll("table.list tr").find((r) => r.querySelector('input[name="ids[]"]'))!;
        const id = tr.querySelector('input[name="ids[]"]')!.getAttribute("value")!;
        expect(tr.getAttribute("id")).toBe(id);
        expect(tr.querySelector(`a[href="apikeys.php?id=${id}"]`)?.text).toMatch(/^[0-9A-F]{32}$/);
        expect(tr.querySelectorAll("td").map((td) => td.text.replace(/\u00a0/g, " ").trim()).slice(2, 4)).toEqual(["127.0.0.9", "Active"]);
        expect((await go("GET", "apikeys.php?id=99999")).doc.querySelector("#msg_error")?.text).toBe("API Key: Unknown or invalid ID.");
        const gone = await go("POST", "apikeys.php", { __CSRFToken__: csrf, do: "mass_process", a: "delete", "ids[]": [id] });
        expect(gone.doc.querySelector("#msg_notice")?.text).toBe("Successfully deleted selected API key.");
        panel().expireSessions();
        expect(await go("GET", "apikeys.php")).toMatchObject({ status: 302, location: "/scp/login.php" });
        expect((await go("GET", "login.php")).doc.querySelector("#login-message")?.text).toBe("Session timed out due to inactivity");
    });
});

describe("SupportSystem admin panel's notes sanitizer (Format::sanitize)", () => {
    it("keeps keyfleet's marker, compacts white space and drops what htmLawed drops", () => {
        expect(sanitizeNotes(composeNotes("web form", "Line one\n\nLine  two"))).toBe("Line one Line two [keyfleet:web form]");
        expect(sanitizeNotes(composeNotes("a[b] & <c>", null))).toBe("[keyfleet:a%5Bb%5D %26 %3Cc%3E]");
        expect(parseNotes(sanitizeNotes(composeNotes("a[b] & <c>", "x"))).name).toBe("a[b] & <c>");
        expect(sanitizeNotes('<p id="x" class="note MsoNormal" onclick="evil()">Hi<script>alert(1)</script></p><form action="/x"><input name="q">Q</form><!-- c -->')).toBe('<p class="MsoNormal">Hi</p>Q');
        expect(sanitizeNotes("Tom & Jerry <b></b>")).toBe("Tom &amp; Jerry ");
        expect(sanitizeNotes('<a href="javascript:alert(1)">x</a> <a href="https://example.com/">y</a>')).toBe('<a href="denied:javascript:alert(1)">x</a> <a href="https://example.com/">y</a>');
    });

    it("a note with markup reads back without drift; a changed note is drift", async () => {
        const wanted = composeNotes("markup", '<p id="top">Call <b>ops</b> &amp; <i>dev</i></p>\n\n<p>second</p>');
        const made = await client.insert({ ...row("127.0.0.8", "markup"), notes: wanted });
        expect(made.notes).not.toBe(wanted);
        expect(parseNotes(made.notes).name).toBe("markup");
        expect(sameNotes(made.notes, wanted)).toBe(true);
        expect(sameNotes(made.notes, composeNotes("markup", "<p>Call <b>ops</b> &amp; dev</p><p>second</p>"))).toBe(false);
        expect(sameNotes(made.notes, composeNotes("other", '<p>Call <b>ops</b> &amp; <i>dev</i></p><p>second</p>'))).toBe(false);
        await client.delete(made.id);
    });
});

describe("SupportSystem pre-flight check per transport", () => {
    const section = { supportsystem: { apiKeys: [{ name: "web", ip: "127.0.0.1" }] } };
    const ENV = ["KEYFLEET_SUPPORTSYSTEM_TRANSPORT", "KEYFLEET_SUPPORTSYSTEM_URL", "KEYFLEET_SUPPORTSYSTEM_ADMIN_USER", "KEYFLEET_SUPPORTSYSTEM_ADMIN_PASSWORD", "KEYFLEET_MYSQL_HOST", "KEYFLEET_MYSQL_USER", "KEYFLEET_MYSQL_DATABASE", "KEYFLEET_MYSQL_PASSWORD"];
    const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
    afterAll(() => {
        for (const k of ENV) saved[k] === undefined ? delete process.env[k] : (process.env[k] = saved[k]);
    });
    const check = (env: Record<string, string>) => {
        for (const k of ENV) delete process.env[k];
        Object.assign(process.env, env);
        return checkSettings([supportsystem], section).join("\n");
    };

    it("admin needs the panel's address, an administrator and its password, not the database's settings", () => {
        const problems = check({ KEYFLEET_SUPPORTSYSTEM_TRANSPORT: "admin" });
        for (const k of ["supportsystem.url", "supportsystem.adminUser", "supportsystemAdminPassword"]) expect(problems).toContain(k);
        expect(problems).not.toMatch(/supportsystem\.(host|user|database)\b/);
        expect(check({ KEYFLEET_SUPPORTSYSTEM_TRANSPORT: "admin", KEYFLEET_SUPPORTSYSTEM_URL: "https://help.example.com", KEYFLEET_SUPPORTSYSTEM_ADMIN_USER: "kf", KEYFLEET_SUPPORTSYSTEM_ADMIN_PASSWORD: "p" })).toBe("");
    });

    it("database needs its own settings, not the panel's", () => {
        const problems = check({});
        for (const k of ["supportsystem.host", "supportsystem.user", "supportsystem.database"]) expect(problems).toContain(k);
        expect(problems).not.toMatch(/supportsystem\.url|adminUser|supportsystemAdminPassword/);
    });
});
