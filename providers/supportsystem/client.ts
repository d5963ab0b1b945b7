// SQL client for SupportSystem's API keys. SupportSystem (an osTicket-style help desk) has no API to
// manage its keys: the admin panel (Manage > API Keys) writes them to one table of the help desk's
// MySQL/MariaDB database, so keyfleet manages them there. This is the only code in keyfleet that
// knows the table, its columns and the server's error codes.
//
// The table, as osTicket's installer creates it (setup/inc/streams/core/install-mysql.sql,
// `%TABLE_PREFIX%api_key`; the sandbox's apiKeyTableDdl is the same definition):
//   id int(10) unsigned auto_increment primary key, isactive tinyint(1) not null default 1,
//   ipaddr varchar(64) not null, apikey varchar(255) not null,
//   can_create_tickets tinyint(1) unsigned not null default 1,
//   can_exec_cron tinyint(1) unsigned not null default 1, notes text,
//   updated datetime not null, created datetime not null, key ipaddr (not unique), unique key apikey,
//   DEFAULT CHARSET=utf8.
// keyfleet never creates or alters it: the help desk owns the schema.
//
// `utf8` is MySQL's utf8mb3: no character outside Unicode's Basic Multilingual Plane (an emoji is
// one) fits in `notes`. keyfleet reads the column's character set from information_schema once per
// process and refuses such text before it writes anything (refuseUnstorable), naming where the text
// is in the YAML; a strict server would refuse the statement with a misleading "Incorrect string
// value", and a non-strict one (osTicket's own sessions run with an empty SQL_MODE) would store `?`.
//
// From osTicket's class.api.php (API::save): a row is written with `updated` and `created` set to
// NOW(), and every edit sets `updated = NOW()`. NOW() is wall-clock time in the session's zone, and
// osTicket's sessions set `TIME_ZONE = 'SYSTEM'` (db_connect in include/mysqli.php), the server
// host's zone, whatever the server's global default (a DBA's `default-time-zone = '+00:00'` is
// common). So every connection of keyfleet sets the same before its first statement: keyfleet's
// rows then carry the same wall-clock times as the admin panel's, and UNIX_TIMESTAMP() reads both
// back as instants. osTicket also sets an empty SQL_MODE; keyfleet keeps the server's (strict by
// default), so that a value a column cannot hold is refused rather than silently cut. For what
// keyfleet writes (0/1 flags, a checked address, a 32-character key, a note checked against the
// column's charset and size, NOW()) both modes store the same.
//
// INFERRED (no source settles it; docs/vendors/supportsystem.md lists the same): that the help desk's PHP sessions keep
// osTicket's `TIME_ZONE = 'SYSTEM'` (a fork with another session zone would see keyfleet's `created`
// shifted; keyfleet's outputs are instants either way); that the probe's `{}` never reaches ticket
// creation (its 500 `Unable to create new ticket` is accepted too, whatever field ids follow); and
// how a column character set other than utf8/utf8mb3/utf8mb4/latin1/ascii/ucs2 behaves (left to
// the server, whose refusal is mapped).
//
// Every statement is parameterised; the table name, the only identifier that varies, comes from a
// prefix checked to be letters, digits and underscores. Every write runs in a transaction, which
// lets the error mapping tell "surely not committed" (anything before COMMIT was sent: the server
// rolls back a transaction whose connection drops) from "outcome unknown" (the connection was lost
// while COMMIT was under way).
import crypto from "node:crypto";
import fs from "node:fs";
import { createPool, type Pool, type PoolConnection, type PoolOptions, type ResultSetHeader, type RowDataPacket } from "mysql2/promise";
import { callVendor, pacerFor } from "../shared/calls.ts";
import { atShutdown } from "../shared/shutdown.ts";
import { sleep } from "../shared/clock.ts";
import { VendorError, vendorWords, type ErrorKind } from "../shared/errors.ts";
import { rememberSecret } from "../shared/redact.ts";
import { Snapshot } from "../shared/snapshot.ts";
import { send } from "../shared/wire.ts";
import type { TlsMode } from "./schema.ts";


