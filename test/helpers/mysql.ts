// A database of the test's own on the server scripts/mariadb.sh found or started
// (KEYFLEET_MYSQL_HOST/PORT/USER/PASSWORD; default 127.0.0.1:3306, root, no password), holding the
// help desk's API key table as the help desk creates it. Each call makes a new database with a
// random name; drop() removes it.
import crypto from "node:crypto";
import { createConnection, type ResultSetHeader } from "mysql2/promise";
import {
    apiKeyTable,
    databaseFromEnv,
    ensureHelpDeskDatabase,
    SUPPORTSYSTEM_DEFAULTS,
    type SupportSystemDatabase,
} from "../../sandbox/supportsystem.ts";

export interface TestDatabase {
    /** Connection settings, `database` included. */
    config: SupportSystemDatabase;
    /** The database's name: keyfleet_test_<random>. */
    name: string;
    /** The help desk's table prefix and the key table's name. */
    prefix: string;
    table: string;
    /** Runs one statement with `?` parameters on a short-lived connection to the database. */
    query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
    drop(): Promise<void>;
}

export async function createTestDatabase(prefix: string = SUPPORTSYSTEM_DEFAULTS.prefix): Promise<TestDatabase> {
    const name = `keyfleet_test_${crypto.randomBytes(6).toString("hex")}`;
    const config = databaseFromEnv(name);
    await ensureHelpDeskDatabase(config, prefix);
    const server = { host: config.host, port: config.port, user: config.user, password: config.password };
    return {
        config,
        name,
        prefix,
        table: apiKeyTable(prefix),
        async query<T>(sql: string, params: unknown[] = []): Promise<T> {
            const conn = await createConnection({ ...server, database: name });
            try {
                const [result] = await conn.query(sql, params);
                return result as T;
            } finally {
                await conn.end();
            }
        },
        async drop() {
            const conn = await createConnection(server);
            try {
                await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
            } finally {
                await conn.end();
            }
        },
    };
}

export interface ApiKeyRow {
    apikey: string;
    ipaddr: string;
    isactive?: boolean;
    can_create_tickets?: boolean;
    can_exec_cron?: boolean;
    notes?: string | null;
}

/** Inserts a key row as the help desk's admin panel would (flags default to on); returns its id. */
export async function insertApiKey(db: TestDatabase, row: ApiKeyRow): Promise<number> {
    const result = await db.query<ResultSetHeader>(
        `INSERT INTO \`${db.table}\` (isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes, updated, created)
         VALUES (?, ?, ?, ?, ?, ?, NOW(), NOW())`,
        [row.isactive ?? true, row.ipaddr, row.apikey, row.can_create_tickets ?? true, row.can_exec_cron ?? true, row.notes ?? null],
    );
    return result.insertId;
}
