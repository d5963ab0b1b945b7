// The admin-panel transport for SupportSystem keys (issue 15): the same operations as the SQL
// client (client.ts), driven through osTicket's staff panel over HTTP(S) as an administrator.
//
// Read from osTicket 1.18.x's scp/login.php, include/staff/login.tpl.php, scp/staff.inc.php,
// scp/apikeys.php, include/staff/apikeys.inc.php, include/staff/apikey.inc.php,
// include/staff/header.inc.php, include/class.api.php, include/class.csrf.php (read, not copied);
// only what those pages carry is read, with node-html-parser (no regular expression reads HTML):
// - Login: GET login.php gives form#login with `__CSRFToken__`; POST `do=scplogin`, `userid`,
//   `passwd` and the token. A 302 to any page but login.php is a login; a 302 to login.php is a
//   refusal told on the next login page (`Valid CSRF Token Required`) or a two-factor form
//   (`do=2fa`, refused: keyfleet cannot answer it); a 200 is the form again with the reason in
//   `#login-message` (`Access denied`; a lockout says `Maximum failed login attempts reached` or
//   `Forgot your login info? Contact Admin.`, and is never retried).
// - The session is the cookie the panel sets; it sets a new one on a GET 10 s after a login
//   (TIME_BOMB), so every Set-Cookie of every answer is taken. The CSRF token is the page head's
//   `<meta name="csrf_token">` (one per session).
// - An expired session answers 302 to /scp/login.php: log in once more, repeat the request once. A
//   POST with a stale token answers 400 `Valid CSRF Token Required`: the token is read again and
//   the request repeated once. A 302 elsewhere (index.php) means the account is not an administrator.
// - The list (apikeys.php, PAGE_LIMIT rows a page, `p=N` links): per row `tr`, the checkbox `ids[]`
//   value is the id, the link `apikeys.php?id=N` has the key as its text, then the IP, the status
//   (`Active` / `Disabled`), the date added and the last update, in that cell order.
// - A key's page (apikeys.php?id=N, form.save): the `isactive` radio, the `can_create_tickets` and
//   `can_exec_cron` checkboxes and the `notes` textarea (HTML-escaped: its text is the stored note).
// - Messages: `#msg_error`, `#msg_notice`, `#msg_warning` in `#content`, and `.error` next to a field.
// Inferred (the pages do not say):
// - The dates are printed in the help desk's date settings and its time zone; keyfleet reads the
//   locale defaults of en_US (`M/d/yy`, `M/d/yy h:mm a`; also 4-digit years, 24-hour times and
//   `Y-m-d[ H:i[:s]]`) as UTC. Another format fails with a message naming the cell.
// - The list shows only the day a key was added: `created` is taken as the end of that day, or the
//   last update if earlier, so a rotation by age is never early (at most a day late).
//
// One login per process and panel is shared by every key. Requests are paced by
// `supportsystem.adminPaceMs`.
import { parseSetCookie, stringifyCookie } from "cookie";
import { parse, type HTMLElement } from "node-html-parser";
import { callVendor, pacerFor } from "../shared/calls.ts";
import { VendorError } from "../shared/errors.ts";
import { Snapshot } from "../shared/snapshot.ts";
import { send } from "../shared/wire.ts";
import type { ApiKeyChanges, ApiKeyRow, NewApiKeyRow } from "./client.ts";

export interface SupportSystemAdmin {
    /** The help desk's base URL (the staff panel is under /scp). */
    url: string;
    user: string;
    password: string;
    /** Milliseconds between two requests to the panel. */
    paceMs: number;
}

/** Requests sent by this process, for tests. */
export const adminCalls = { login: 0, list: 0, get: 0, add: 0, update: 0, mass: 0 };

interface Session {
    /** The panel's cookies, updated from every answer (the session id changes after a login). */
    jar: Record<string, string>;
    token: string;
}

const sessions = new Map<string, Promise<Session>>();
const snapshot = new Snapshot<ApiKeyRow[]>();

/** The text of the page's message area (one of error, notice, warning), and the field errors. */
export function pageMessages(doc: HTMLElement): { notice?: string; error?: string; fields: string[] } {
    const text = (sel: string) => doc.querySelector(sel)?.text.trim() || undefined;
    return {
        notice: text("#msg_notice"),
        error: text("#msg_error") ?? text("#msg_warning"),
        // A required field's `.error` holds a bare "*" until there is something to say.
        fields: doc.querySelectorAll("form .error").map((e) => e.text.replace(/^\s*\*/, "").trim()).filter(Boolean),
    };
}