export interface SupportSystemDatabase {
    host: string;
    port: number;
    user: string;
    password: string;
    /** The help desk's database (schema). */
    database: string;
    /** The help desk's table prefix (osTicket's TABLE_PREFIX); the key table is `<prefix>api_key`. */
    prefix: string;
    tls: TlsMode;
    /** A PEM file of the CA that signed the server's certificate, for verify-ca and verify-identity. */
    tlsCa?: string;
}

/** One row of the key table. */
export interface ApiKeyRow {
    id: number;
    isactive: boolean;
    ipaddr: string;
    apikey: string;
    canCreateTickets: boolean;
    canExecCron: boolean;
    notes: string | null;
    /** ISO 8601 instants. */
    updated: string;
    created: string;
}

export interface NewApiKeyRow {
    apikey: string;
    ipaddr: string;
    isactive: boolean;
    canCreateTickets: boolean;
    canExecCron: boolean;
    notes: string | null;
}

export type ApiKeyChanges = Partial<Pick<ApiKeyRow, "isactive" | "canCreateTickets" | "canExecCron" | "notes">>;

const PREFIX = /^[A-Za-z0-9_]*$/;

/** The key table's name for `prefix`. */
export function apiKeyTable(prefix: string): string {
    if (!PREFIX.test(prefix)) throw new Error(`table prefix ${JSON.stringify(prefix)} must be letters, digits and underscores`);
    return `${prefix}api_key`;
}

/** A key value that collided with another row's (the unique key `apikey`): the caller draws another. */
export class DuplicateApiKey extends VendorError {}

/** Where a statement was when it failed: decides between "not done" and "outcome unknown". */
type Phase = "connect" | "read" | "beforeCommit" | "commit" | "autocommit";

const COLUMNS =
    "id, isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes, UNIX_TIMESTAMP(updated) AS updated_ts, UNIX_TIMESTAMP(created) AS created_ts";

/** Pool connections whose session is set up as osTicket's (see sessionOf). */
const prepared = new WeakSet<object>();

/** Statements sent by this process, for tests and the benchmark (a refresh of N keys is one `select`). */
export const statements = { select: 0, insert: 0, update: 0, delete: 0 };

/** Every read of a process shares one SELECT of the table for a short while; any write forgets it. */
const snapshot = new Snapshot<ApiKeyRow[]>();
const pools = new Map<string, Pool>();
atShutdown(closeAll);
/** Character set of each text column keyfleet writes, per database and table: read once per process. */
const charsets = new Map<string, Promise<Map<string, string | null>>>();

/** Text for a column, with where it comes from: "config/prod.yaml:7:15 supportsystem.apiKeys[0].note". */
export interface StoredText {
    column: "notes";
    text: string;
    field: string;
}

/**
 * Uses `apiKey` once on the help desk's API, for rotation.verify: POST `{}` to the ticket endpoint,
 * which the help desk checks the key for and then refuses as empty, so no ticket is made. The help
 * desk compares the request's source address with the key's, so this proves the key only when it
 * runs from that address.
 *
 * What osTicket answers (include/api.tickets.php, include/class.api.php, class.dispatcher.php),
 * and what each means for the key:
 *   400 `No errors`                      json_decode("{}") is an empty array, refused as no data:
 *                                        the key passed every check (the seed's own curl example).
 *   401 `API key not authorized`         a valid key without "Can Create Tickets": accepted too.
 *   500 `Unable to create new ticket :…` a body that reached Ticket::create (fields missing): only
 *                                        after the key checks, so accepted by default as well, for
 *                                        a probeUrl or a desk that passes `{}` on.
 *   401 `Valid API key required`         no key with this value for the probe's source address.
 *   401 `API key not found/active …`     the key is disabled.
 *   400 `URL not supported`              the URL is not a ticket route (tickets.xml|json|email).
 */
