// Sandbox for SupportSystem, an osTicket-style help desk: its HTTP API (ticket creation and the
// remote cron task), authenticated by API keys that the help desk keeps in a database table,
// `<prefix>api_key` (default prefix `ost_`). The sandbox reads the keys from a real MySQL/MariaDB,
// the same table keyfleet's provider writes to, so a key keyfleet creates, disables or deletes is
// accepted or refused here exactly as the help desk would.
//
// What is documented (shared/seeds/supportsystem-api-keys.txt) and reproduced as is: XML or JSON
// over HTTP; API keys tied to a source IP address, checked against the remote IP of the request;
// the key in an `X-API-Key` header (HTTP headers are case-insensitive, so `x-api-key` too); active
// or disabled keys; per-key rights to create tickets and to run cron; POST /api/tickets.json. The
// seed's curl example (`curl -d "{}" -H "X-API-Key: …" …/api/tickets.json`) works with the host
// swapped (test/supportsystem-sandbox.test.ts runs it).
//
// What is inferred from osTicket, the product SupportSystem's documentation is a copy of (its
// api/http.php, include/class.api.php, api.tickets.php, api.cron.php, class.http.php; read, not
// copied):
// - Routes (api/http.php): POST /api/tickets.xml, .json and .email, and POST /api/tasks/cron (also
//   under /api/http.php/, the path without URL rewriting). Any other method or path under /api, such
//   as POST /api/tickets.txt, answers 400 `URL not supported`, before any key check, as osTicket's
//   dispatcher (class.dispatcher.php) does; the match is case-sensitive, like its preg_match.
// - Key checks, in osTicket's order (ApiController::requireApiKey, then the endpoint's right):
//   1. the key is looked up by key AND remote IP (API::lookupByKey(key, ip): `SELECT … WHERE
//      apikey = ? AND ipaddr = ?`). No header, an empty or "0" header (PHP treats "0" as false),
//      or no row for that key from this IP → 401 `Valid API key required`. So a key used from
//      another address than its own gets this message, not the next one.
//   2. the row is inactive, or its ipaddr differs from the remote IP by exact string comparison →
//      401 `API key not found/active or source IP not authorized` (in practice an inactive key:
//      the lookup already matched the IP, up to the database's case-insensitive collation).
//   3. tickets need can_create_tickets, cron needs can_exec_cron, else 401 `API key not authorized`.
//   The lookup is the database's own comparison, so it follows the table's collation (the default
//   utf8mb3_general_ci of osTicket's utf8 tables is case-insensitive and ignores trailing spaces), as
//   osTicket's SQL does.
// - Only then the body: the format of the URL picks the parser; the body is parsed; an empty result
//   (`{}`, `[]`, a JSON scalar) or a parse error → 400 with the parser's last error: for JSON
//   `Syntax error, malformed JSON`, or `No errors` when the JSON was valid but empty (so the seed's
//   own `-d "{}"` example, with a valid key, answers 400 `No errors`); for XML
//   `XML error: <reason> at line L:C` (the reason worded by fast-xml-parser, not by PHP's expat).
// - Fields the help desk does not know are logged (`<field>: Unexpected data received in API
//   request`, nested fields as `attachments/0/x`, in `warnings`) and the request goes on: osTicket
//   1.18's TicketApiController::validate calls the structure check non-strict, so onError only logs.
//   Known: alert, autorespond, source, topicId, attachments (name, type, data, encoding, size),
//   message, ip, priorityId, system_emails, thread_entry_recipients, and the stock forms' fields
//   email, name, phone, notes, subject, priority. `unexpectedData: "reject"` is the stricter mode of
//   releases before 1.8.3: 400 with that line.
// - A ticket the help desk cannot make → 500 `Unable to create new ticket :<errors>`
//   (TicketApiController::createTicket: sprintf('%s :%s'), the errors of Ticket::create joined by
//   Format::array_implode("\n", "\n"), so each as its key, a newline, its message). With the stock
//   forms (include/i18n/en_US/form.yaml): no or an invalid email, or no name → `user` /
//   `Incomplete client information` (the user form fails as a whole); no subject → `20` / `Issue
//   Summary is a required field`; no message → `21` / `Issue Details is a required field` (20 and
//   21 are the stock ticket form's field ids; another desk's ids and forms differ).
// - Success → 201 with the ticket number as the whole body. Numbers are 6 digits (osTicket's
//   default format `######`), counted up from `firstTicketNumber` (osTicket's default draws them at
//   random; counting makes tests predictable). Tickets are kept in memory only.
// - Cron → 200 `Completed`.
// - Every answer is plain text in osTicket's Http::response shape: `Content-Type: text/html;
//   charset=UTF-8` (osTicket's default, although the body is plain text) and `Connection: close`.
// - XML: the root element's attributes count as fields, like its child elements; a `<ticket>` root
//   is unwrapped; `<message type="text/html">` carries the body's type; `<attachments><file …>`
//   lists files (one or several). JSON: `message` may be an RFC 2397 data URL; each attachment is
//   `{ "<name>": "data:<type>[;base64],<data>" }`.
//
// Deliberate differences from osTicket, for a sandbox's purposes:
// - The `email` format (raw MIME, osTicket's mail piping) is routed and its key checked, then
//   answered 415 `Unsupported data format`: the sandbox parses no MIME.
// - The remote IP is the TCP peer (`req.socket.remoteAddress`, `::ffff:a.b.c.d` read as a.b.c.d);
//   X-Forwarded-For is not honoured (osTicket can, behind a configured proxy).
// - Hostname, wildcard and regex `ipaddr` values (some osTicket forks) are not supported: exact IPs.
import net from "node:net";
import type http from "node:http";
import { createConnection, createPool, type Pool, type RowDataPacket } from "mysql2/promise";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { CallStats, listen, readBody, sendJson, type Handler, type Listening } from "./http.ts";
import { AdminPanel } from "./supportsystem-admin.ts";