const pathOf = (location: string) => new URL(location, "http://panel/scp/").pathname;
const toLogin = (location: string | undefined) => !!location && pathOf(location).endsWith("/login.php");
const CSRF_REFUSED = /CSRF Token/i;

/** A row of the list page, before its key's page is read. */
interface ListRow {
    id: number;
    apikey: string;
    ipaddr: string;
    isactive: boolean;
    created: string;
    updated: string;
}

/** A date or date and time as the list prints it (see the header: inferred formats, read as UTC). */
export function panelDate(text: string): { at: number; dayOnly: boolean } | undefined {
    const t = text.replace(/\u00a0/g, " ").trim();
    let y: number, mo: number, d: number;
    let rest: string;
    const us = /^(\d{1,2})\/(\d{1,2})\/(\d{2}|\d{4}),?(.*)$/.exec(t);
    const iso = /^(\d{4})-(\d{2})-(\d{2})[ T]?(.*)$/.exec(t);
    if (us) [mo, d, y, rest] = [Number(us[1]), Number(us[2]), us[3].length === 2 ? 2000 + Number(us[3]) : Number(us[3]), us[4]];
    else if (iso) [y, mo, d, rest] = [Number(iso[1]), Number(iso[2]), Number(iso[3]), iso[4]];
    else return undefined;
    rest = rest.trim();
    let h = 0, mi = 0, s = 0;
    if (rest) {
        const tm = /^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$/.exec(rest);
        if (!tm) return undefined;
        [h, mi, s] = [Number(tm[1]), Number(tm[2]), Number(tm[3] ?? 0)];
        if (tm[4]) h = (h % 12) + (/p/i.test(tm[4]) ? 12 : 0);
    }
    const at = Date.UTC(y, mo - 1, d, h, mi, s);
    return Number.isNaN(at) ? undefined : { at, dayOnly: !rest };
}

export class SupportSystemAdminClient {
    readonly admin: SupportSystemAdmin;
    private readonly base: string;
    private readonly id: string;

    constructor(admin: SupportSystemAdmin) {
        this.admin = admin;
        this.base = admin.url.replace(/\/+$/, "");
        this.id = `${this.base}\0${admin.user}`;
    }

    get where(): string {
        return `the admin panel at ${this.base}/scp as ${this.admin.user}`;
    }

    /**
     * The panel's pace, one queue per panel and account shared by every caller in the process: a
     * sleep per request would let parallel resources send together, a burst the pace is there to
     * avoid (osTicket has no rate limit of its own; the pace spares a small help desk's web server).
     */
    private async pace() {
        if (this.admin.paceMs > 0) await pacerFor(`supportsystem-admin-pace\0${this.id}`, { perSecond: 1000 / this.admin.paceMs }).slot();
    }

    private async http(method: "GET" | "POST", path: string, session: Session, form?: [string, string][]) {
        await this.pace();
        const headers: Record<string, string> = {};
        if (Object.keys(session.jar).length) headers.cookie = stringifyCookie(session.jar);
        let body: string | undefined;
        if (form) {
            headers["content-type"] = "application/x-www-form-urlencoded";
            body = new URLSearchParams(form).toString();
        }
        const res = await send({ method, url: `${this.base}/scp/${path}`, headers, body });
        const set = res.headers["set-cookie"];
        for (const line of Array.isArray(set) ? set : set ? [set] : []) {
            const c = parseSetCookie(line);
            if (c.name) session.jar[c.name] = c.value ?? "";
        }
        const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
        // The list template leaves tbody open before tfoot: without parseNoneClosedTags the parser drops the table.
        return { ...res, location, doc: parse(res.text, { parseNoneClosedTags: true }) };
    }

    /** Logs in once for every caller of this process; a refusal is never retried (it could lock the account). */
    private session(fresh = false): Promise<Session> {
        if (fresh) sessions.delete(this.id);
        let s = sessions.get(this.id);
        if (!s) {
            s = this.login();
            sessions.set(this.id, s);
            const mine = s;
            // Only this login's failure forgets it: a newer login may have taken its place meanwhile.
            s.catch(() => {
                if (sessions.get(this.id) === mine) sessions.delete(this.id);
            });
        }
        return s;
    }

    /**
     * A new login after `stale` ended, shared by every request that saw it end: requests in flight
     * together (parallel resources) log in once, not once each.
     */
    private relogin(stale: Promise<Session>): Promise<Session> {
        return this.session(sessions.get(this.id) === stale);
    }