export async function probeKey(apiUrl: string | undefined, apiKey: string, url?: string): Promise<{ probe: string; status: number; text: string }> {
    if (!url && !apiUrl) throw new Error("keyfleet:supportsystem.apiUrl is not set (nor KEYFLEET_SUPPORTSYSTEM_API_URL); set it to the help desk's web address to verify keys");
    const target = url ?? `${apiUrl!.replace(/\/+$/, "")}/api/tickets.json`;
    const res = await send({ method: "POST", url: target, headers: { "x-api-key": apiKey, "content-type": "application/json" }, body: "{}" });
    return { probe: `POST ${target} with an empty ticket`, status: res.status, text: res.text };
}

/** Why the help desk refused the probe, from its answer; undefined for an answer it does not explain. */
export function probeRefusal(status: number, text: string): string | undefined {
    if (status === 401 && text.includes("Valid API key required")) {
        return "the help desk knows no key with this value for the address the probe came from: it binds each key to one address, so run verify from the key's own ip (or point probeUrl at the help desk as that host reaches it)";
    }
    if (status === 401 && text.includes("not found/active")) return "the help desk has the key but it is disabled (isactive = 0)";
    if (status === 400 && text.includes("URL not supported")) {
        return "the URL is not one of the help desk's API routes; keyfleet:supportsystem.apiUrl is the help desk's web address (the API is <apiUrl>/api/tickets.json), probeUrl a full URL ending in /api/tickets.json or .xml";
    }
    if (status >= 500) return "the help desk failed; see its system logs (Admin Panel > Dashboard > System Logs)";
    return undefined;
}

export class SupportSystemClient {
    readonly db: SupportSystemDatabase;
    readonly table: string;
    private readonly id: string;

    constructor(db: SupportSystemDatabase) {
        this.db = db;
        this.table = apiKeyTable(db.prefix);
        const secret = crypto.createHash("sha256").update(db.password).digest("hex");
        this.id = [db.host, db.port, db.user, secret, db.database, db.tls, db.tlsCa ?? ""].join("\0");
    }

    /** "table `ost_api_key` in database `helpdesk` on db.example.com:3306", for messages. */
    get where(): string {
        return `table \`${this.table}\` in database \`${this.db.database}\` on ${this.db.host}:${this.db.port}`;
    }

    /** The character set of each text column of the key table (null for a column without one), read once per process. */
    columnCharsets(): Promise<Map<string, string | null>> {
        const cacheKey = `${this.id}\0${this.table}`;
        let known = charsets.get(cacheKey);
        if (!known) {
            known = this.call(true, async () => {
                const conn = await this.connection();
                try {
                    // A user with rights on the table alone sees its columns here too.
                    const [rows] = await conn.execute<RowDataPacket[]>(
                        "SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                        [this.db.database, this.table],
                    );
                    return new Map(rows.map((r) => [String(r.name), r.charset === null ? null : String(r.charset)]));
                } catch (err) {
                    throw this.failure(err, "read", [], conn);
                } finally {
                    conn.release();
                }
            });
            charsets.set(cacheKey, known);
            known.catch(() => charsets.delete(cacheKey));
        }
        return known;
    }

