// The admin-panel transport for SupportSystem keys (issue 15): the same operations as the SQL
// client (client.ts), driven through osTicket's staff panel over HTTP(S) as an administrator.
//
// Inferred from osTicket's scp/login.php, scp/apikeys.php, include/staff/apikeys.inc.php,
// include/staff/apikey.inc.php, include/class.api.php and include/class.csrf.php (read, not copied):
// - Login: GET scp/login.php gives a form with `__CSRFToken__`; POST `do=scplogin`, `userid`,
//   `passwd` and the token. Success redirects (302) with the session cookie; a failure re-renders
//   the form with a message in `#login-message` (`Invalid login`, `Access denied`, `Forgot your
//   login info?` after too many tries, i.e. a lockout). A two-factor form (`do=2fa`) is detected
//   and refused: keyfleet cannot answer it.
// - Keys: GET apikeys.php lists rows (`table.list tbody tr`, a checkbox `ids[]` per row, the key,
//   IP, status, created); GET apikeys.php?id=N shows one (its form holds the key, isactive, rights
//   and notes); POST do=add / do=update / do=mass_process (a=enable|disable|delete, ids[]).
//   Messages are in `#msg_notice`, `#msg_error` and `.error` next to fields.
// - Everything is parsed with node-html-parser; no regular expression reads HTML.
//
// One login per process and panel is shared by every key; an answer that is the login page again
// (a session that expired) logs in once more and repeats the request once. Requests are paced by
// `supportsystem.adminPaceMs`.
import { parse, type HTMLElement } from "node-html-parser";
import { callVendor, pacerFor } from "../shared/calls.ts";
import { sleep } from "../shared/clock.ts";
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
    cookie: string;
    token: string;
}

const sessions = new Map<string, Promise<Session>>();
const snapshot = new Snapshot<ApiKeyRow[]>();

/** The text of the page's message area (notice, error, warning), and the field errors. */
export function pageMessages(doc: HTMLElement): { notice?: string; error?: string; fields: string[] } {
    const text = (sel: string) => doc.querySelector(sel)?.textContent.trim() || undefined;
    return {
        notice: text("#msg_notice"),
        error: text("#msg_error") ?? text("#msg_warning"),
        fields: doc.querySelectorAll("form .error").map((e) => e.textContent.trim()).filter(Boolean),
    };
}