    private async login(): Promise<Session> {
        adminCalls.login++;
        const s: Session = { jar: {}, token: "" };
        const page = await this.http("GET", "login.php", s);
        const token = page.doc.querySelector('form#login input[name="__CSRFToken__"]')?.getAttribute("value");
        if (!token) throw new VendorError("invalidAnswer", `${this.where}: login.php shows no login form (HTTP ${page.status}); check keyfleet:supportsystem.url (the help desk's address, without /scp)`);
        const res = await this.http("POST", "login.php", s, [
            ["__CSRFToken__", token],
            ["do", "scplogin"],
            ["userid", this.admin.user],
            ["passwd", this.admin.password],
        ]);
        let doc = res.doc;
        if (res.status === 302 || res.status === 303) {
            if (!toLogin(res.location)) return this.tokenFor(s);
            // Back to login.php: the next login page tells why (or asks for a second factor).
            doc = (await this.http("GET", "login.php", s)).doc;
        }
        if (doc.querySelector('input[name="do"][value="2fa"]')) {
            throw new VendorError("forbidden", `${this.where}: the account asks for a second factor, which keyfleet cannot give; use an administrator without two-factor login for keyfleet`);
        }
        const said = doc.querySelector("#login-message")?.text.trim() || `HTTP ${res.status}`;
        if (/maximum failed login|forgot your login info|locked/i.test(said)) {
            throw new VendorError("forbidden", `${this.where}: the account is locked out (${said}); wait for the lockout to end (Admin Panel > Settings > Agents: login timeout), keyfleet does not retry a login`);
        }
        if (CSRF_REFUSED.test(said)) {
            throw new VendorError("rejected", `${this.where}: login refused (${said}); the panel kept no session between the login page and the login, check that keyfleet:supportsystem.url is the address the panel's cookie is set for`, { notProcessed: true });
        }
        throw new VendorError("unauthorized", `${this.where}: login refused (${said}); check keyfleet:supportsystem.adminUser and keyfleet:supportsystemAdminPassword`);
    }

    /** The session's CSRF token, from the head of a staff page. */
    private async tokenFor(s: Session): Promise<Session> {
        const res = await this.http("GET", "apikeys.php", s);
        if (res.status === 302 && toLogin(res.location)) throw new VendorError("unauthorized", `${this.where}: the panel sent the login page back right after a login`);
        if (res.status === 302) throw new VendorError("forbidden", `${this.where}: API keys are for administrators and the panel sent this account to ${pathOf(res.location ?? "")}; make ${this.admin.user} an administrator`);
        const token = res.doc.querySelector('meta[name="csrf_token"]')?.getAttribute("content") ?? res.doc.querySelector('input[name="__CSRFToken__"]')?.getAttribute("value");
        if (!token) throw new VendorError("invalidAnswer", `${this.where}: the API keys page has no CSRF token`);
        s.token = token;
        return s;
    }

    /**
     * One request in the session: a redirect to the login page (expired session) logs in again once
     * and repeats it once; a refused CSRF token is read again and the request repeated once.
     */
    private async request(method: "GET" | "POST", path: string, form?: [string, string][]) {
        let relogged = false;
        let retoken = false;
        for (;;) {
            const current = this.session();
            const s = await current;
            const withToken = form ? [["__CSRFToken__", s.token] as [string, string], ...form] : undefined;
            const res = await this.http(method, path, s, withToken);
            if (res.status === 302 && toLogin(res.location)) {
                if (relogged) throw new VendorError("unauthorized", `${this.where}: the session ended again right after a login`);
                relogged = true;
                await this.relogin(current);
                continue;
            }
            if (res.status === 302) throw new VendorError("forbidden", `${this.where}: the panel sent ${path} to ${pathOf(res.location ?? "")}; the account must be an administrator`);
            if (res.status === 400 && CSRF_REFUSED.test(res.text)) {
                if (retoken) throw new VendorError("rejected", `${this.where}: the CSRF token was refused twice (${res.text.trim().slice(0, 100)})`, { notProcessed: true });
                retoken = true;
                await this.tokenFor(s);
                continue;
            }
            if (res.status === 403) throw new VendorError("forbidden", `${this.where}: access denied; the account must be an administrator`);
            if (res.status >= 500) throw new VendorError("unavailable", `${this.where}: HTTP ${res.status}`, { code: res.status });
            return res;
        }
    }

    private call<T>(idempotent: boolean, attempt: () => Promise<T>): Promise<T> {
        return callVendor({ idempotent, pacer: pacerFor(`supportsystem-admin-call\0${this.id}`) }, attempt);
    }

