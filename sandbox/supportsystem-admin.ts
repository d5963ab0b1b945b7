// The SupportSystem sandbox's staff admin panel (issue 15), moved out of supportsystem.ts so that
// the panel and the ticket API can change apart; the sandbox in supportsystem.ts routes /scp/ here.
import crypto from "node:crypto";
import net from "node:net";
import type http from "node:http";
import type { Pool, RowDataPacket } from "mysql2/promise";

const esc = (v: unknown) => String(v ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface AdminRow extends RowDataPacket {
    id: number;
    isactive: number;
    ipaddr: string;
    apikey: string;
    can_create_tickets: number;
    can_exec_cron: number;
    notes: string | null;
    updated_ts: number;
    created_ts: number;
}

/**
 * The staff admin panel's login and API key pages (osTicket's scp/login.php and scp/apikeys.php),
 * in a reduced form of osTicket's HTML: the same form fields, the message areas #msg_notice,
 * #msg_error and #login-message, and osTicket's messages. Faults: expire every session, refuse the
 * next CSRF token, lose the next add's answer (done, then the connection dropped), lock the account.
 */
export class AdminPanel {
    user = "admin";
    password = "admin-password";
    readonly sessions = new Map<string, string>();
    readonly faults = { csrf: 0, lostAdd: 0, locked: false };
    logins = 0;
    private readonly pool: () => Pool;
    private readonly table: () => string;
    constructor(pool: () => Pool, table: () => string) {
        this.pool = pool;
        this.table = table;
    }

    expireSessions() {
        this.sessions.clear();
    }

    private page(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
        res.writeHead(status, { "content-type": "text/html; charset=UTF-8", ...headers });
        res.end(`<!DOCTYPE html><html><body>${body}</body></html>`);
    }

    private loginPage(res: http.ServerResponse, message: string, sid: string) {
        const token = crypto.randomBytes(16).toString("hex");
        this.sessions.set(`pre:${sid}`, token);
        this.page(res, 200, `<h3 id="login-message">${esc(message)}</h3><form action="login.php" method="post"><input type="hidden" name="__CSRFToken__" value="${token}"><input type="hidden" name="do" value="scplogin"><input name="userid"><input type="password" name="passwd"></form>`, { "set-cookie": `OSTSESSID=${sid}; path=/` });
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string) {
        const sid = /OSTSESSID=([0-9a-f]+)/.exec(req.headers.cookie ?? "")?.[1] ?? crypto.randomBytes(12).toString("hex");
        const form = new URLSearchParams(body);
        const path = url.pathname.replace(/^\/scp\//, "");
        if (path === "login.php") {
            if (req.method !== "POST") return this.loginPage(res, "Authentication Required", sid);
            if (form.get("__CSRFToken__") !== this.sessions.get(`pre:${sid}`)) return this.page(res, 400, "Invalid CSRF token [__CSRFToken__] on http://sandbox/scp/login.php");
            if (this.faults.locked) return this.loginPage(res, "Forgot your login info? Contact Admin.", sid);
            if (form.get("userid") !== this.user || form.get("passwd") !== this.password) return this.loginPage(res, "Invalid login", sid);
            this.logins++;
            const fresh = crypto.randomBytes(12).toString("hex");
            this.sessions.set(fresh, crypto.randomBytes(16).toString("hex"));
            res.writeHead(302, { location: "index.php", "set-cookie": `OSTSESSID=${fresh}; path=/` });
            return res.end();
        }
        const token = this.sessions.get(sid);
        if (!token) return this.loginPage(res, "Authentication Required", sid);
        if (path !== "apikeys.php") return this.page(res, 404, "Not Found");
        const db = this.pool();
        const t = this.table();
        if (req.method === "POST") {
            if (this.faults.csrf > 0 || form.get("__CSRFToken__") !== token) {
                if (this.faults.csrf > 0) this.faults.csrf--;
                return this.page(res, 400, "Invalid CSRF token [__CSRFToken__] on http://sandbox/scp/apikeys.php");
            }
            const flag = (n: string) => (form.get(n) ? 1 : 0);
            if (form.get("do") === "add") {
                const ip = form.get("ipaddr") ?? "";
                if (!net.isIP(ip)) return this.keyPage(res, token, undefined, "Unable to add API key. Correct error(s) below and try again.", "Valid IP is required");
                const key = crypto.randomBytes(16).toString("hex").toUpperCase();
                const [r] = await db.execute<any>(`INSERT INTO \`${t}\` (isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes, updated, created) VALUES (?, ?, ?, ?, ?, ?, NOW(), NOW())`, [form.get("isactive") === "1" ? 1 : 0, ip, key, flag("can_create_tickets"), flag("can_exec_cron"), sanitize(form.get("notes") ?? "")]);
                if (this.faults.lostAdd > 0) {
                    this.faults.lostAdd--;
                    return req.socket.destroy();
                }
                return this.keyPage(res, token, await this.row(Number(r.insertId)), "API key added successfully");
            }
            if (form.get("do") === "update") {
                const id = Number(form.get("id"));
                const [r] = await db.execute<any>(`UPDATE \`${t}\` SET isactive = ?, can_create_tickets = ?, can_exec_cron = ?, notes = ?, updated = NOW() WHERE id = ?`, [form.get("isactive") === "1" ? 1 : 0, flag("can_create_tickets"), flag("can_exec_cron"), sanitize(form.get("notes") ?? ""), id]);
                if (!r.affectedRows) return this.keyPage(res, token, undefined, "Unknown or invalid API key.");
                return this.keyPage(res, token, await this.row(id), "API key updated successfully");
            }
            if (form.get("do") === "mass_process") {
                const ids = form.getAll("ids[]").map(Number);
                if (ids.length === 0) return this.list(res, token, undefined, "You must select at least one API key");
                const a = form.get("a");
                if (a === "delete") await db.query(`DELETE FROM \`${t}\` WHERE id IN (?)`, [ids]);
                else if (a === "enable" || a === "disable") await db.query(`UPDATE \`${t}\` SET isactive = ?, updated = NOW() WHERE id IN (?)`, [a === "enable" ? 1 : 0, ids]);
                else return this.list(res, token, undefined, "Unknown action - get technical help.");
                return this.list(res, token, `Selected API keys ${a === "delete" ? "deleted" : a + "d"} successfully`);
            }
            return this.list(res, token, undefined, "Unknown action");
        }
        const id = url.searchParams.get("id");
        if (id) {
            const row = await this.row(Number(id));
            return this.keyPage(res, token, row, row ? undefined : "Unknown or invalid API key ID.");
        }
        return this.list(res, token);
    }

    private async row(id: number): Promise<AdminRow | undefined> {
        const [rows] = await this.pool().execute<AdminRow[]>(`SELECT *, UNIX_TIMESTAMP(updated) AS updated_ts, UNIX_TIMESTAMP(created) AS created_ts FROM \`${this.table()}\` WHERE id = ?`, [id]);
        return rows[0];
    }

    private messages(notice?: string, error?: string) {
        return `${notice ? `<div id="msg_notice">${esc(notice)}</div>` : ""}${error ? `<div id="msg_error">${esc(error)}</div>` : ""}`;
    }

    private async list(res: http.ServerResponse, token: string, notice?: string, error?: string) {
        const [rows] = await this.pool().query<AdminRow[]>(`SELECT *, UNIX_TIMESTAMP(created) AS created_ts FROM \`${this.table()}\` ORDER BY id`);
        const trs = rows.map((r) => `<tr><td><input type="checkbox" class="ckb" name="ids[]" value="${r.id}"></td><td><a href="apikeys.php?id=${r.id}">${esc(r.apikey)}</a></td><td>${esc(r.ipaddr)}</td><td>${r.isactive ? "Active" : "<b>Disabled</b>"}</td><td>${r.created_ts}</td></tr>`).join("");
        this.page(res, 200, `${this.messages(notice, error)}<form action="apikeys.php" method="POST" name="keys"><input type="hidden" name="__CSRFToken__" value="${token}"><input type="hidden" name="do" value="mass_process"><table class="list"><thead><tr><th></th><th>API Key</th><th>IP Address</th><th>Status</th><th>Date Added</th></tr></thead><tbody>${trs}</tbody></table></form>`);
    }

    private keyPage(res: http.ServerResponse, token: string, r: AdminRow | undefined, notice?: string, fieldError?: string) {
        const isError = !r && notice !== undefined;
        const head = isError ? this.messages(undefined, notice) : this.messages(notice);
        if (!r) return this.page(res, fieldError ? 200 : 200, `${head}<form action="apikeys.php?a=add" method="post"><input type="hidden" name="__CSRFToken__" value="${token}"><input name="ipaddr"><span class="error">${esc(fieldError ?? "")}</span></form>`);
        const c = (on: unknown) => (on ? " checked" : "");
        this.page(res, 200, `${head}<form action="apikeys.php?id=${r.id}" method="post"><input type="hidden" name="__CSRFToken__" value="${token}"><input type="hidden" name="do" value="update"><input type="hidden" name="id" value="${r.id}"><span class="ipaddr" data-ipaddr="${esc(r.ipaddr)}">${esc(r.ipaddr)}</span><span class="apikey" data-apikey="${esc(r.apikey)}">${esc(r.apikey)}</span><span data-created="${r.created_ts}" data-updated="${r.updated_ts}"></span><input type="radio" name="isactive" value="1"${c(r.isactive)}><input type="radio" name="isactive" value="0"${c(!r.isactive)}><input type="checkbox" name="can_create_tickets" value="1"${c(r.can_create_tickets)}><input type="checkbox" name="can_exec_cron" value="1"${c(r.can_exec_cron)}><textarea name="notes">${esc(r.notes)}</textarea></form>`);
    }
}

/** A stand-in for osTicket's notes sanitizer (Format::sanitize): strips tags; keyfleet's marker has no markup characters, so it survives. */
function sanitize(notes: string): string {
    return notes.replace(/<[^>]*>/g, "");
}
