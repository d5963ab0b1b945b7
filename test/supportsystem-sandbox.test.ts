// The SupportSystem sandbox over real HTTP, reading API keys from a real MariaDB database of the
// test's own: keys inserted into the help desk's table for 127.0.0.1 and 127.0.0.2, requests sent
// from either address (the client binds its local address), and the help desk's answers checked
// word for word.
import crypto from "node:crypto";
import fs from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createConnection, type RowDataPacket } from "mysql2/promise";
import { Agent, request } from "undici";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    apiKeyTable,
    apiKeyTableDdl,
    databaseFromEnv,
    remoteIp,
    start,
    SupportSystemSandbox,
    SUPPORTSYSTEM_MESSAGES as MSG,
} from "../sandbox/supportsystem.ts";
import { listen, type Listening } from "../sandbox/http.ts";
import { createTestDatabase, insertApiKey, type TestDatabase } from "./helpers/mysql.ts";

const newKey = () => crypto.randomBytes(16).toString("hex").toUpperCase();

const agents = new Map<string, Agent>();
/**
 * A client whose connections leave from `localAddress`. Loopback needs no setup on Linux: a
 * connection bound to 127.0.0.2 reaches a server listening on 127.0.0.1 and carries source
 * 127.0.0.2. (undici 8 takes the address as the Agent's `localAddress`; one under `connect:` is
 * overridden by it.)
 */
function from(localAddress: string): Agent {
    let agent = agents.get(localAddress);
    if (!agent) agents.set(localAddress, (agent = new Agent({ localAddress })));
    return agent;
}

interface Answer {
    status: number;
    text: string;
    contentType: string;
}

let db: TestDatabase;
let sandbox: SupportSystemSandbox;
let server: Listening;

async function post(path: string, opts: { key?: string; body?: string; source?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.key !== undefined) headers["X-API-Key"] = opts.key;
    const res = await request(`${server.url}${path}`, { method: "POST", headers, body: opts.body ?? "", dispatcher: from(opts.source ?? "127.0.0.1") });
    return { status: res.statusCode, text: await res.body.text(), contentType: String(res.headers["content-type"] ?? "") };
}

const ticket = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ email: "jane@example.com", name: "Jane Doe", subject: "Printer on fire", message: "It is on fire.", ...extra });

const keys = {
    local: newKey(), // 127.0.0.1, every right
    other: newKey(), // 127.0.0.2, every right
    inactive: newKey(), // 127.0.0.1, disabled
    cronOnly: newKey(), // 127.0.0.1, tickets right removed
    ticketsOnly: newKey(), // 127.0.0.1, cron right removed
};

beforeAll(async () => {
    db = await createTestDatabase();
    await insertApiKey(db, { apikey: keys.local, ipaddr: "127.0.0.1", notes: "web form" });
    await insertApiKey(db, { apikey: keys.other, ipaddr: "127.0.0.2" });
    await insertApiKey(db, { apikey: keys.inactive, ipaddr: "127.0.0.1", isactive: false });
    await insertApiKey(db, { apikey: keys.cronOnly, ipaddr: "127.0.0.1", can_create_tickets: false });
    await insertApiKey(db, { apikey: keys.ticketsOnly, ipaddr: "127.0.0.1", can_exec_cron: false });
    // The stricter mode (unknown fields refused) for most tests; "log", osTicket 1.18's, is the default.
    sandbox = new SupportSystemSandbox({ database: db.config, prefix: db.prefix, unexpectedData: "reject" });
    server = await listen(sandbox.handler, 0);
});

afterAll(async () => {
    await server?.close();
    await sandbox?.close();
    await Promise.all([...agents.values()].map((a) => a.close()));
    await db?.drop();
});