/** Where the help desk's database is. */
export interface SupportSystemDatabase {
    host: string;
    port: number;
    user: string;
    password?: string;
    /** The help desk's database (schema). */
    database: string;
}

export interface SupportSystemSandboxOptions {
    database: SupportSystemDatabase;
    /** The help desk's table prefix (osTicket's TABLE_PREFIX); the key table is `<prefix>api_key`. */
    prefix?: string;
    /** Number of the first ticket (default 1, answered as "000001"). */
    firstTicketNumber?: number;
    /** Fields the help desk does not know: "log" (osTicket ≥ 1.8.3, the default) or "reject" (400, older releases). */
    unexpectedData?: "reject" | "log";
}

export const SUPPORTSYSTEM_DEFAULTS = {
    /** The local stack's help desk database. */
    database: "keyfleet_helpdesk",
    prefix: "ost_",
    port: 4404,
} as const;

/** The messages of the help desk's API, word for word. */
export const SUPPORTSYSTEM_MESSAGES = {
    keyRequired: "Valid API key required",
    keyNotActive: "API key not found/active or source IP not authorized",
    notAuthorized: "API key not authorized",
    unsupportedFormat: "Unsupported data format",
    unexpectedData: "Unexpected data received in API request",
    urlNotSupported: "URL not supported",
    ticketFailed: "Unable to create new ticket",
    cronCompleted: "Completed",
} as const;

const IDENTIFIER = /^[A-Za-z0-9_]+$/;

/** The key table's name for `prefix`; refuses a prefix that is not a plain SQL identifier part. */
export function apiKeyTable(prefix: string = SUPPORTSYSTEM_DEFAULTS.prefix): string {
    if (prefix !== "" && !IDENTIFIER.test(prefix)) throw new Error(`table prefix ${JSON.stringify(prefix)} must be letters, digits and underscores`);
    return `${prefix}api_key`;
}