    /**
     * Refuses, before anything is written, text that the column's character set cannot hold: a
     * `rejected` error naming the field (its place in the YAML), the character and the charset.
     */
    async refuseUnstorable(texts: readonly StoredText[]): Promise<void> {
        // Every character set a help desk table has holds ASCII: the common case asks nothing.
        if (texts.every((t) => !/[^\x00-\x7f]/.test(t.text))) return;
        const columns = await this.columnCharsets();
        for (const t of texts) {
            const charset = columns.get(t.column) ?? null;
            const bad = charset ? firstUnstorable(t.text, charset) : undefined;
            if (bad === undefined) continue;
            const point = `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
            const mb3 = /^(utf8|utf8mb3)$/i.test(charset!);
            throw new VendorError(
                "rejected",
                `${t.field}: has ${JSON.stringify(bad)} (${point}), which column \`${t.column}\` of ${this.where} cannot hold: its character set is ${charset}` +
                    (mb3 ? " (MySQL's 3-byte utf8, as osTicket's installer makes its tables), which has no 4-byte characters such as emoji" : "") +
                    "; nothing was written",
                {
                    hint:
                        `remove that character from the YAML, or have the table converted (ALTER TABLE \`${this.table}\` CONVERT TO CHARACTER SET utf8mb4)` +
                        (mb3 ? "; note that osTicket itself talks utf8mb3 to its database, so its admin panel may still not show such a character" : ""),
                },
            );
        }
    }

    /** Every row of the key table, from one SELECT shared by all reads of the process. */
    async list(): Promise<ApiKeyRow[]> {
        return snapshot.get(`${this.id}\0${this.table}`, () =>
            this.call(true, async () => {
                const conn = await this.connection();
                try {
                    statements.select++;
                    const [rows] = await conn.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM \`${this.table}\` ORDER BY id`);
                    return rows.map((r) => this.row(r));
                } catch (err) {
                    throw this.failure(err, "read", [], conn);
                } finally {
                    conn.release();
                }
            }),
        );
    }

    /** The row with this id, or undefined when it is gone. */
    async get(id: number): Promise<ApiKeyRow | undefined> {
        return (await this.list()).find((r) => r.id === id);
    }

    /**
     * Inserts a row; a collision of `apikey` with another row is a DuplicateApiKey. A connection lost
     * while COMMIT was under way is settled here, by the session and the key value (see settle):
     * the row is returned when it was committed, and the insert is safely repeated when it was not.
     */
    async insert(row: NewApiKeyRow): Promise<ApiKeyRow> {
        return this.call(false, () =>
            this.transaction(
                [row.apikey],
                async (conn) => {
                    statements.insert++;
                    const [result] = await conn.execute<ResultSetHeader>(
                        `INSERT INTO \`${this.table}\` (isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes, updated, created)
                         VALUES (?, ?, ?, ?, ?, ?, NOW(), NOW())`,
                        [bit(row.isactive), row.ipaddr, row.apikey, bit(row.canCreateTickets), bit(row.canExecCron), row.notes],
                    );
                    const made = await this.select(conn, result.insertId);
                    // Before COMMIT: the transaction is rolled back, so nothing was made.
                    if (!made) throw new VendorError("invalidAnswer", `the row just inserted into ${this.where} cannot be read back`, { notProcessed: true });
                    return made;
                },
                (session, lost) => this.settle(session, row.apikey, lost),
            ),
        );
    }

    /**
     * The outcome of an insert whose COMMIT lost its connection. The server may not have finished
     * (or even received) that COMMIT yet: a lookup right away can miss a row that commits a moment
     * later. So the lost session is ended first (KILL; a user may end its own sessions) and awaited
     * until it is gone from the process list (a user sees its own sessions without PROCESS): from
     * then on nothing of it can still commit. Then the row is looked up by the key value just
     * written, unique in the table and unknown to anyone else, so no clock is involved. Found: it
     * is the row. Absent: nothing was committed, and the insert may be repeated. When the server
     * cannot be asked, the outcome stays unknown and the core's recovery takes over.
     */
    private async settle(session: number, apikey: string, lost: VendorError): Promise<ApiKeyRow> {
        let conn: PoolConnection | undefined;
        for (let attempt = 1; !conn; attempt++) {
            try {
                conn = await this.pool().getConnection();
                await sessionOf(conn).catch((err) => {
                    conn!.destroy();
                    conn = undefined;
                    throw err;
                });
            } catch {
                if (attempt >= SETTLE_CONNECTS) throw lost;
                await sleep(200);
            }
        }
        try {
            // ER_NO_SUCH_THREAD: the session has already ended.
            await conn.query("KILL CONNECTION ?", [session]).catch(() => undefined);
            const deadline = Date.now() + SETTLE_WAIT_MS;
            for (;;) {
                const [alive] = await conn.execute<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?", [session]);
                if (Number(alive[0]?.n) === 0) break;
                if (Date.now() > deadline) throw lost;
                await sleep(50);
            }
            statements.select++;
            const [rows] = await conn.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM \`${this.table}\` WHERE apikey = ?`, [apikey]);
            if (rows[0]) return this.row(rows[0]);
            throw new VendorError("unavailable", `${lost.vendorMessage}; the insert was not committed (its session ended without it)`, {
                code: lost.code,
                notProcessed: true,
            });
        } catch (err) {
            if (err === lost || (err instanceof VendorError && err.notProcessed)) throw err;
            // The server cannot tell now: the outcome stays unknown.
            if ((err as { fatal?: boolean }).fatal) conn.destroy();
            throw lost;
        } finally {
            conn.release();
        }
    }

    /** Changes the row's flags and notes and sets `updated`; notFound when the row is gone. */
    async update(id: number, changes: ApiKeyChanges): Promise<ApiKeyRow> {
        const sets: string[] = [];
        const values: (number | string | null)[] = [];
        const put = (column: string, value: number | string | null) => (sets.push(`${column} = ?`), values.push(value));
        if (changes.isactive !== undefined) put("isactive", bit(changes.isactive));
        if (changes.canCreateTickets !== undefined) put("can_create_tickets", bit(changes.canCreateTickets));
        if (changes.canExecCron !== undefined) put("can_exec_cron", bit(changes.canExecCron));
        if (changes.notes !== undefined) put("notes", changes.notes);
        // The admin panel sets `updated` on every save.
        sets.push("updated = NOW()");
        return this.call(true, () =>
            this.transaction([], async (conn) => {
                statements.update++;
                await conn.execute(`UPDATE \`${this.table}\` SET ${sets.join(", ")} WHERE id = ?`, [...values, id]);
                const row = await this.select(conn, id);
                if (!row) throw new VendorError("notFound", `no row ${id} in ${this.where}`, { code: "0 rows" });
                return row;
            }),
        );
    }

    /** Deletes the row; false when it was already gone. */
    async delete(id: number): Promise<boolean> {
        return this.call(true, async () => {
            const conn = await this.connection();
            try {
                statements.delete++;
                const [result] = await conn.execute<ResultSetHeader>(`DELETE FROM \`${this.table}\` WHERE id = ?`, [id]);
                return result.affectedRows > 0;
            } catch (err) {
                throw this.failure(err, "autocommit", [], conn);
            } finally {
                snapshot.forget();
                conn.release();
            }
        });
    }

    /** Retries and pacing are the core's; `idempotent` says whether a lost answer may be repeated. */
    private call<T>(idempotent: boolean, attempt: () => Promise<T>): Promise<T> {
        return callVendor({ idempotent, pacer: pacerFor(`supportsystem\0${this.db.host}:${this.db.port}\0${this.db.user}`) }, attempt);
    }

    private async select(conn: PoolConnection, id: number): Promise<ApiKeyRow | undefined> {
        statements.select++;
        const [rows] = await conn.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM \`${this.table}\` WHERE id = ?`, [id]);
        return rows[0] ? this.row(rows[0]) : undefined;
    }

    /**
     * Runs `work` in a transaction; `secrets` are values the server may echo in an error (a duplicate
     * key). `settle`, when given, resolves a COMMIT whose outcome was lost, from the session's id.
     */
    private async transaction<T>(
        secrets: string[],
        work: (conn: PoolConnection) => Promise<T>,
        settle?: (session: number, lost: VendorError) => Promise<T>,
    ): Promise<T> {
        const conn = await this.connection();
        let phase: Phase = "beforeCommit";
        let session: number | undefined;
        let lost: VendorError | undefined;
        try {
            try {
                await conn.beginTransaction();
                if (settle) {
                    const [ids] = await conn.query<RowDataPacket[]>("SELECT CONNECTION_ID() AS id");
                    session = Number(ids[0]?.id);
                }
                const result = await work(conn);
                phase = "commit";
                await conn.commit();
                return result;
            } catch (err) {
                if (phase === "beforeCommit") await conn.rollback().catch(() => undefined);
                const failure = this.failure(err, phase, secrets, conn);
                if (!settle || session === undefined || !Number.isInteger(session) || failure.kind !== "outcomeUnknown") throw failure;
                lost = failure;
            }
        } finally {
            // Whatever happened, the table may have changed: the next read asks the database again.
            snapshot.forget();
            conn.release();
        }
        try {
            return await settle(session, lost);
        } finally {
            snapshot.forget();
        }
    }

    /** The server's clock in milliseconds: `created` comes from it, not from keyfleet's. One try, no retries: the caller falls back to its own clock. */
    async now(): Promise<number> {
        const conn = await this.connection();
        try {
            const [rows] = await conn.query<RowDataPacket[]>("SELECT UNIX_TIMESTAMP(NOW(3)) AS now");
            const now = Number(rows[0]?.now) * 1000;
            if (!Number.isFinite(now)) throw new VendorError("invalidAnswer", `${this.db.host}:${this.db.port} gave no UNIX_TIMESTAMP()`);
            return now;
        } catch (err) {
            throw this.failure(err, "read", [], conn);
        } finally {
            conn.release();
        }
    }

    private async connection(): Promise<PoolConnection> {
        let conn: PoolConnection;
        try {
            conn = await this.pool().getConnection();
        } catch (err) {
            throw this.failure(err, "connect");
        }
        try {
            return await sessionOf(conn);
        } catch (err) {
            // failure() destroys a connection that broke for good; release() after that is a no-op.
            const failed = this.failure(err, "connect", [], conn);
            conn.release();
            throw failed;
        }
    }

    private pool(): Pool {
        let pool = pools.get(this.id);
        if (!pool) {
            const options: PoolOptions = {
                host: this.db.host,
                port: this.db.port,
                user: this.db.user,
                password: this.db.password,
                database: this.db.database,
                ssl: tlsOptions(this.db),
                connectionLimit: POOL_SIZE,
                waitForConnections: true,
                connectTimeout: 10_000,
                // Idle connections stay open for the process's next call: the engine hands the
                // provider a key every second or so, and with maxIdle 0 mysql2 closed every idle
                // connection each second, so a step of 25 keys logged in up to 37 times. They end
                // at closeAll (atShutdown), or after a minute unused: one below the pool's size, so
                // mysql2's idleTimeout applies and a process that never calls closeAll still ends.
                // One the server drops while idle leaves the pool on its 'end'. A connection that
                // failed is destroyed, never released (failure()).
                maxIdle: Math.max(1, POOL_SIZE - 1),
                idleTimeout: 60_000,
                multipleStatements: false,
                charset: "utf8mb4",
            };
            pools.set(this.id, (pool = createPool(options)));
        }
        return pool;
    }

    /** A row read strictly: a column of another type is an error, never a default. */
    private row(r: RowDataPacket): ApiKeyRow {
        const bad = (column: string) => new VendorError("invalidAnswer", `${this.where} has a row whose \`${column}\` is not what the help desk writes`);
        if (typeof r.id !== "number") throw bad("id");
        if (typeof r.ipaddr !== "string") throw bad("ipaddr");
        if (typeof r.apikey !== "string") throw bad("apikey");
        // The table holds every key of the help desk, not only this stack's: each value read is
        // remembered, so that nothing this process prints can show one (redact.ts).
        rememberSecret(r.apikey);
        if (r.notes !== null && typeof r.notes !== "string") throw bad("notes");
        const flag = (column: string) => {
            const v = r[column];
            if (typeof v !== "number") throw bad(column);
            return v !== 0;
        };
        const instant = (column: string) => {
            const v = Number(r[`${column}_ts`]);
            if (r[`${column}_ts`] === null || !Number.isFinite(v)) throw bad(column);
            return new Date(v * 1000).toISOString();
        };
        return {
            id: r.id,
            isactive: flag("isactive"),
            ipaddr: r.ipaddr,
            apikey: r.apikey,
            canCreateTickets: flag("can_create_tickets"),
            canExecCron: flag("can_exec_cron"),
            notes: r.notes,
            updated: instant("updated"),
            created: instant("created"),
        };
    }

    /** The server's error as one of the core's kinds, with what to do; never quotes a key value or the password. */
    private failure(err: unknown, phase: Phase, secrets: string[] = [], conn?: PoolConnection): VendorError {
        if (err instanceof VendorError) return err;
        const e = err as { code?: string; errno?: number; sqlMessage?: string; message?: string; fatal?: boolean };
        // A connection that failed for good must not go back to the pool (release() after this is a no-op).
        if (e.fatal && conn) conn.destroy();
        const code = e.code ?? "ERROR";
        const said = vendorWords(e.sqlMessage ?? e.message ?? "", [...secrets, this.db.password]);
        const server = `${this.db.host}:${this.db.port}`;
        const make = (kind: ErrorKind, message: string, hint?: string, extra: { notProcessed?: boolean; retryAfterMs?: number } = {}) =>
            new VendorError(kind, message, { code, hint, ...extra });
        // A missing table, database or column refuses the statement before it runs: nothing was
        // written, so the core never takes such an answer to a create for an unknown outcome.
        const unrun = { notProcessed: true };
        switch (code) {
            case "ER_DUP_ENTRY": {
                // "Duplicate entry '<value>' for key 'apikey'": the value is a key; only the index is kept.
                const index = /for key '([^']*)'/.exec(e.sqlMessage ?? "")?.[1] ?? "?";
                const message = `duplicate entry for key '${index}' in ${this.where}`;
                return /(^|\.)apikey$/.test(index) ? new DuplicateApiKey("conflict", message, { code }) : make("conflict", message);
            }
            case "ER_NO_SUCH_TABLE":
                return make(
                    "invalidAnswer",
                    `the help desk's key table \`${this.table}\` does not exist in database \`${this.db.database}\` on ${server} (${said})`,
                    "check keyfleet:supportsystem.database and keyfleet:supportsystem.tablePrefix (the help desk's TABLE_PREFIX); keyfleet never creates the table, the help desk's installer does",
                    unrun,
                );
            case "ER_BAD_DB_ERROR":
                return make("invalidAnswer", `database \`${this.db.database}\` does not exist on ${server} (${said})`, "check keyfleet:supportsystem.database: it names the help desk's database", unrun);
            case "ER_BAD_FIELD_ERROR":
                return make("invalidAnswer", `${this.where} lacks a column keyfleet uses (${said})`, "the table is not the help desk's API key table of the expected version; check keyfleet:supportsystem.tablePrefix", unrun);
            case "ER_ACCESS_DENIED_ERROR":
            case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
                return make("unauthorized", `${server} refused the login of "${this.db.user}" (${said})`, "check keyfleet:supportsystem.user and the secret keyfleet:supportsystemPassword");
            case "ER_DBACCESS_DENIED_ERROR":
            case "ER_TABLEACCESS_DENIED_ERROR":
            case "ER_COLUMNACCESS_DENIED_ERROR":
            case "ER_SPECIFIC_ACCESS_DENIED_ERROR":
                return make(
                    "forbidden",
                    `${said}`,
                    `grant "${this.db.user}" SELECT, INSERT, UPDATE and DELETE on \`${this.db.database}\`.\`${this.table}\` (the server says this too when the table does not exist and the user has no rights on the database: check keyfleet:supportsystem.tablePrefix)`,
                );
            case "ER_CON_COUNT_ERROR":
            case "ER_TOO_MANY_USER_CONNECTIONS":
                // Refused before anything ran: wait and try again, as with a rate limit.
                return make("rateLimited", `${server} has too many connections (${said})`, undefined, { retryAfterMs: 1000 });
            case "ER_LOCK_DEADLOCK":
            case "ER_LOCK_WAIT_TIMEOUT":
                // The transaction was rolled back: nothing of it was committed.
                return make("unavailable", `${said}`, undefined, { notProcessed: phase !== "commit" && phase !== "autocommit" });
            case "ER_DATA_TOO_LONG":
                return make("rejected", `${this.where} refused the values (${said})`, "shorten the note: the help desk's column is TEXT (65,535 bytes)");
            case "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD":
            case "ER_CANNOT_CONVERT_STRING":
                // "Incorrect string value: '\xF0\x9F…' for column `notes`": a character outside the
                // column's character set, which refuseUnstorable did not know of (the table changed meanwhile).
                return make(
                    "rejected",
                    `${this.where} refused a character its column's character set cannot hold (${said})`,
                    "remove characters outside that character set (with osTicket's utf8mb3 tables: emoji and other 4-byte characters) from the note and the name",
                );
            case "ER_WRONG_VALUE_COUNT_ON_ROW":
                return make("rejected", `${this.where} refused the values (${said})`, "the table is not the help desk's API key table of the expected version; check keyfleet:supportsystem.tablePrefix");
            case "ER_OPTION_PREVENTS_STATEMENT":
                return make("forbidden", `${server} refused the write (${said})`, "the server is read-only (a replica?); point keyfleet:supportsystem.host at the primary");
        }
        const transport = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT", "ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED"];
        if (/^HANDSHAKE_|CERT|SSL|TLS/.test(code)) {
            return make("unavailable", `TLS to ${server} failed (${said})`, "check keyfleet:supportsystem.tls and keyfleet:supportsystem.tlsCa against the server's TLS setup", { notProcessed: true });
        }
        if (transport.includes(code) || e.fatal) {
            const hint = `check keyfleet:supportsystem.host and port, and that the database server is up`;
            const message = `the database at ${server} did not answer (${said})`;
            // Lost while COMMIT (or an autocommitted write) was under way: it may have been committed.
            if (phase === "commit" || phase === "autocommit") return make("outcomeUnknown", message, undefined);
            // Before COMMIT the server rolls the transaction back when the connection drops; reads change nothing.
            return make("unavailable", message, hint, { notProcessed: true });
        }
        return make("rejected", `${this.where}: ${said}`, "the database refused the statement; check the table against the help desk's schema");
    }
}