describe("the key table", () => {
    it("is created exactly as the help desk defines it", async () => {
        const columns = await db.query<RowDataPacket[]>(
            `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS def, EXTRA AS extra
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
            [db.name, "ost_api_key"],
        );
        expect(columns.map((c) => ({ ...c }))).toEqual([
            { name: "id", type: "int(10) unsigned", nullable: "NO", def: null, extra: "auto_increment" },
            { name: "isactive", type: "tinyint(1)", nullable: "NO", def: "1", extra: "" },
            { name: "ipaddr", type: "varchar(64)", nullable: "NO", def: null, extra: "" },
            { name: "apikey", type: "varchar(255)", nullable: "NO", def: null, extra: "" },
            { name: "can_create_tickets", type: "tinyint(1) unsigned", nullable: "NO", def: "1", extra: "" },
            { name: "can_exec_cron", type: "tinyint(1) unsigned", nullable: "NO", def: "1", extra: "" },
            // MariaDB reports a nullable column without a default as having the default NULL.
            { name: "notes", type: "text", nullable: "YES", def: "NULL", extra: "" },
            { name: "updated", type: "datetime", nullable: "NO", def: null, extra: "" },
            { name: "created", type: "datetime", nullable: "NO", def: null, extra: "" },
        ]);
        const indexes = await db.query<RowDataPacket[]>(
            `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME`,
            [db.name, "ost_api_key"],
        );
        expect(indexes.map((i) => ({ ...i }))).toEqual([
            { name: "apikey", nonUnique: 0, col: "apikey" },
            { name: "ipaddr", nonUnique: 1, col: "ipaddr" },
            { name: "PRIMARY", nonUnique: 0, col: "id" },
        ]);
        // osTicket's `DEFAULT CHARSET=utf8`, which MariaDB names utf8mb3.
        const charsets = await db.query<RowDataPacket[]>(
            "SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CHARACTER_SET_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
            [db.name, "ost_api_key"],
        );
        expect(charsets.map((c) => ({ ...c }))).toEqual([
            { name: "ipaddr", charset: "utf8mb3" },
            { name: "apikey", charset: "utf8mb3" },
            { name: "notes", charset: "utf8mb3" },
        ]);
        // The unique key: the same key twice is refused by the database.
        await expect(insertApiKey(db, { apikey: keys.local, ipaddr: "127.0.0.9" })).rejects.toThrow(/Duplicate entry/);
    });

    it("takes the help desk's prefix and refuses one that is not an identifier", async () => {
        expect(apiKeyTable("hd_")).toBe("hd_api_key");
        expect(apiKeyTableDdl("hd_")).toContain("CREATE TABLE IF NOT EXISTS `hd_api_key`");
        expect(() => apiKeyTableDdl("x`; DROP TABLE t; --")).toThrow(/prefix/);
        const other = await createTestDatabase("hd_");
        try {
            const tables = await other.query<RowDataPacket[]>("SHOW TABLES");
            expect(tables.map((t) => Object.values(t)[0])).toEqual(["hd_api_key"]);
        } finally {
            await other.drop();
        }
    });
});

describe("API keys", () => {
    it("accepts a key only from its own address", async () => {
        const before = sandbox.tickets.length;
        const a = await post("/api/tickets.json", { key: keys.local, body: ticket(), source: "127.0.0.1" });
        expect(a).toMatchObject({ status: 201, text: expect.stringMatching(/^\d{6}$/) });
        const b = await post("/api/tickets.json", { key: keys.other, body: ticket(), source: "127.0.0.2" });
        expect(b.status).toBe(201);
        expect(sandbox.tickets.slice(before).map((t) => [t.number, t.remoteAddr])).toEqual([
            [a.text, "127.0.0.1"],
            [b.text, "127.0.0.2"],
        ]);
        // The lookup is by key and address: from another address the key is simply not found.
        expect(await post("/api/tickets.json", { key: keys.local, body: ticket(), source: "127.0.0.2" })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tickets.json", { key: keys.other, body: ticket(), source: "127.0.0.1" })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tasks/cron", { key: keys.other, source: "127.0.0.1" })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(sandbox.tickets.length).toBe(before + 2);
    });

    it("reads an IPv4-mapped IPv6 peer as its IPv4 address (a server listening on ::)", async () => {
        const peer = (remoteAddress: string) => remoteIp({ socket: { remoteAddress } } as unknown as http.IncomingMessage);
        expect(peer("::ffff:127.0.0.2")).toBe("127.0.0.2");
        expect(peer("127.0.0.2")).toBe("127.0.0.2");
        expect(peer("::1")).toBe("::1");
        const dual = await listen(sandbox.handler, 0, "::");
        try {
            const { port } = dual.server.address() as AddressInfo;
            const cron = await request(`http://127.0.0.1:${port}/api/tasks/cron`, { method: "POST", headers: { "x-api-key": keys.other }, dispatcher: from("127.0.0.2") });
            expect([cron.statusCode, await cron.body.text()]).toEqual([200, "Completed"]);
        } finally {
            await dual.close();
        }
    });

    it("refuses a missing or unknown key", async () => {
        expect(await post("/api/tickets.json", { body: ticket() })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tickets.json", { key: "", body: ticket() })).toMatchObject({ status: 401, text: MSG.keyRequired });
        const unknown = newKey();
        expect(await post("/api/tickets.json", { key: unknown, body: ticket() })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tasks/cron", { key: unknown })).toMatchObject({ status: 401, text: MSG.keyRequired });
        // Every key seen is recorded for leak scans.
        expect(sandbox.issued.keys.has(unknown)).toBe(true);
    });

    it("refuses an inactive key, and takes it again once reactivated in the table", async () => {
        const refused = { status: 401, text: MSG.keyNotActive };
        expect(await post("/api/tickets.json", { key: keys.inactive, body: ticket() })).toMatchObject(refused);
        expect(await post("/api/tasks/cron", { key: keys.inactive })).toMatchObject(refused);
        await db.query(`UPDATE \`${db.table}\` SET isactive = 1 WHERE apikey = ?`, [keys.inactive]);
        try {
            expect((await post("/api/tasks/cron", { key: keys.inactive })).status).toBe(200);
        } finally {
            await db.query(`UPDATE \`${db.table}\` SET isactive = 0 WHERE apikey = ?`, [keys.inactive]);
        }
        expect(await post("/api/tasks/cron", { key: keys.inactive })).toMatchObject(refused);
    });

    it("checks the right of each endpoint: tickets need can_create_tickets, cron can_exec_cron", async () => {
        expect(await post("/api/tickets.json", { key: keys.cronOnly, body: ticket() })).toMatchObject({ status: 401, text: MSG.notAuthorized });
        expect(await post("/api/tasks/cron", { key: keys.cronOnly })).toMatchObject({ status: 200, text: "Completed" });
        expect(await post("/api/tasks/cron", { key: keys.ticketsOnly })).toMatchObject({ status: 401, text: MSG.notAuthorized });
        expect((await post("/api/tickets.json", { key: keys.ticketsOnly, body: ticket() })).status).toBe(201);
    });

    it("checks the key before the format and the body", async () => {
        expect(await post("/api/tickets.xml", { key: newKey(), body: "<x/>" })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tickets.json", { key: keys.cronOnly, body: "not json" })).toMatchObject({ status: 401, text: MSG.notAuthorized });
    });
});

describe("tickets", () => {
    it("creates a ticket from JSON: 201, the number as the whole body, numbers counting up", async () => {
        const first = await post("/api/tickets.json", { key: keys.local, body: ticket({ phone: "318-555-8634x123", alert: false }) });
        const second = await post("/api/tickets.json", { key: keys.local, body: ticket({ message: "data:text/html,<p>Hot</p>" }) });
        expect(first).toEqual({ status: 201, text: expect.stringMatching(/^\d{6}$/), contentType: "text/html; charset=UTF-8" });
        expect(Number(second.text)).toBe(Number(first.text) + 1);
        const [t1, t2] = sandbox.tickets.slice(-2);
        expect(t1).toMatchObject({ number: first.text, format: "json", email: "jane@example.com", name: "Jane Doe", subject: "Printer on fire", source: "API", alert: false, autorespond: true });
        expect(t1.fields.phone).toBe("318-555-8634X123");
        expect(t2).toMatchObject({ message: "<p>Hot</p>", messageType: "text/html" });
    });

    it("creates a ticket from XML, root attributes and child elements alike", async () => {
        const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ticket alert="false" autorespond="true" source="API">
    <name>Angry User</name>
    <email>api@example.com</email>
    <subject>Testing API</subject>
    <message type="text/html"><![CDATA[<p>Message content here</p>]]></message>
    <attachments>
        <file name="file.txt" type="text/plain"><![CDATA[File content]]></file>
    </attachments>
    <ip>123.211.233.122</ip>
</ticket>`;
        const res = await post("/api/tickets.xml", { key: keys.local, body: xml, headers: { "content-type": "application/xml" } });
        expect(res).toMatchObject({ status: 201, text: expect.stringMatching(/^\d{6}$/) });
        expect(sandbox.tickets.at(-1)).toMatchObject({
            number: res.text,
            format: "xml",
            name: "Angry User",
            email: "api@example.com",
            subject: "Testing API",
            message: "<p>Message content here</p>",
            messageType: "text/html",
            alert: false,
            autorespond: true,
            fields: { ip: "123.211.233.122", attachments: [{ name: "file.txt", type: "text/plain", data: "File content" }] },
        });
        expect(await post("/api/tickets.xml", { key: keys.local, body: "<ticket><name>x</ticket>" })).toMatchObject({ status: 400, text: expect.stringMatching(/^XML error: .+ at line 1:\d+$/) });
        expect(await post("/api/tickets.xml", { key: keys.local, body: "<ticket><name>x</name><colour>red</colour></ticket>" })).toMatchObject({ status: 400, text: `colour: ${MSG.unexpectedData}` });
    });

    it("answers URL not supported to a format the help desk does not route, before the key check", async () => {
        for (const path of ["/api/tickets.txt", "/api/tickets.yaml", "/api/tickets.JSON", "/api/http.php/tickets.txt"]) {
            expect(await post(path, { key: newKey(), body: ticket() })).toEqual({ status: 400, text: MSG.urlNotSupported, contentType: "text/html; charset=UTF-8" });
        }
        // The email format is routed and its key checked; the sandbox parses no MIME.
        expect(await post("/api/tickets.email", { key: newKey(), body: "From: a@b.c" })).toMatchObject({ status: 401, text: MSG.keyRequired });
        expect(await post("/api/tickets.email", { key: keys.local, body: "From: a@b.c" })).toMatchObject({ status: 415, text: MSG.unsupportedFormat });
    });

    it("refuses fields it does not know with 400 in the stricter mode", async () => {
        expect(await post("/api/tickets.json", { key: keys.local, body: ticket({ colour: "red" }) })).toMatchObject({ status: 400, text: `colour: ${MSG.unexpectedData}` });
        expect(await post("/api/tickets.json", { key: keys.local, body: ticket({ attachments: [{ "a.txt": "data:text/plain,hi" }], thread_entry_recipients: { x: { bcc: "a" } } }) })).toMatchObject({
            status: 400,
            text: `thread_entry_recipients/x/bcc: ${MSG.unexpectedData}`,
        });
    });

    it("only logs unknown fields by default, as osTicket 1.18 does", async () => {
        const lax = new SupportSystemSandbox({ database: db.config });
        const s = await listen(lax.handler, 0);
        try {
            const res = await request(`${s.url}/api/tickets.json`, { method: "POST", headers: { "x-api-key": keys.local }, body: ticket({ colour: "red" }), dispatcher: from("127.0.0.1") });
            expect(res.statusCode).toBe(201);
            await res.body.text();
            expect(lax.warnings).toEqual([`colour: ${MSG.unexpectedData}`]);
        } finally {
            await s.close();
            await lax.close();
        }
    });

    it("answers 500 Unable to create new ticket for missing fields, and 400 for a body that parses to nothing", async () => {
        const res = await post("/api/tickets.json", { key: keys.local, body: JSON.stringify({ email: "a@b.c", name: " " }) });
        // Ticket::create's errors through Format::array_implode("\n", "\n"): key, newline, message.
        expect(res).toEqual({
            status: 500,
            text: "Unable to create new ticket :user\nIncomplete client information\n20\nIssue Summary is a required field\n21\nIssue Details is a required field",
            contentType: "text/html; charset=UTF-8",
        });
        expect(await post("/api/tickets.json", { key: keys.local, body: ticket({ subject: "" }) })).toMatchObject({ status: 500, text: "Unable to create new ticket :20\nIssue Summary is a required field" });
        expect(await post("/api/tickets.json", { key: keys.local, body: ticket({ email: "not an address" }) })).toMatchObject({ status: 500, text: "Unable to create new ticket :user\nIncomplete client information" });
        expect(await post("/api/tickets.json", { key: keys.local, body: "{" })).toMatchObject({ status: 400, text: "Syntax error, malformed JSON" });
        expect(await post("/api/tickets.json", { key: keys.local, body: "{}" })).toMatchObject({ status: 400, text: "No errors" });
    });
});

describe("the rest of the API", () => {
    it("runs cron", async () => {
        const runs = sandbox.cronRuns;
        expect(await post("/api/tasks/cron", { key: keys.local })).toEqual({ status: 200, text: "Completed", contentType: "text/html; charset=UTF-8" });
        expect(sandbox.cronRuns).toBe(runs + 1);
    });

    it("answers URL not supported to other methods and paths, before any key check; takes /api/http.php/ too", async () => {
        const get = await request(`${server.url}/api/tickets.json`, { headers: { "x-api-key": keys.local }, dispatcher: from("127.0.0.1") });
        expect([get.statusCode, await get.body.text()]).toEqual([400, MSG.urlNotSupported]);
        expect(await post("/api/tickets", { key: newKey() })).toMatchObject({ status: 400, text: MSG.urlNotSupported });
        expect(await post("/api/http.php/tasks/cron", { key: keys.local })).toMatchObject({ status: 200, text: "Completed" });
    });

    it("fails the next call of a route on demand, and counts calls by route", async () => {
        sandbox.stats.reset();
        sandbox.failNext("POST /api/tasks/cron", 503, "maintenance", 1);
        expect((await post("/api/tasks/cron", { key: keys.local })).status).toBe(200);
        expect(await post("/api/tasks/cron", { key: keys.local })).toMatchObject({ status: 503, text: "maintenance" });
        expect((await post("/api/tasks/cron", { key: keys.local })).status).toBe(200);
        await post("/api/tickets.json", { key: keys.local, body: ticket() });
        expect(sandbox.stats.snapshot().byRoute).toEqual({ "POST /api/tasks/cron": 3, "POST /api/tickets.{format}": 1 });
    });
});

describe("the seed's curl example", () => {
    const fixture = fs.readFileSync(new URL("./fixtures/supportsystem-seed-curl.txt", import.meta.url), "utf8");
    const seedKey = "BA00B76BAA30F62E1940B46CC1C3C73C";

    // Asynchronous on purpose: the sandbox answers from this very process.
    async function run(command: string): Promise<{ status: number; text: string }> {
        const { stdout } = await promisify(execFile)("bash", ["-c", `${command} --silent --show-error --interface 127.0.0.1 --write-out '\\n%{http_code}'`], { encoding: "utf8" });
        const at = stdout.lastIndexOf("\n");
        return { text: stdout.slice(0, at), status: Number(stdout.slice(at + 1)) };
    }

    it("runs verbatim with the host swapped", async () => {
        // The doc wraps the command; its URL is on an indented line of its own.
        const command = fixture
            .replace(/^#.*\n/gm, "")
            .trim()
            .replace(/\n\s+/g, " ")
            .replace("https://support.you.tld", server.url);
        expect(command).toBe(`curl -d "{}" -H "X-API-Key: ${seedKey}" ${server.url}/api/tickets.json`);

        // Until the admin panel has the key for this address, the help desk does not know it.
        expect(await run(command)).toEqual({ status: 401, text: MSG.keyRequired });
        await insertApiKey(db, { apikey: seedKey, ipaddr: "127.0.0.1" });
        // With the key, the request passes the key checks; its body `{}` is valid JSON holding
        // nothing, which the help desk answers with its JSON parser's last error.
        expect(await run(command)).toEqual({ status: 400, text: "No errors" });
        // The same command with a real ticket in -d creates it.
        const created = await run(command.replace(`-d "{}"`, `-d '${ticket()}'`));
        expect(created).toMatchObject({ status: 201, text: expect.stringMatching(/^\d{6}$/) });
        expect(sandbox.tickets.at(-1)).toMatchObject({ number: created.text, subject: "Printer on fire", remoteAddr: "127.0.0.1" });
    });
});

describe("start()", () => {
    it("creates the help desk's database and key table where absent, then serves from them", async () => {
        const database = `keyfleet_test_${crypto.randomBytes(6).toString("hex")}`;
        const conn = await createConnection({ ...databaseFromEnv(), database: undefined });
        try {
            const { sandbox: s, server: srv } = await start({ port: 0, mysql: { database } });
            try {
                const key = newKey();
                await conn.query(`INSERT INTO \`${database}\`.ost_api_key (ipaddr, apikey, updated, created) VALUES ('127.0.0.1', ?, NOW(), NOW())`, [key]);
                const res = await request(`${srv.url}/api/tasks/cron`, { method: "POST", headers: { "x-api-key": key }, dispatcher: from("127.0.0.1") });
                expect([res.statusCode, await res.body.text()]).toEqual([200, "Completed"]);
                expect(s.cronRuns).toBe(1);
            } finally {
                await srv.close();
            }
            // Again on the same database: the table is there already and stays as it is.
            const again = await start({ port: 0, mysql: { database } });
            await again.server.close();
            const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${database}\`.ost_api_key`);
            expect(rows[0].n).toBe(1);
        } finally {
            await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
            await conn.end();
        }
    });
});