    /** The rows of one list page, in the template's cell order. */
    private listRows(doc: HTMLElement): ListRow[] {
        // Not through tbody: the template leaves it open before tfoot.
        return doc.querySelectorAll("table.list tr").flatMap((tr) => {
            const box = tr.querySelector('input[name="ids[]"]');
            if (!box) return [];
            const id = Number(box.getAttribute("value"));
            const cells = tr.querySelectorAll("td");
            const link = tr.querySelector('a[href^="apikeys.php?id="]');
            const cell = (i: number) => cells[i]?.text.replace(/\u00a0/g, " ").trim() ?? "";
            const added = panelDate(cell(4));
            const updated = panelDate(cell(5));
            if (!Number.isInteger(id) || !link || !added || !updated) {
                throw new VendorError("invalidAnswer", `${this.where}: row ${box.getAttribute("value")} of the key list is not id, key, IP, status, date added, last updated (date cells "${cell(4)}", "${cell(5)}"); set the help desk's date format to the locale default (en_US)`);
            }
            // Only the day is shown: the end of it, or the last update if that is earlier (see the header).
            const created = added.dayOnly ? Math.min(added.at + 86_399_000, Math.max(updated.at, added.at)) : added.at;
            return [{ id, apikey: link.text.trim(), ipaddr: cell(2), isactive: cell(3) === "Active", created: new Date(created).toISOString(), updated: new Date(updated.at).toISOString() }];
        });
    }

    /** Every row of the list: page 1, then each page its links name (one walk). */
    private async listed(): Promise<ListRow[]> {
        adminCalls.list++;
        const first = await this.request("GET", "apikeys.php");
        const rows = this.listRows(first.doc);
        const pages = first.doc
            .querySelectorAll('form[name="keys"] a[href]')
            .map((a) => Number(new URL(a.getAttribute("href")!, "http://panel/scp/").searchParams.get("p")))
            .filter((p) => Number.isInteger(p) && p > 1);
        for (let p = 2; p <= Math.max(1, ...pages); p++) {
            adminCalls.list++;
            rows.push(...this.listRows((await this.request("GET", `apikeys.php?p=${p}`)).doc));
        }
        const seen = new Set<number>();
        return rows.filter((r) => !seen.has(r.id) && seen.add(r.id));
    }

    /** Every key: one walk of the list, then each key's page (the list shows no rights or notes). */
    async list(): Promise<ApiKeyRow[]> {
        return snapshot.get(this.id, () =>
            this.call(true, async () => {
                const rows: ApiKeyRow[] = [];
                for (const r of (await this.listed()).sort((a, b) => a.id - b.id)) {
                    const row = await this.fetchOne(r);
                    if (row) rows.push(row);
                }
                return rows;
            }),
        );
    }

    /** The key's page: status, rights and notes, over its list row. */
    private async fetchOne(r: ListRow): Promise<ApiKeyRow | undefined> {
        adminCalls.get++;
        const res = await this.request("GET", `apikeys.php?id=${r.id}`);
        const form = res.doc.querySelector("form.save");
        const m = pageMessages(res.doc);
        if (m.error && /Unknown or invalid/i.test(m.error)) return undefined;
        if (!form || !form.querySelector('input[name="do"][value="update"]')) throw new VendorError("invalidAnswer", `${this.where}: the page of key ${r.id} shows no edit form`);
        const checked = (name: string, value?: string) =>
            form.querySelectorAll(`input[name="${name}"]`).some((i) => i.hasAttribute("checked") && (value === undefined || i.getAttribute("value") === value));
        const notes = form.querySelector('textarea[name="notes"]')?.text ?? "";
        return {
            id: r.id,
            apikey: r.apikey,
            ipaddr: r.ipaddr,
            isactive: checked("isactive", "1"),
            canCreateTickets: checked("can_create_tickets"),
            canExecCron: checked("can_exec_cron"),
            notes: notes === "" ? null : notes,
            created: r.created,
            updated: r.updated,
        };
    }

    async get(id: number): Promise<ApiKeyRow | undefined> {
        return (await this.list()).find((r) => r.id === id);
    }

    /**
     * One key now, whatever the snapshot: the list (for its key, IP and dates) and its page only.
     * Writes use it, so that n updates in a run cost n short reads, not n walks of every key's page.
     */
    private async one(id: number): Promise<ApiKeyRow | undefined> {
        const listed = (await this.call(true, () => this.listed())).find((r) => r.id === id);
        return listed && (await this.call(true, () => this.fetchOne(listed)));
    }