/**
 * The help desk's API key table, as osTicket's installer creates it: the column definitions and the
 * table's `DEFAULT CHARSET=utf8` (MySQL's 3-byte utf8mb3) of setup/inc/streams/core/install-mysql.sql
 * (osTicket 1.18), `%TABLE_PREFIX%` being `prefix`. Written out here as a schema, not copied code;
 * `IF NOT EXISTS` added so that the local stack keeps its table across restarts. The installer names
 * no engine: the server's default (InnoDB) holds it, as on a stock install. The one definition the
 * sandbox, the local stack and the tests share; keyfleet's provider never creates it.
 */
export function apiKeyTableDdl(prefix: string = SUPPORTSYSTEM_DEFAULTS.prefix): string {
    return `CREATE TABLE IF NOT EXISTS \`${apiKeyTable(prefix)}\` (
  \`id\` int(10) unsigned NOT NULL auto_increment,
  \`isactive\` tinyint(1) NOT NULL default '1',
  \`ipaddr\` varchar(64) NOT NULL,
  \`apikey\` varchar(255) NOT NULL,
  \`can_create_tickets\` TINYINT( 1 ) UNSIGNED NOT NULL DEFAULT  '1',
  \`can_exec_cron\` TINYINT( 1 ) UNSIGNED NOT NULL DEFAULT  '1',
  \`notes\` text,
  \`updated\` datetime NOT NULL,
  \`created\` datetime NOT NULL,
  PRIMARY KEY  (\`id\`),
  KEY \`ipaddr\` (\`ipaddr\`),
  UNIQUE KEY \`apikey\` (\`apikey\`)
) DEFAULT CHARSET=utf8`;
}

/** The server named by KEYFLEET_MYSQL_HOST/PORT/USER/PASSWORD (set by scripts/mariadb.sh), with `database`. */
export function databaseFromEnv(database: string = SUPPORTSYSTEM_DEFAULTS.database, env: NodeJS.ProcessEnv = process.env): SupportSystemDatabase {
    return {
        host: env.KEYFLEET_MYSQL_HOST || "127.0.0.1",
        port: Number(env.KEYFLEET_MYSQL_PORT || 3306),
        user: env.KEYFLEET_MYSQL_USER || "root",
        password: env.KEYFLEET_MYSQL_PASSWORD ?? "",
        database,
    };
}

/** Creates the help desk's database and key table where absent, as the help desk's installer would. */
export async function ensureHelpDeskDatabase(db: SupportSystemDatabase, prefix: string = SUPPORTSYSTEM_DEFAULTS.prefix): Promise<void> {
    if (!IDENTIFIER.test(db.database)) throw new Error(`database name ${JSON.stringify(db.database)} must be letters, digits and underscores`);
    const conn = await createConnection({ host: db.host, port: db.port, user: db.user, password: db.password });
    try {
        await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db.database}\` CHARACTER SET utf8mb4`);
        await conn.query(`USE \`${db.database}\``);
        await conn.query(apiKeyTableDdl(prefix));
    } finally {
        await conn.end();
    }
}

export interface SupportSystemTicket {
    number: string;
    format: "json" | "xml";
    email: string;
    name: string;
    subject: string;
    message: string;
    messageType: string;
    source: string;
    alert: boolean;
    autorespond: boolean;
    /** Every field as received (after the help desk's fix-ups). */
    fields: Record<string, unknown>;
    /** The key's row id and the address the request came from. */
    apiKeyId: number;
    remoteAddr: string;
    created: string;
}

interface KeyRow extends RowDataPacket {
    id: number;
    isactive: number;
    ipaddr: string;
    can_create_tickets: number;
    can_exec_cron: number;
}