const bit = (b: boolean) => (b ? 1 : 0);

/** Characters windows-1252 has, which is what MySQL calls latin1. */
const LATIN1 = new Set(new TextDecoder("windows-1252").decode(Uint8Array.from({ length: 256 }, (_, i) => i)));

/**
 * The first character of `text` that a column of character set `charset` cannot hold, or undefined
 * (also for a character set keyfleet does not know: then the server decides, and its refusal is mapped).
 */
export function firstUnstorable(text: string, charset: string): string | undefined {
    const fits: ((ch: string) => boolean) | undefined = {
        utf8: (ch: string) => ch.codePointAt(0)! <= 0xffff,
        utf8mb3: (ch: string) => ch.codePointAt(0)! <= 0xffff,
        ucs2: (ch: string) => ch.codePointAt(0)! <= 0xffff,
        ascii: (ch: string) => ch.codePointAt(0)! <= 0x7f,
        latin1: (ch: string) => LATIN1.has(ch),
    }[charset.toLowerCase()];
    if (!fits) return undefined;
    for (const ch of text) if (!fits(ch)) return ch;
    return undefined;
}

/**
 * The connection with its session set as osTicket's db_connect sets its own: `time_zone = 'SYSTEM'`,
 * so that NOW() is the server host's wall-clock time, as in the rows the admin panel writes. Once
 * per pooled connection (a session keeps it); on failure the caller still holds the connection.
 */