    /**
     * Adds a key (the help desk draws its value; `row.apikey` is ignored). An answer lost on the way
     * back, or a CSRF refusal that may have come after the add was done, is settled by the list: the
     * key with this marker and address that was not there before is the one made, so the add is
     * never sent twice.
     */
    async insert(row: NewApiKeyRow): Promise<ApiKeyRow> {
        // The list alone tells which ids are new: only their pages are read afterwards, so n adds
        // cost n list walks, not n walks of every key's page.
        const before = new Set((await this.call(true, () => this.listed())).map((r) => r.id));
        // By the marker, which the help desk's sanitizer leaves alone (no markup characters in it), and the address.
        const tag = (notes: string | null) => (notes ?? "").match(/\[keyfleet:[^\]]*\]/g)?.pop();
        const mine = (r: ApiKeyRow) => r.ipaddr === row.ipaddr && tag(r.notes) === tag(row.notes);
        let refused: VendorError | undefined;
        try {
            adminCalls.add++;
            const res = await this.request("POST", "apikeys.php?a=add", [
                ["do", "add"],
                ["a", "add"],
                ["id", ""],
                ["isactive", row.isactive ? "1" : "0"],
                ["ipaddr", row.ipaddr],
                ...(row.canCreateTickets ? [["can_create_tickets", "1"] as [string, string]] : []),
                ...(row.canExecCron ? [["can_exec_cron", "1"] as [string, string]] : []),
                ["notes", row.notes ?? ""],
            ]);
            this.refuse(res.doc, "add");
        } catch (err) {
            if (!(err instanceof VendorError)) throw err;
            // A refused token may be the answer to a second try of an add the first try made.
            if (err.kind === "rejected" && CSRF_REFUSED.test(err.message)) refused = err;
            else if (err.kind !== "outcomeUnknown") throw err;
        } finally {
            snapshot.forget();
        }
        const fresh = (await this.call(true, () => this.listed())).filter((r) => !before.has(r.id)).sort((a, b) => b.id - a.id);
        for (const r of fresh) {
            const made = await this.call(true, () => this.fetchOne(r));
            if (made && mine(made)) return made;
        }
        if (refused) throw refused;
        throw new VendorError("unavailable", `${this.where}: the key was not added`, { notProcessed: true });
    }

    /** Field errors and error messages as the core's kinds. */
    private refuse(doc: HTMLElement, what: string) {
        const m = pageMessages(doc);
        const all = [m.error, ...m.fields].filter(Boolean).join("; ");
        if (!all) return;
        if (/Unknown or invalid/i.test(all)) throw new VendorError("notFound", `${this.where}: ${all}`);
        if (/already exists/i.test(all)) throw new VendorError("conflict", `${this.where}: ${all}`);
        throw new VendorError("rejected", `${this.where} refused the ${what}: ${all}`, { notProcessed: true });
    }

    async update(id: number, changes: ApiKeyChanges): Promise<ApiKeyRow> {
        const current = await this.one(id);
        if (!current) throw new VendorError("notFound", `${this.where}: API Key: Unknown or invalid ID (${id})`);
        const next = { ...current, ...changes };
        adminCalls.update++;
        const res = await this.call(true, () =>
            this.request("POST", `apikeys.php?id=${id}`, [
                ["do", "update"],
                ["a", ""],
                ["id", String(id)],
                ["isactive", next.isactive ? "1" : "0"],
                ...(next.canCreateTickets ? [["can_create_tickets", "1"] as [string, string]] : []),
                ...(next.canExecCron ? [["can_exec_cron", "1"] as [string, string]] : []),
                ["notes", next.notes ?? ""],
            ]),
        );
        snapshot.forget();
        this.refuse(res.doc, "update");
        const row = await this.one(id);
        if (!row) throw new VendorError("notFound", `${this.where}: key ${id} is gone`);
        return row;
    }

    async delete(id: number): Promise<boolean> {
        if (!(await this.call(true, () => this.listed())).some((r) => r.id === id)) return false;
        adminCalls.mass++;
        const res = await this.call(true, () => this.request("POST", "apikeys.php", [["do", "mass_process"], ["a", "delete"], ["ids[]", String(id)]]));
        snapshot.forget();
        const m = pageMessages(res.doc);
        // Deleted meanwhile (by someone else, or a first try whose answer was lost): gone is done.
        if (m.error && /Unable to delete/i.test(m.error) && !(await this.listed()).some((r) => r.id === id)) return true;
        this.refuse(res.doc, "delete");
        return true;
    }

    /**
     * The panel's clock is not exposed; lost creates are matched against the `created` it shows,
     * which is real time, so this is the real time too (not the core's clock, which a run may offset).
     */
    async now(): Promise<number> {
        return Date.now();
    }
}

/** Forgets every session (tests). */
export function forgetSessions() {
    sessions.clear();
    snapshot.forget();
}

/** Forgets the list read in this run, keeping the session (tests). */
export function forgetSnapshot() {
    snapshot.forget();
}