/** A plain-text answer of the help desk's API. */
class ApiAnswer extends Error {
    readonly status: number;
    readonly text: string;
    constructor(status: number, text: string) {
        super(`HTTP ${status}: ${text}`);
        this.status = status;
        this.text = text;
    }
}

/** osTicket's Http::response: text as is, its default content type, connection closed. */
function sendText(res: http.ServerResponse, status: number, text: string) {
    res.writeHead(status, { "content-type": "text/html; charset=UTF-8", "content-length": Buffer.byteLength(text), connection: "close" });
    res.end(text);
}

/** The request's remote IP as the help desk sees it: IPv4-mapped IPv6 addresses read as IPv4. */
export function remoteIp(req: http.IncomingMessage): string {
    const addr = req.socket.remoteAddress ?? "";
    const mapped = /^::ffff:(.+)$/i.exec(addr);
    return mapped && net.isIPv4(mapped[1]) ? mapped[1] : addr;
}

/** Fields the stock help desk accepts; a nested object lists the fields of each of its entries ("*"). */
type Structure = { [field: string]: true | Structure };
const TICKET_STRUCTURE: Structure = {
    alert: true,
    autorespond: true,
    source: true,
    topicId: true,
    attachments: { "*": { name: true, type: true, data: true, encoding: true, size: true } },
    message: true,
    ip: true,
    priorityId: true,
    system_emails: { "*": true },
    thread_entry_recipients: { "*": { to: true, cc: true } },
    // The stock user form and ticket form.
    email: true,
    name: true,
    phone: true,
    notes: true,
    subject: true,
    priority: true,
};

/** The stock ticket form's required fields: field id (include/i18n/en_US/form.yaml), name, label. */
const TICKET_FORM_REQUIRED: [id: string, field: string, label: string][] = [
    ["20", "subject", "Issue Summary"],
    ["21", "message", "Issue Details"],
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** PHP's truthiness of a value that came from a request. */
const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === "" || v === "0" || v === 0);

/** An RFC 2397 data URL's content type and decoded text; anything else is text/plain as is. */
function dataUrl(value: string): { type: string; data: string } {
    const m = /^data:([^,;]*)((?:;[^,;]*)*),(.*)$/s.exec(value);
    if (!m) return { type: "text/plain", data: value };
    const params = m[2].split(";").filter(Boolean);
    const base64 = params.includes("base64");
    const data = base64 ? Buffer.from(m[3], "base64").toString("utf8") : decodeURIComponent(m[3]);
    return { type: m[1] || "text/plain", data };
}

const xmlParser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    textNodeName: ":text",
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
});

export class SupportSystemSandbox {
    readonly stats = new CallStats();
    /** Every key value this sandbox saw in a request (it issues none), for tests that scan output for leaks. */
    readonly issued = { keys: new Set<string>(), tokens: new Set<string>() };
    readonly tickets: SupportSystemTicket[] = [];
    cronRuns = 0;
    readonly table: string;
    private readonly pool: Pool;
    private readonly unexpectedData: "reject" | "log";
    private nextNumber: number;
    private readonly faults: { route: string; status: number; message: string; skip: number }[] = [];
    /** Unexpected fields received in "log" mode, as the help desk's log would show them. */
    readonly warnings: string[] = [];

    /** The staff admin panel over the same key table (issue 15). */
    readonly adminPanel: AdminPanel;

    constructor(options: SupportSystemSandboxOptions) {
        this.adminPanel = new AdminPanel(() => this.pool, () => this.table);
        this.table = apiKeyTable(options.prefix ?? SUPPORTSYSTEM_DEFAULTS.prefix);
        this.unexpectedData = options.unexpectedData ?? "log";
        this.nextNumber = options.firstTicketNumber ?? 1;
        const db = options.database;
        this.pool = createPool({
            host: db.host,
            port: db.port,
            user: db.user,
            password: db.password,
            database: db.database,
            connectionLimit: 4,
            waitForConnections: true,
        });
        // The help desk's own sessions (include/mysqli.php, db_connect): NOW() in the server host's
        // zone, whatever the global default, and no strict mode. Queued before any statement of the connection.
        this.pool.on("connection", (conn) => {
            (conn as unknown as { query(sql: string, cb: () => void): void }).query("SET time_zone = 'SYSTEM', sql_mode = ''", () => undefined);
        });
    }