async function sessionOf(conn: PoolConnection): Promise<PoolConnection> {
    const raw = (conn as unknown as { connection?: object }).connection ?? conn;
    if (prepared.has(raw)) return conn;
    await conn.query("SET time_zone = 'SYSTEM'");
    prepared.add(raw);
    return conn;
}

/** The most connections one pool holds (a process has one pool per server, login and database). */
const POOL_SIZE = 4;

/** Connections tried, and how long a lost session is awaited, to settle a lost COMMIT before its outcome is called unknown. */
const SETTLE_CONNECTS = 3;
const SETTLE_WAIT_MS = 10_000;

function tlsOptions(db: SupportSystemDatabase): PoolOptions["ssl"] {
    if (db.tls === "disabled") return undefined;
    if (db.tls === "required") return { rejectUnauthorized: false };
    const ca = db.tlsCa ? fs.readFileSync(db.tlsCa, "utf8") : undefined;
    return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(db.tls === "verify-ca" ? { checkServerIdentity: () => undefined } : {}) };
}

/** Ends every pool of the process (tests, and commands that end with closeConnections; a provider process simply exits). */
export async function closeAll(): Promise<void> {
    const all = [...pools.values()];
    pools.clear();
    charsets.clear();
    snapshot.forget();
    await Promise.all(all.map((p) => p.end().catch(() => undefined)));
}
