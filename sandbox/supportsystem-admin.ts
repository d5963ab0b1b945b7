// The SupportSystem sandbox's staff admin panel (issue 15): osTicket's scp/login.php and
// scp/apikeys.php over the same key table the sandbox's API checks. The sandbox in supportsystem.ts
// routes /scp/ here.
//
// Rebuilt from osTicket 1.18.x (github:osTicket/osTicket, identical on develop; read, not copied):
// - scp/staff.inc.php: a staff page without a logged-in session answers 302 to /scp/login.php,
//   remembering the page as the destination and the message (`Authentication Required`, or
//   `Session timed out due to inactivity` for a session that ended). A POST with a wrong
//   `__CSRFToken__` (or none) answers 400 `Valid CSRF Token Required`, as plain text.
// - include/class.csrf.php: one token per session, kept for the session's life (no timeout); a
//   failed login rotates it (scp/login.php).
// - scp/login.php + include/staff/login.tpl.php: `#login-message`, form#login with the token,
//   `do=scplogin`, `userid`, `passwd`. A wrong token: 302 back to login.php with `Valid CSRF Token
//   Required`. Refused credentials: the form again (200) with the reason (`Access denied`; a
//   lockout says `Maximum failed login attempts reached`, class.auth.php's strike backend). Success:
//   302 to the remembered page or index.php; with two-factor login the 302 goes to login.php, which
//   shows `2FA Pending` and a form with `do=2fa`.
// - include/class.auth.php + class.usersession.php: the session id changes on the first GET 10 s
//   after a login (TIME_BOMB); the old id lives 60 s more (osTicketSession::regenerate).
// - include/staff/header.inc.php: the page head carries `<meta name="csrf_token">`; the message area
//   in `#content` is ONE of #msg_error, #msg_notice, #msg_warning.
// - scp/admin.inc.php: an agent who is not an administrator gets `Location: index.php`.
// - scp/apikeys.php: its messages and which page follows (a successful add shows the list).
// - include/staff/apikeys.inc.php: the list, sorted by key descending, PAGE_LIMIT rows a page with
//   `apikeys.php?&amp;p=N` links; a row is `tr#<id>`: checkbox `ids[]`, a link
//   `apikeys.php?id=<id>` whose text is the key, the IP, `Active` or `<b>Disabled</b>`, the date
//   added (Format::date) and the last update (Format::datetime).
// - include/staff/apikey.inc.php: the add/edit form `form.save`; on edit the IP and the key are
//   plain text cells (no field), the status radios, the two service checkboxes and the notes
//   textarea, printed with Format::htmlchars(…, true) (sanitized again, then HTML-escaped).
// - include/class.api.php: the key is strtoupper(md5(…)), 32 hex digits; `Valid IP is required`;
//   notes are stored through Format::sanitize (see sanitizeNotes below).
// Dates are printed in the sandbox's settings: locale en_US defaults (IntlDateFormatter SHORT:
// `M/d/yy` and `M/d/yy h:mm a`), time zone UTC.
import crypto from "node:crypto";
import net from "node:net";
import type http from "node:http";
import { parseCookie, stringifySetCookie } from "cookie";
import type { Pool, RowDataPacket } from "mysql2/promise";
import sanitizeHtml from "sanitize-html";

/** Format::htmlchars: htmlspecialchars(ENT_COMPAT | ENT_HTML401, double_encode = false). */
const htmlchars = (v: unknown) =>
    String(v ?? "")
        .replace(/&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);)/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;");