    /**
     * Makes the next call to `route` ("POST /api/tickets.{format}" or "POST /api/tasks/cron"), after
     * `skip` others, fail with `status` and `message` before anything else happens, as an outage would.
     */
    failNext(route: string, status: number, message = "injected failure", skip = 0) {
        this.faults.push({ route, status, message, skip });
    }

    /** Ends the database connections. */
    async close(): Promise<void> {
        await this.pool.end();
    }

    readonly handler: Handler = async (req, res, url) => {
        try {
            await this.route(req, res, url);
        } catch (err) {
            if (!(err instanceof ApiAnswer)) throw err;
            sendText(res, err.status, err.text);
        }
    };

    private count(route: string) {
        this.stats.count(route);
        const i = this.faults.findIndex((f) => f.route === route && f.skip-- <= 0);
        if (i >= 0) {
            const [fault] = this.faults.splice(i, 1);
            throw new ApiAnswer(fault.status, fault.message);
        }
    }

    private async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
        const method = req.method ?? "GET";
        if (url.pathname.startsWith("/_sandbox/")) return this.control(method, url.pathname, res);
        if (url.pathname.startsWith("/scp/")) return this.adminPanel.handle(req, res, url, await readBody(req));
        // Read the whole body first: answering before it is read would reset the connection under
        // clients still sending (the help desk's web server reads it in any case).
        const body = await readBody(req);
        const m = /^\/api(?:\/http\.php)?(\/.*)$/.exec(url.pathname);
        if (!m) {
            this.stats.count("unknown");
            throw new ApiAnswer(404, "Not Found");
        }
        const path = m[1];
        const tickets = /^\/tickets\.(xml|json|email)$/.exec(path);
        if (tickets && method === "POST") {
            this.count("POST /api/tickets.{format}");
            const key = await this.requireApiKey(req);
            if (!key.can_create_tickets) throw new ApiAnswer(401, SUPPORTSYSTEM_MESSAGES.notAuthorized);
            return this.createTicket(tickets[1], body, key, req, res);
        }
        if (path === "/tasks/cron" && method === "POST") {
            this.count("POST /api/tasks/cron");
            const key = await this.requireApiKey(req);
            if (!key.can_exec_cron) throw new ApiAnswer(401, SUPPORTSYSTEM_MESSAGES.notAuthorized);
            this.cronRuns++;
            return sendText(res, 200, SUPPORTSYSTEM_MESSAGES.cronCompleted);
        }
        this.stats.count("unknown");
        throw new ApiAnswer(400, SUPPORTSYSTEM_MESSAGES.urlNotSupported);
    }

    private control(method: string, path: string, res: http.ServerResponse) {
        if (path === "/_sandbox/stats" && method === "GET") return sendJson(res, 200, this.stats.snapshot());
        if (path === "/_sandbox/stats/reset" && method === "POST") {
            this.stats.reset();
            return sendJson(res, 200, {});
        }
        if (path === "/_sandbox/tickets" && method === "GET") return sendJson(res, 200, this.tickets);
        sendJson(res, 404, { message: "not found" });
    }

    /** ApiController::requireApiKey: the key looked up by key and remote IP, then active and IP checks. */
    private async requireApiKey(req: http.IncomingMessage): Promise<KeyRow> {
        const header = req.headers["x-api-key"];
        const key = Array.isArray(header) ? header[0] : header;
        const ip = remoteIp(req);
        if (key) this.issued.keys.add(key);
        if (!key || key === "0" || !ip) throw new ApiAnswer(401, SUPPORTSYSTEM_MESSAGES.keyRequired);
        const [rows] = await this.pool.execute<KeyRow[]>(
            `SELECT id, isactive, ipaddr, can_create_tickets, can_exec_cron FROM \`${this.table}\` WHERE apikey = ? AND ipaddr = ? LIMIT 1`,
            [key, ip],
        );
        const row = rows[0];
        if (!row) throw new ApiAnswer(401, SUPPORTSYSTEM_MESSAGES.keyRequired);
        if (!row.isactive || row.ipaddr !== ip) throw new ApiAnswer(401, SUPPORTSYSTEM_MESSAGES.keyNotActive);
        return row;
    }

    private createTicket(format: string, body: string, key: KeyRow, req: http.IncomingMessage, res: http.ServerResponse) {
        const kind = format;
        if (kind !== "json" && kind !== "xml") throw new ApiAnswer(415, SUPPORTSYSTEM_MESSAGES.unsupportedFormat);
        const { data, messageType } = kind === "json" ? this.parseJson(body) : this.parseXml(body);
        this.validateStructure(data, TICKET_STRUCTURE, "");

        const text = (field: string) => (data[field] === undefined || data[field] === null ? "" : String(data[field]).trim());
        // Ticket::create's errors, in its order: the user form first, then the ticket form's fields.
        const errors: [key: string, message: string][] = [];
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text("email")) || text("name") === "") errors.push(["user", "Incomplete client information"]);
        for (const [id, field, label] of TICKET_FORM_REQUIRED) if (text(field) === "") errors.push([id, `${label} is a required field`]);
        if (errors.length > 0) {
            throw new ApiAnswer(500, `${SUPPORTSYSTEM_MESSAGES.ticketFailed} :${errors.map(([k, m]) => `${k}\n${m}`).join("\n")}`);
        }
        const ticket: SupportSystemTicket = {
            number: String(this.nextNumber++).padStart(6, "0"),
            format: kind,
            email: text("email"),
            name: text("name"),
            subject: text("subject"),
            message: text("message"),
            messageType,
            source: data.source === undefined || data.source === null ? "API" : String(data.source),
            alert: data.alert === undefined ? true : truthy(data.alert),
            autorespond: data.autorespond === undefined ? true : truthy(data.autorespond),
            fields: data,
            apiKeyId: key.id,
            remoteAddr: remoteIp(req),
            created: new Date().toISOString(),
        };
        this.tickets.push(ticket);
        sendText(res, 201, ticket.number);
    }

    /** ApiJsonDataParser: json_decode, then the fix-ups of alert, autorespond, phone, message, attachments. */
    private parseJson(body: string): { data: Record<string, unknown>; messageType: string } {
        let parsed: unknown;
        try {
            parsed = JSON.parse(body);
        } catch {
            throw new ApiAnswer(400, "Syntax error, malformed JSON");
        }
        // PHP: an empty array (from {} or []) and any scalar fail `!($data = parse()) || !is_array($data)`.
        if (!isObject(parsed) || Object.keys(parsed).length === 0) throw new ApiAnswer(400, "No errors");
        const data: Record<string, unknown> = { ...(parsed as Record<string, unknown>) };
        let messageType = "text/plain";
        for (const [field, value] of Object.entries(data)) {
            if (field === "alert" || field === "autorespond") data[field] = truthy(value);
            else if (field === "phone" && typeof value === "string") data[field] = value.toUpperCase();
            else if (field === "message" && typeof value === "string") {
                const { type, data: text } = dataUrl(value);
                messageType = type === "text/html" ? "text/html" : "text/plain";
                data[field] = text;
            } else if (field === "attachments" && Array.isArray(value)) {
                data[field] = value.map((info) => {
                    if (!isObject(info)) return info;
                    const [name, content] = Object.entries(info)[0] ?? ["", ""];
                    const { type, data: fileData } = dataUrl(String(content));
                    return { name, type, data: fileData };
                });
            }
        }
        return { data, messageType };
    }

    /** ApiXmlDataParser: attributes and child elements as fields, a <ticket> root unwrapped, then fix-ups. */
    private parseXml(body: string): { data: Record<string, unknown>; messageType: string } {
        if (body.trim() === "") throw new ApiAnswer(400, "XML error: No error at line 1:0");
        const valid = XMLValidator.validate(body);
        if (valid !== true) throw new ApiAnswer(400, `XML error: ${valid.err.msg} at line ${valid.err.line}:${valid.err.col ?? 0}`);
        let current: unknown = xmlParser.parse(body);
        if (isObject(current) && truthy(current.ticket)) current = current.ticket;
        if (!isObject(current) || Object.keys(current).length === 0) throw new ApiAnswer(400, "XML error: No error at line 1:0");
        const data: Record<string, unknown> = { ...current };
        let messageType = "text/plain";
        for (const [field, value] of Object.entries(data)) {
            if (field === "alert" || field === "autorespond") data[field] = String(value).toLowerCase() === "false" ? false : truthy(value);
            else if (field === "phone" && isObject(value)) data[field] = value[":text"];
            else if (field === "message") {
                if (isObject(value)) {
                    messageType = String(value.type ?? "text/plain").toLowerCase() === "text/html" ? "text/html" : "text/plain";
                    data[field] = String(value[":text"] ?? "");
                } else data[field] = String(value ?? "");
            } else if (field === "attachments" && isObject(value)) {
                const files = value.file === undefined ? [] : Array.isArray(value.file) ? value.file : [value.file];
                data[field] = files.map((f: unknown) => {
                    if (!isObject(f)) return { data: String(f) };
                    const { [":text"]: text, ...attrs } = f;
                    return { ...attrs, data: text ?? "" };
                });
            }
        }
        return { data, messageType };
    }

    /** ApiController::validateRequestStructure: every field must be known; nested entries by "*". */
    private validateStructure(data: Record<string, unknown> | unknown[], structure: Structure, prefix: string) {
        for (const [field, value] of Object.entries(data)) {
            const numeric = /^\d+$/.test(field);
            const nested = !numeric && isObject(structure[field]) ? structure[field] : structure["*"];
            if (isObject(value) && isObject(nested)) {
                this.validateStructure(value as Record<string, unknown>, nested, `${prefix}${field}/`);
                continue;
            }
            if (!numeric && structure[field] === true) continue;
            if (structure["*"] === true) continue;
            const error = `${prefix}${field}: ${SUPPORTSYSTEM_MESSAGES.unexpectedData}`;
            if (this.unexpectedData === "reject") throw new ApiAnswer(400, error);
            this.warnings.push(error);
        }
    }
}

/**
 * Starts the sandbox for the local stack (or a test): creates the help desk's database and key table
 * where absent (the sandbox stands in for the help desk, which owns the table), then listens.
 * The server's close() also ends the sandbox's database connections.
 */
export async function start(opts: {
    port: number;
    host?: string;
    mysql?: Partial<SupportSystemDatabase> & { prefix?: string };
}): Promise<{ sandbox: SupportSystemSandbox; server: Listening }> {
    const { prefix = SUPPORTSYSTEM_DEFAULTS.prefix, ...given } = opts.mysql ?? {};
    const database: SupportSystemDatabase = { ...databaseFromEnv(), ...given };
    await ensureHelpDeskDatabase(database, prefix);
    const sandbox = new SupportSystemSandbox({ database, prefix });
    let listening: Listening;
    try {
        listening = await listen(sandbox.handler, opts.port, opts.host ?? "127.0.0.1");
    } catch (err) {
        await sandbox.close();
        throw err;
    }
    const server: Listening = {
        ...listening,
        close: async () => {
            await listening.close();
            await sandbox.close();
        },
    };
    return { sandbox, server };
}