const isLoginPage = (doc: HTMLElement) => !!doc.querySelector('form input[name="do"][value="scplogin"]');

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

    private async pace() {
        if (this.admin.paceMs > 0) await sleep(this.admin.paceMs);
    }

    private async http(method: "GET" | "POST", path: string, session: Session | undefined, form?: [string, string][]) {
        await this.pace();
        const headers: Record<string, string> = {};
        if (session?.cookie) headers.cookie = session.cookie;
        let body: string | undefined;
        if (form) {
            headers["content-type"] = "application/x-www-form-urlencoded";
            body = new URLSearchParams(form).toString();
        }
        const res = await send({ method, url: `${this.base}/scp/${path}`, headers, body });
        return { ...res, doc: parse(res.text) };
    }

    /** Logs in once for every caller of this process; a refusal is never retried (it could lock the account). */
    private session(fresh = false): Promise<Session> {
        if (fresh) sessions.delete(this.id);
        let s = sessions.get(this.id);
        if (!s) {
            s = this.login();
            sessions.set(this.id, s);
            s.catch(() => sessions.delete(this.id));
        }
        return s;
    }

    private async login(): Promise<Session> {
        adminCalls.login++;
        const page = await this.http("GET", "login.php", undefined);
        const cookie = cookieOf(page.headers["set-cookie"]);
        const token = page.doc.querySelector('input[name="__CSRFToken__"]')?.getAttribute("value") ?? "";
        const res = await this.http("POST", "login.php", { cookie, token }, [
            ["__CSRFToken__", token],
            ["do", "scplogin"],
            ["userid", this.admin.user],
            ["passwd", this.admin.password],
        ]);
        if (res.status === 302 || res.status === 303) {
            const next = cookieOf(res.headers["set-cookie"]) || cookie;
            return this.tokenFor({ cookie: next, token });
        }
        if (res.doc.querySelector('input[name="do"][value="2fa"]')) {
            throw new VendorError("forbidden", `${this.where}: the account asks for a second factor, which keyfleet cannot give; use an administrator without two-factor login for keyfleet`);
        }
        const said = res.doc.querySelector("#login-message")?.textContent.trim() || `HTTP ${res.status}`;
        if (/locked|too many|forgot/i.test(said)) {
            throw new VendorError("forbidden", `${this.where}: the account is locked out (${said}); wait for the lockout to end, keyfleet does not retry a login`);
        }
        throw new VendorError("unauthorized", `${this.where}: login refused (${said}); check keyfleet:supportsystem.adminUser and keyfleet:supportsystemAdminPassword`);
    }

    /** The CSRF token of the logged-in session, from the list page's form. */
    private async tokenFor(s: Session): Promise<Session> {
        const res = await this.http("GET", "apikeys.php", s);
        if (isLoginPage(res.doc)) throw new VendorError("unauthorized", `${this.where}: the panel sent the login page back right after a login`);
        const token = res.doc.querySelector('input[name="__CSRFToken__"]')?.getAttribute("value");
        if (!token) throw new VendorError("invalidAnswer", `${this.where}: the key list has no CSRF token`);
        return { cookie: s.cookie, token };
    }

    /** One request in the session; a login page back (expired session) logs in again once and repeats it once. */
    private async request(method: "GET" | "POST", path: string, form?: [string, string][]) {
        for (let attempt = 1; ; attempt++) {
            const s = await this.session(attempt > 1);
            const withToken = form ? [["__CSRFToken__", s.token] as [string, string], ...form] : undefined;
            const res = await this.http(method, path, s, withToken);
            if ((isLoginPage(res.doc) || res.status === 302) && attempt === 1) continue;
            if (isLoginPage(res.doc)) throw new VendorError("unauthorized", `${this.where}: the session ended again right after a login`);
            if (res.status === 400 && /CSRF|Invalid CSRF/i.test(res.text)) {
                if (attempt === 1) continue;
                throw new VendorError("rejected", `${this.where}: the CSRF token was refused (${res.text.trim().slice(0, 200)})`, { notProcessed: true });
            }
            if (res.status === 403) throw new VendorError("forbidden", `${this.where}: access denied; the account must be an administrator`);
            if (res.status >= 500) throw new VendorError("unavailable", `${this.where}: HTTP ${res.status}`, { code: res.status });
            return res;
        }
    }

    private call<T>(idempotent: boolean, attempt: () => Promise<T>): Promise<T> {
        return callVendor({ idempotent, pacer: pacerFor(`supportsystem-admin-call\0${this.id}`) }, attempt);
    }

    /** The ids on the list page (one request; the page shows no rights or notes). */
    private async ids(): Promise<number[]> {
        adminCalls.list++;
        const res = await this.request("GET", "apikeys.php");
        return res.doc.querySelectorAll('table.list tbody input[name="ids[]"]').map((i) => Number(i.getAttribute("value")));
    }

    /** Every key: one walk of the list page, then each key's page. */
    async list(): Promise<ApiKeyRow[]> {
        return snapshot.get(this.id, () =>
            this.call(true, async () => {
                const rows: ApiKeyRow[] = [];
                for (const id of await this.ids()) {
                    const row = await this.fetchOne(id);
                    if (row) rows.push(row);
                }
                return rows;
            }),
        );
    }

    private async fetchOne(id: number): Promise<ApiKeyRow | undefined> {
        adminCalls.get++;
        const res = await this.request("GET", `apikeys.php?id=${id}`);
        const form = res.doc.querySelector("form#apikey, form.apikey, form");
        const m = pageMessages(res.doc);
        if (m.error && /Unknown or invalid/i.test(m.error)) return undefined;
        if (res.status === 404) return undefined;
        const key = res.doc.querySelector("[data-apikey]")?.getAttribute("data-apikey") ?? res.doc.querySelector(".apikey")?.textContent.trim();
        if (!form || !key) throw new VendorError("invalidAnswer", `${this.where}: the page of key ${id} shows no key`);
        const checked = (name: string, value?: string) =>
            form.querySelectorAll(`input[name="${name}"]`).some((i) => i.hasAttribute("checked") && (value === undefined || i.getAttribute("value") === value));
        const attr = (sel: string, a: string) => res.doc.querySelector(sel)?.getAttribute(a) ?? "";
        return {
            id,
            apikey: key,
            ipaddr: attr("[data-ipaddr]", "data-ipaddr") || (res.doc.querySelector(".ipaddr")?.textContent.trim() ?? ""),
            isactive: checked("isactive", "1"),
            canCreateTickets: checked("can_create_tickets"),
            canExecCron: checked("can_exec_cron"),
            notes: form.querySelector('textarea[name="notes"]')?.textContent ?? null,
            created: new Date(Number(attr("[data-created]", "data-created")) * 1000).toISOString(),
            updated: new Date(Number(attr("[data-updated]", "data-updated")) * 1000).toISOString(),
        };
    }

    async get(id: number): Promise<ApiKeyRow | undefined> {
        return (await this.list()).find((r) => r.id === id);
    }

    /**
     * Adds a key (the help desk draws its value; `row.apikey` is ignored). An answer lost on the way
     * back is settled by the list page: the key with this marker and address that was not there
     * before is the one made, so the add is never sent twice.
     */
    async insert(row: NewApiKeyRow): Promise<ApiKeyRow> {
        // The list page alone tells which ids are new: only their pages are read afterwards, so n adds
        // cost n list pages, not n walks of every key's page.
        const before = new Set(await this.call(true, () => this.ids()));
        // By the marker, which the help desk's sanitizer leaves alone (no markup characters in it), and the address.
        const tag = (notes: string | null) => (notes ?? "").match(/\[keyfleet:[^\]]*\]/g)?.pop();
        const mine = (r: ApiKeyRow) => r.ipaddr === row.ipaddr && tag(r.notes) === tag(row.notes);
        try {
            adminCalls.add++;
            const res = await this.request("POST", "apikeys.php?a=add", [
                ["do", "add"],
                ["a", "add"],
                ["isactive", row.isactive ? "1" : "0"],
                ["ipaddr", row.ipaddr],
                ...(row.canCreateTickets ? [["can_create_tickets", "1"] as [string, string]] : []),
                ...(row.canExecCron ? [["can_exec_cron", "1"] as [string, string]] : []),
                ["notes", row.notes ?? ""],
            ]);
            this.refuse(res.doc, "add");
        } catch (err) {
            if (!(err instanceof VendorError) || err.kind !== "outcomeUnknown") throw err;
        } finally {
            snapshot.forget();
        }
        const fresh = (await this.call(true, () => this.ids())).filter((id) => !before.has(id)).sort((a, b) => b - a);
        for (const id of fresh) {
            const made = await this.call(true, () => this.fetchOne(id));
            if (made && mine(made)) return made;
        }
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
        const current = await this.get(id);
        if (!current) throw new VendorError("notFound", `${this.where}: Unknown or invalid API key ID ${id}`);
        const next = { ...current, ...changes };
        adminCalls.update++;
        const res = await this.call(true, () =>
            this.request("POST", `apikeys.php?id=${id}`, [
                ["do", "update"],
                ["id", String(id)],
                ["isactive", next.isactive ? "1" : "0"],
                ...(next.canCreateTickets ? [["can_create_tickets", "1"] as [string, string]] : []),
                ...(next.canExecCron ? [["can_exec_cron", "1"] as [string, string]] : []),
                ["notes", next.notes ?? ""],
            ]),
        );
        snapshot.forget();
        this.refuse(res.doc, "update");
        const row = await this.get(id);
        if (!row) throw new VendorError("notFound", `${this.where}: key ${id} is gone`);
        return row;
    }

    async delete(id: number): Promise<boolean> {
        const exists = await this.get(id);
        if (!exists) return false;
        adminCalls.mass++;
        const res = await this.call(true, () => this.request("POST", "apikeys.php", [["do", "mass_process"], ["a", "delete"], ["ids[]", String(id)]]));
        snapshot.forget();
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

function cookieOf(header: string | string[] | undefined): string {
    const all = Array.isArray(header) ? header : header ? [header] : [];
    return all.map((c) => c.split(";")[0]).join("; ");
}

/** Forgets every session (tests). */
export function forgetSessions() {
    sessions.clear();
    snapshot.forget();
}