/** Format::htmldecode: htmlspecialchars_decode(ENT_COMPAT | ENT_HTML401), one pass. */
const htmldecode = (v: string) => v.replace(/&(amp|lt|gt|quot);/g, (_m, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"' })[e]!);

// Every HTML element htmLawed knows, less those Format::safe_html denies: `elements` is
// `*-form-input-button` and `safe` = 1 drops applet, embed, iframe, object and script. A denied
// tag is removed and its content kept (htmLawed), except script/style/head, whose sections
// safe_html cuts out whole beforehand.
const DENIED = new Set(["form", "input", "button", "applet", "embed", "iframe", "object", "script", "style", "head"]);
const ELEMENTS = (
    "a abbr acronym address area article aside audio b bdi bdo big blockquote br caption center cite code col colgroup " +
    "command data datalist dd del details dfn dir div dl dt em fieldset figcaption figure font footer h1 h2 h3 h4 h5 h6 " +
    "header hgroup hr i img ins isindex kbd keygen label legend li link main map mark menu meta meter nav noscript ol " +
    "optgroup option output p param pre progress q rb rbc rp rt rtc ruby s samp section select small source span strike " +
    "strong sub summary sup table tbody td textarea tfoot th thead time tr track tt u ul var video wbr"
)
    .split(" ")
    .filter((t) => !DENIED.has(t));
/** Elements html_balance keeps when empty (its $eE list); any other empty element is removed. */
const KEEP_EMPTY = new Set(["area", "br", "col", "embed", "iframe", "hr", "img", "input", "isindex", "param", "div"]);

/** safe_html's `schemes`: per attribute, `*` for any other URL attribute. */
const SCHEMES: Record<string, string[]> = {
    href: ["aim", "feed", "file", "ftp", "gopher", "http", "https", "irc", "mailto", "news", "nntp", "sftp", "ssh", "telnet"],
    src: ["cid", "http", "https", "data"],
    "*": ["file", "http", "https"],
};

/** Format::__html_cleanup's style rule: drop unset, browser-specific (`-…`) and `mso-` properties and repeats. */
function cleanStyle(style: string): string | undefined {
    const seen = new Set<string>();
    const kept: string[] = [];
    for (const s of style.split(/;\s*/)) {
        const [prop = "", val = ""] = s.split(":");
        if (seen.has(prop)) continue;
        seen.add(prop);
        if (!val || !prop || prop.startsWith("-") || prop.startsWith("mso-")) continue;
        kept.push(`${prop}:${(val.includes(" ") ? val.replace(/"/g, "'") : val.replace(/"/g, "")).trim()}`);
    }
    return kept.length ? kept.join(";") : undefined;
}

/**
 * Format::sanitize (include/class.format.php), which API::save applies to `notes`: safe_html decodes
 * the basic entities, cuts head/style/script sections, balances the markup through libxml
 * (html_balance: empty elements removed) and runs htmLawed with safe = 1, comments removed, denied
 * elements and the attributes `id, formaction, action, on*` dropped, the URL schemes below, classes
 * other than `Mso…` dropped (__html_cleanup) and tidy = -1, which compacts every run of white space
 * (line breaks included) into one space outside pre and textarea. sanitize-html does the parsing and
 * filtering; the compaction is htmLawed's own substitution (hl_tidy), reproduced as it is.
 */
export function sanitizeNotes(text: string): string {
    const html = sanitizeHtml(htmldecode(text), {
        allowedTags: ELEMENTS,
        allowedAttributes: false,
        nonTextTags: ["script", "style", "head"],
        // The schemes are checked in transformTags, as htmLawed does: per attribute, and a denied one
        // is kept prefixed with `denied:`, so sanitize-html's own check lets every one through.
        allowedSchemes: ["denied", ...new Set(Object.values(SCHEMES).flat())],
        allowedSchemesAppliedToAttributes: ["href", "src"],
        transformTags: {
            "*": (tagName, attribs) => {
                const out: Record<string, string> = {};
                for (const [k, v] of Object.entries(attribs)) {
                    const name = k.toLowerCase();
                    if (name === "id" || name === "formaction" || name === "action" || name.startsWith("on")) continue;
                    if (name === "class") {
                        const mso = v.split(" ").filter((c) => c.startsWith("Mso"));
                        if (mso.length) out.class = mso.join(" ");
                        continue;
                    }
                    if (name === "style") {
                        const style = cleanStyle(v);
                        if (style) out.style = style;
                        continue;
                    }
                    const scheme = /^\s*([a-z][a-z0-9+.-]*):/i.exec(v)?.[1]?.toLowerCase();
                    const allowed = SCHEMES[name] ?? SCHEMES["*"];
                    if (scheme && (name === "href" || name === "src" || name === "cite" || name === "action") && !allowed.includes(scheme)) out[k] = `denied:${v}`;
                    else out[k] = v;
                }
                return { tagName, attribs: out };
            },
        },
        exclusiveFilter: (frame) => !KEEP_EMPTY.has(frame.tag) && frame.text.trim() === "" && !frame.mediaChildren.length && frame.tag !== "img",
    });
    // hl_tidy($t, -1): pre and textarea content is left alone, white space after an opening tag
    // moves before it, and every other run of white space becomes one space.
    const kept: string[] = [];
    const held = html.replace(/(<(pre|textarea)[^>]*?>)([\s\S]+?)(<\/\2>)/g, (_m, open: string, _t, body: string, close: string) => {
        kept.push(body);
        return `${open}\x01${kept.length - 1}\x02${close}`;
    });
    return held
        .replace(/(<\w[^>]*(?<!\/)>)\s+/g, " $1")
        .replace(/[ \t\r\n\f]+/g, " ")
        .replace(/(<\w[^>]*(?<!\/)>) /g, "$1")
        .replace(/\x01(\d+)\x02/g, (_m, i: string) => kept[Number(i)]!);
}

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

interface PanelSession {
    csrf: string;
    /** Logged in as the administrator. */
    staff: boolean;
    /** The message and the page login.php shows and goes back to ($_SESSION['_staff']['auth']). */
    msg?: string;
    dest?: string;
    /** A session ended by expireSessions: the next page says it timed out. */
    ended?: boolean;
    /** When the id changes (TIME_BOMB), ms since the epoch. */
    bomb?: number;
    /** Two-factor login pending. */
    pending2fa?: boolean;
}

const COOKIE = "OSTSESSID";
const two = (n: number) => String(n).padStart(2, "0");
/** IntlDateFormatter SHORT for en_US, in UTC: `M/d/yy`. */
const shortDate = (d: Date) => `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${two(d.getUTCFullYear() % 100)}`;
/** `M/d/yy h:mm a`. */
const shortDateTime = (d: Date) => `${shortDate(d)} ${d.getUTCHours() % 12 || 12}:${two(d.getUTCMinutes())} ${d.getUTCHours() < 12 ? "AM" : "PM"}`;

/**
 * The staff admin panel. Faults: expire every session, refuse the next CSRF tokens, lose the next
 * add's answer (done, then the connection dropped), answer the next add with a proxy's error page
 * (done, status 200), lock the account, ask for a second factor.
 */
export class AdminPanel {
    user = "admin";
    /** Random per panel, so that a leak scan has something to look for. */
    password = `admin-password-${crypto.randomUUID()}`;
    readonly sessions = new Map<string, PanelSession>();
    /** `agent`: the account logs in but is not an administrator (admin.inc.php sends it to index.php). */
    readonly faults = { csrf: 0, lostAdd: 0, garbledAdd: 0, locked: false, twoFactor: false, agent: false };
    /** The staff's page limit (PAGE_LIMIT; osTicket's default is 25). */
    pageLimit = 25;
    /** The session id changes on the first GET this long after a login (class.auth.php: 10 s). */
    regenerateMs = 10_000;
    /** How long the replaced id keeps working (osTicketSession::regenerate: 60 s). */
    oldIdMs = 60_000;
    logins = 0;
    /** Pages served, by script and method, for tests. */
    readonly requests: string[] = [];
    private readonly pool: () => Pool;
    private readonly table: () => string;
    constructor(pool: () => Pool, table: () => string) {
        this.pool = pool;
        this.table = table;
    }

    /** Ends every logged-in session (as an idle timeout would). */
    expireSessions() {
        for (const s of this.sessions.values()) if (s.staff) Object.assign(s, { staff: false, ended: true });
    }

    /** Every session id handed out (a leak scan looks for them). */
    readonly sessionIds: string[] = [];

    private newSession(res: http.ServerResponse, from?: PanelSession): [string, PanelSession] {
        const sid = crypto.randomBytes(13).toString("hex");
        this.sessionIds.push(sid);
        const s: PanelSession = from ?? { csrf: "", staff: false };
        this.sessions.set(sid, s);
        res.setHeader("set-cookie", stringifySetCookie({ name: COOKIE, value: sid, path: "/", httpOnly: true }));
        return [sid, s];
    }

    /** CSRF::getToken: the session's token, made on first use. */
    private token(s: PanelSession) {
        if (!s.csrf) s.csrf = crypto.createHash("sha1").update(crypto.randomBytes(16)).digest("hex");
        return s.csrf;
    }

    private redirect(res: http.ServerResponse, location: string) {
        res.writeHead(302, { location, "content-type": "text/html; charset=UTF-8" });
        res.end();
    }

    /** Http::response(code, text): a plain answer, no page around it. */
    private plain(res: http.ServerResponse, status: number, text: string) {
        res.writeHead(status, { "content-type": "text/html; charset=UTF-8" });
        res.end(text);
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string) {
        const method = req.method ?? "GET";
        const script = url.pathname.replace(/^\/scp\//, "");
        this.requests.push(`${method} ${script}`);
        const form = new URLSearchParams(body);
        const sid = parseCookie(req.headers.cookie ?? "")[COOKIE];
        let s = sid ? this.sessions.get(sid) : undefined;
        if (!s) [, s] = this.newSession(res);
        if (script === "login.php") return this.login(res, method, url, form, s);
        if (!s.staff) {
            // staff.inc.php: staffLoginPage()
            s.dest = url.pathname + url.search;
            s.msg = s.ended ? "Session timed out due to inactivity" : "Authentication Required";
            return this.redirect(res, "/scp/login.php");
        }
        // UserSession::refreshSession: a GET past the TIME_BOMB changes the session id.
        if (method === "GET" && s.bomb !== undefined && s.bomb <= Date.now()) {
            s.bomb = Date.now() + 86_400_000;
            const old = sid!;
            this.newSession(res, s);
            if (this.oldIdMs <= 0) this.sessions.delete(old);
            else setTimeout(() => this.sessions.get(old) === s && this.sessions.delete(old), this.oldIdMs).unref();
        }
        if (method === "POST") {
            if (form.get("__CSRFToken__")?.trim() !== this.token(s)) return this.plain(res, 400, "Valid CSRF Token Required");
            const refused = this.faults.csrf > 0;
            if (refused) this.faults.csrf--;
            if (refused) return this.plain(res, 400, "Valid CSRF Token Required");
        }
        if (script !== "apikeys.php") return this.plain(res, 404, "Not Found");
        // admin.inc.php: an agent who is not an administrator is sent to the agent panel.
        if (this.faults.agent) return this.redirect(res, "index.php");
        return this.apikeys(req, res, url, method, form, s);
    }

    private async login(res: http.ServerResponse, method: string, url: URL, form: URLSearchParams, s: PanelSession) {
        if (method === "POST") {
            if (form.get("__CSRFToken__")?.trim() !== this.token(s)) {
                s.msg = "Valid CSRF Token Required";
                return this.redirect(res, url.pathname + url.search);
            }
            if (form.has("userid")) {
                let msg: string;
                if (this.faults.locked) msg = "Maximum failed login attempts reached";
                else if (form.get("userid")?.trim() === this.user && form.get("passwd")?.slice(0, 128) === this.password) {
                    this.logins++;
                    s.staff = !this.faults.twoFactor;
                    s.pending2fa = this.faults.twoFactor;
                    s.ended = false;
                    s.bomb = Date.now() + this.regenerateMs;
                    const dest = s.dest && !s.dest.includes("login.php") ? s.dest : "index.php";
                    s.dest = undefined;
                    s.msg = undefined;
                    return this.redirect(res, s.staff ? dest : "login.php");
                } else msg = "Access denied";
                s.csrf = "";
                return this.loginPage(res, s, msg);
            }
        }
        if (s.staff) return this.redirect(res, s.dest ?? "index.php");
        const msg = s.msg ?? "Authentication Required";
        return this.loginPage(res, s, s.pending2fa ? "2FA Pending" : msg);
    }

    private loginPage(res: http.ServerResponse, s: PanelSession, msg: string) {
        const fields = s.pending2fa
            ? `<label>Verification Code <input type="text" name="code" value=""></label>
            <fieldset style="padding-top:10px;">
            <input type="hidden" name="do" value="2fa">
            <button class="submit button pull-center" type="submit" name="submit"><i class="icon-signin"></i> Verify</button>
             </fieldset>`
            : `<input type="hidden" name="do" value="scplogin">
            <fieldset>
            <input type="text" name="userid" id="name" value="" placeholder="Email or Username" autofocus autocorrect="off" autocapitalize="off">
            <input type="password" name="passwd" id="pass" maxlength="128" placeholder="Password" autocorrect="off" autocapitalize="off">
                <h3 style="display:inline"><a id="reset-link" class="hidden" href="pwreset.php">Forgot My Password</a></h3>
                <button class="submit button pull-right" type="submit" name="submit"><i class="icon-signin"></i> Log In</button>
            </fieldset>`;
        res.writeHead(200, { "content-type": "text/html; charset=UTF-8" });
        res.end(`<!DOCTYPE html>
<html lang="en_US">
<head><meta http-equiv="content-type" content="text/html; charset=UTF-8"><title>osTicket:: SCP Login</title></head>
<body id="loginBody">
<div id="brickwall"></div>
<div id="loginBox">
    <h1 id="logo"><a href="index.php"><span class="valign-helper"></span><img src="logo.php?login" alt="osTicket :: Staff Control Panel" /></a></h1>
    <h3 id="login-message">${htmlchars(msg)}</h3>
    <div class="banner"><small></small></div>
    <form action="login.php" method="post" id="login" onsubmit="attemptLoginAjax(event)">
        <input type="hidden" name="__CSRFToken__" value="${this.token(s)}" />
            ${fields}
    </form>
</div>
</body>
</html>`);
    }

    /** header.inc.php around a page: the CSRF meta tag and the message area, then the page, then the footer. */
    private page(res: http.ServerResponse, s: PanelSession, content: string, m: { err?: string; msg?: string; warn?: string }) {
        const area = m.err ? `<div id="msg_error">${m.err}</div>` : m.msg ? `<div id="msg_notice">${m.msg}</div>` : m.warn ? `<div id="msg_warning">${m.warn}</div>` : "";
        res.writeHead(200, { "content-type": "text/html; charset=UTF-8" });
        res.end(`<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html lang="en-US">
<head>
    <meta http-equiv="content-type" content="text/html; charset=UTF-8">
    <title>osTicket :: Admin Control Panel</title>
	<meta name="tip-namespace" content="manage.api_keys" />
	<meta name="csrf_token" content="${this.token(s)}" />
</head>
<body>
<div id="container">
    <div id="header">
        <p id="info" class="pull-right no-pjax">Welcome, <strong>${htmlchars(this.user)}</strong>. | <a href="/scp/index.php" class="no-pjax">Agent Panel</a> | <a href="/scp/profile.php">Profile</a> | <a href="/scp/logout.php?auth=x" class="no-pjax">Log Out</a></p>
    </div>
    <div id="pjax-container" class="">
    <div id="content">
        ${area}
${content}
    </div>
    </div>
    <div id="footer">Copyright &copy; 2006-2026&nbsp;osTicket&nbsp;All Rights Reserved.</div>
</div>
</body>
</html>`);
    }

    private async apikeys(req: http.IncomingMessage, res: http.ServerResponse, url: URL, method: string, form: URLSearchParams, s: PanelSession) {
        const db = this.pool();
        const t = this.table();
        // $_REQUEST: the query string and the form together.
        const request = (n: string) => form.get(n) ?? url.searchParams.get(n) ?? "";
        const m: { err?: string; msg?: string; warn?: string } = {};
        const fieldErrors: Record<string, string> = {};
        const idParam = request("id");
        let api = idParam && /^\d+$/.test(idParam) ? await this.row(Number(idParam)) : undefined;
        if (idParam && !api) m.err = "API Key: Unknown or invalid ID.";
        let a = request("a");
        let posted = false;
        if (method === "POST") {
            posted = true;
            const flag = (n: string) => (form.get(n) ? 1 : 0);
            const active = Number(form.get("isactive")) ? 1 : 0;
            switch ((form.get("do") ?? "").toLowerCase()) {
                case "update":
                    if (!api) {
                        m.err = "API Key: Unknown or invalid";
                        break;
                    }
                    await db.execute(`UPDATE \`${t}\` SET updated = NOW(), isactive = ?, can_create_tickets = ?, can_exec_cron = ?, notes = ? WHERE id = ?`, [active, flag("can_create_tickets"), flag("can_exec_cron"), sanitizeNotes(form.get("notes") ?? ""), api.id]);
                    api = await this.row(api.id);
                    m.msg = "Successfully updated this API key.";
                    posted = false;
                    break;
                case "add": {
                    const ip = form.get("ipaddr") ?? "";
                    if (!ip || !net.isIP(ip)) {
                        fieldErrors.ipaddr = "Valid IP is required";
                        m.err = "Unable to add this API key. Correct any errors below and try again.";
                        break;
                    }
                    const key = crypto.createHash("md5").update(`${Date.now()}${ip}${crypto.randomBytes(16).toString("hex")}`).digest("hex").toUpperCase();
                    await db.execute(`INSERT INTO \`${t}\` SET updated = NOW(), isactive = ?, can_create_tickets = ?, can_exec_cron = ?, notes = ?, created = NOW(), ipaddr = ?, apikey = ?`, [active, flag("can_create_tickets"), flag("can_exec_cron"), sanitizeNotes(form.get("notes") ?? ""), ip, key]);
                    if (this.faults.lostAdd > 0) {
                        this.faults.lostAdd--;
                        req.socket.destroy();
                        return;
                    }
                    if (this.faults.garbledAdd > 0) {
                        this.faults.garbledAdd--;
                        const text = "<!DOCTYPE html><html><head><title>Proxy Error</title></head><body><h1>Proxy Error</h1></body></html>";
                        res.writeHead(200, { "content-type": "text/html; charset=UTF-8", "content-length": Buffer.byteLength(text) });
                        res.end(text);
                        return;
                    }
                    m.msg = "Successfully added an API key.";
                    a = "";
                    posted = false;
                    break;
                }
                case "mass_process": {
                    const ids = form.getAll("ids[]").filter((v) => /^\d+$/.test(v)).map(Number);
                    const count = form.getAll("ids[]").length;
                    if (!count) {
                        m.err = "You must select at least one API key.";
                        break;
                    }
                    const what = count === 1 ? "selected API key" : "selected API keys";
                    const action = (form.get("a") ?? "").toLowerCase();
                    if (action === "enable" || action === "disable") {
                        // mysqli's affected rows are the rows changed: enabling an enabled key counts 0.
                        const [r] = ids.length ? await db.query<any>(`UPDATE \`${t}\` SET isactive = ? WHERE id IN (?)`, [action === "enable" ? 1 : 0, ids]) : [{ changedRows: 0 }];
                        const num = Number(r.changedRows);
                        if (num === count) m.msg = `Successfully ${action}d ${what}`;
                        else if (num) m.warn = `${num} of ${count} ${what} ${action}d`;
                        else m.err = `Unable to ${action} ${what}`;
                    } else if (action === "delete") {
                        let i = 0;
                        for (const id of ids) {
                            const [r] = await db.execute<any>(`DELETE FROM \`${t}\` WHERE id = ? LIMIT 1`, [id]);
                            if (r.affectedRows) i++;
                        }
                        if (i && i === count) m.msg = `Successfully deleted ${what}.`;
                        else if (i > 0) m.warn = `${i} of ${count} ${what} deleted`;
                        else m.err = `Unable to delete ${what}.`;
                    } else m.err = "Unknown action - Get technical help!";
                    break;
                }
                default:
                    m.err = "Unknown action";
            }
        }
        if (api || a.toLowerCase() === "add") return this.page(res, s, this.keyForm(s, api, a, posted && m.err ? form : undefined, fieldErrors), m);
        return this.page(res, s, await this.list(s, url, posted && m.err ? form.getAll("ids[]") : []), m);
    }

    private async row(id: number): Promise<AdminRow | undefined> {
        const [rows] = await this.pool().execute<AdminRow[]>(`SELECT *, UNIX_TIMESTAMP(updated) AS updated_ts, UNIX_TIMESTAMP(created) AS created_ts FROM \`${this.table()}\` WHERE id = ?`, [id]);
        return rows[0];
    }

    private async list(s: PanelSession, url: URL, selected: string[]) {
        const [[{ total }]] = await this.pool().query<any[]>(`SELECT count(*) AS total FROM \`${this.table()}\``);
        const p = Number(url.searchParams.get("p"));
        const page = Number.isInteger(p) && p > 0 ? p : 1;
        const pages = Math.ceil(total / this.pageLimit);
        const start = page > pages ? 0 : (page - 1) * this.pageLimit;
        const [rows] = await this.pool().query<AdminRow[]>(`SELECT *, UNIX_TIMESTAMP(updated) AS updated_ts, UNIX_TIMESTAMP(created) AS created_ts FROM \`${this.table()}\` ORDER BY apikey DESC LIMIT ?, ?`, [start, this.pageLimit]);
        const trs = rows
            .map(
                (r) => `
            <tr id="${r.id}">
                <td align="center">
                  <input type="checkbox" class="ckb" name="ids[]" value="${r.id}"
                            ${selected.includes(String(r.id)) ? 'checked="checked"' : ""}> </td>
                <td>&nbsp;<a href="apikeys.php?id=${r.id}">${htmlchars(r.apikey)}</a></td>
                <td>${r.ipaddr}</td>
                <td>${r.isactive ? "Active" : "<b>Disabled</b>"}</td>
                <td>&nbsp;${shortDate(new Date(r.created_ts * 1000))}</td>
                <td>&nbsp;${shortDateTime(new Date(r.updated_ts * 1000))}</td>
            </tr>`,
            )
            .join("");
        const qstr = "&amp;&amp;order=ASC";
        const links = Array.from({ length: pages }, (_v, i) => i + 1)
            .map((i) => (i === page ? `\n<b>[${i}]</b>` : `\n<a href="apikeys.php?&amp;p=${i}" ><b>${i}</b></a>`))
            .join("");
        return `<form action="apikeys.php" method="POST" name="keys">
    <div class="sticky bar opaque"><div class="content"><div class="pull-left flush-left"><h2>API Keys</h2></div>
        <div class="pull-right"><a href="apikeys.php?a=add" class="green button action-button"><i class="icon-plus-sign"></i> Add New API Key</a></div></div></div>
    <div class="clear"></div>
 <input type="hidden" name="__CSRFToken__" value="${this.token(s)}" />
 <input type="hidden" name="do" value="mass_process" >
<input type="hidden" id="action" name="a" value="" >
 <table class="list" border="0" cellspacing="1" cellpadding="0" width="940">
    <thead>
        <tr>
            <th width="4%">&nbsp;</th>
            <th width="46%"><a  class="desc"  href="apikeys.php?${qstr}&sort=key">API Key</a></th>
            <th width="12%"><a  href="apikeys.php?${qstr}&sort=ip">IP Address</a></th>
            <th width="8%"><a  href="apikeys.php?${qstr}&sort=status">Status</a></th>
            <th width="10%" nowrap><a  href="apikeys.php?${qstr}&sort=date">Date Added</a></th>
            <th width="20%" nowrap><a  href="apikeys.php?${qstr}&sort=updated">Last Updated</a></th>
        </tr>
    </thead>
    <tbody>${trs}
    <tfoot>
     <tr>
        <td colspan="7">
            ${rows.length ? `Select:&nbsp;<a id="selectAll" href="#ckb">All</a>&nbsp;&nbsp;<a id="selectNone" href="#ckb">None</a>&nbsp;&nbsp;<a id="selectToggle" href="#ckb">Toggle</a>&nbsp;&nbsp;` : "No API keys found"}
        </td>
     </tr>
    </tfoot>
</table>
${rows.length ? `<div>&nbsp;Page:${links}&nbsp;</div>` : ""}
</form>`;
    }

    private keyForm(s: PanelSession, api: AdminRow | undefined, a: string, posted: URLSearchParams | undefined, fieldErrors: Record<string, string>) {
        const edit = api && a.toLowerCase() !== "add";
        // $info = Format::htmlchars($errors && $_POST ? $_POST : $info, true)
        const src: Record<string, unknown> = posted ? Object.fromEntries(posted) : edit ? { ...api } : { isactive: 1 };
        const info = (n: string) => htmlchars(sanitizeNotes(String(src[n] ?? "")));
        const on = (n: string) => (Number(src[n]) ? 'checked="checked"' : "");
        const qs = edit ? `id=${api!.id}` : `a=${encodeURIComponent(a)}`;
        const ipRow = edit
            ? `<tr>
            <td width="150">
                IP Address:
            </td>
            <td>
                <span>
                ${api!.ipaddr}
                <i class="help-tip icon-question-sign" href="#ip_addr"></i>
                </span>
            </td>
        </tr>
        <tr>
            <td width="150">
                API Key:
            </td>
            <td>${api!.apikey} &nbsp;</td>
        </tr>`
            : `<tr>
            <td width="150" class="required">
               IP Address:
            </td>
            <td>
                <span>
                <input type="text" size="30" name="ipaddr" value="${info("ipaddr")}"i
                    autofocus>
                &nbsp;<span class="error">*&nbsp;${fieldErrors.ipaddr ?? ""}</span>
                <i class="help-tip icon-question-sign" href="#ip_addr"></i>
                </span>
            </td>
        </tr>`;
        return `<form action="apikeys.php?${qs}" method="post" class="save">
 <input type="hidden" name="__CSRFToken__" value="${this.token(s)}" />
 <input type="hidden" name="do" value="${edit ? "update" : "add"}">
 <input type="hidden" name="a" value="${htmlchars(a)}">
 <input type="hidden" name="id" value="${edit ? api!.id : info("id")}">
 <h2>${edit ? "Update API Key" : "Add New API Key"}
    ${src.ipaddr !== undefined ? `<small>
    — ${info("ipaddr")}</small>` : ""}
    <i class="help-tip icon-question-sign" href="#api_key"></i>
    </h2>
 <table class="form_table" width="940" border="0" cellspacing="0" cellpadding="2">
    <thead>
        <tr>
            <th colspan="2">
                <em>API Key is auto-generated. Delete and re-add to change the key.</em>
            </th>
        </tr>
    </thead>
    <tbody>
        <tr>
            <td width="150" class="required">
                Status:
            </td>
            <td>
                <input type="radio" name="isactive" value="1" ${on("isactive")}><strong>Active</strong>
                <input type="radio" name="isactive" value="0" ${Number(src.isactive) ? "" : 'checked="checked"'}>Disabled
                &nbsp;<span class="error">*&nbsp;</span>
            </td>
        </tr>
        ${ipRow}
        <tr>
            <th colspan="2">
                <em><strong>Services:</strong> Check applicable API services enabled for the key.</em>
            </th>
        </tr>
        <tr>
            <td colspan=2 style="padding-left:5px">
                <label>
                    <input type="checkbox" name="can_create_tickets" value="1" ${on("can_create_tickets")} >
                    Can Create Tickets <em>(XML/JSON/EMAIL)</em>
                </label>
            </td>
        </tr>
        <tr>
            <td colspan=2 style="padding-left:5px">
                <label>
                    <input type="checkbox" name="can_exec_cron" value="1" ${on("can_exec_cron")} >
                    Can Execute Cron
                </label>
            </td>
        </tr>
        <tr>
            <th colspan="2">
                <em><strong>Internal Notes</strong>: Be liberal, they're internal</em>
            </th>
        </tr>
        <tr>
            <td colspan=2>
                <textarea class="richtext no-bar" name="notes" cols="21"
                    rows="8" style="width: 80%;">${info("notes")}</textarea>
            </td>
        </tr>
    </tbody>
</table>
<p style="text-align:center">
    <input type="submit" name="submit" value="${edit ? "Save Changes" : "Add Key"}">
    <input type="reset"  name="reset"  value="Reset">
    <input type="button" name="cancel" value="Cancel" onclick='window.location.href="apikeys.php"'>
</p>
</form>`;
    }
}
