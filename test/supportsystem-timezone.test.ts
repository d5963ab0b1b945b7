// osTicket's sessions set `TIME_ZONE = 'SYSTEM'` (include/mysqli.php, db_connect), so the admin
// panel's NOW() is the database host's wall-clock time even when the server's global zone is another
// (a DBA's `default-time-zone = '+00:00'`). On a server of the test's own whose host zone is +05:45
// and whose global zone is +00:00, keyfleet's `created`/`updated` must be the same wall-clock time as
// a row written the way osTicket writes it, and its outputs the right instants.
// Runs only where mariadbd is installed (scripts/mariadb.sh starts the server, as its own test does).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll } from "../providers/supportsystem/client.ts";
import { provider } from "../providers/supportsystem/lifecycle.ts";
import { ensureHelpDeskDatabase } from "../sandbox/supportsystem.ts";
import { freePort, MARIADB_SCRIPT, mariadbd } from "./helpers/mariadb.ts";

const SCRIPT = MARIADB_SCRIPT;

/** A POSIX zone 5 h 45 min east of UTC, with no DST (needs no tz database). */
const HOST_ZONE = "KFT-5:45";
const OFFSET_MS = (5 * 60 + 45) * 60_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kf-tz-"));
let env: NodeJS.ProcessEnv | undefined;
let port = 0;
const database = "helpdesk_tz";

/** A session as osTicket's db_connect sets it up. */
async function osTicketSession(): Promise<Connection> {
    const conn = await createConnection({ host: "127.0.0.1", port, user: "root", password: "", database });
    await conn.query("SET time_zone = 'SYSTEM', sql_mode = ''");
    return conn;
}

beforeAll(async () => {
    if (!mariadbd) return;
    const [nothing, local] = [await freePort(), await freePort()];
    env = { ...process.env, TZ: HOST_ZONE, KEYFLEET_MYSQL_HOST: "127.0.0.1", KEYFLEET_MYSQL_PORT: String(nothing), KEYFLEET_MYSQL_LOCAL_PORT: String(local), KEYFLEET_MARIADB_DIR: dir };
    const run = spawnSync("bash", [SCRIPT, "ensure"], { env, encoding: "utf8", timeout: 90_000 });
    if (run.status !== 0) throw new Error(`scripts/mariadb.sh failed: ${run.stderr}`);
    port = local;
    const root = await createConnection({ host: "127.0.0.1", port, user: "root", password: "" });
    try {
        // New sessions default to UTC; the host's zone stays +05:45.
        await root.query("SET GLOBAL time_zone = '+00:00'");
    } finally {
        await root.end();
    }
    await ensureHelpDeskDatabase({ host: "127.0.0.1", port, user: "root", password: "", database });
    const settings = { host: "127.0.0.1", port: String(port), user: "root", database, tablePrefix: "ost_" };
    const config: Record<string, string> = { "keyfleet:supportsystem": JSON.stringify(settings), "keyfleet:supportsystemPassword": "" };
    await provider.configure!({ config: { get: (k: string) => config[k] } } as never);
}, 120_000);

afterAll(async () => {
    await closeAll();
    if (env) spawnSync("bash", [SCRIPT, "stop"], { env, encoding: "utf8" });
    fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!mariadbd)("SupportSystem created/updated on a server whose host zone is not UTC", () => {
    it("the server's host zone is +05:45 and its global zone UTC", async () => {
        const conn = await createConnection({ host: "127.0.0.1", port, user: "root", password: "" });
        try {
            const [rows] = await conn.query<RowDataPacket[]>("SELECT @@system_time_zone AS host, @@global.time_zone AS global");
            expect(rows[0]).toEqual({ host: "KFT", global: "+00:00" });
        } finally {
            await conn.end();
        }
    });

    it("keyfleet's row carries the same wall-clock created as one osTicket writes, and its outputs the true instants", async () => {
        const checked = await provider.check!({} as never, { vendor: "supportsystem", name: "tz", ip: "127.0.0.1", internalNote: "zone test" } as never);
        expect(checked.failures ?? []).toEqual([]);
        const before = Date.now();
        const made = await provider.create(checked.inputs!);
        const conn = await osTicketSession();
        try {
            // API::save: INSERT … SET updated=NOW(), created=NOW() in osTicket's session.
            await conn.query("INSERT INTO ost_api_key SET updated=NOW(), isactive=1, can_create_tickets=1, can_exec_cron=1, notes='by osTicket', created=NOW(), ipaddr='127.0.0.9', apikey='OSTICKETROW'");
            const [rows] = await conn.query<RowDataPacket[]>(
                "SELECT DATE_FORMAT(k.created, '%Y-%m-%dT%H:%i:%s') AS wall, TIMESTAMPDIFF(SECOND, o.created, k.created) AS apart FROM ost_api_key k JOIN ost_api_key o ON o.apikey = 'OSTICKETROW' WHERE k.id = ?",
                [Number(made.id)],
            );
            expect(Math.abs(Number(rows[0].apart))).toBeLessThan(60);
            // The wall-clock time of the host's zone, not UTC's: read as UTC it is 5 h 45 min ahead.
            expect(Math.abs(Date.parse(`${rows[0].wall}Z`) - OFFSET_MS - before)).toBeLessThan(60_000);
        } finally {
            await conn.end();
        }
        for (const at of [made.outs!.created, made.outs!.updated]) expect(Math.abs(Date.parse(at as string) - before)).toBeLessThan(60_000);
    });
});
