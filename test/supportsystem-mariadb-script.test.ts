// scripts/mariadb.sh's fallback: when the configured server does not answer, a project-local
// MariaDB is started (here in a temporary folder, on a free port), answers SELECT 1, and `stop`
// ends it. Runs only where mariadbd is installed (the script installs it only as root on Debian,
// which a test must not do).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createConnection } from "mysql2/promise";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, MARIADB_SCRIPT, mariadbd } from "./helpers/mariadb.ts";

const SCRIPT = MARIADB_SCRIPT;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kf-mdb-"));
let env: NodeJS.ProcessEnv;

afterAll(() => {
    if (env) spawnSync("bash", [SCRIPT, "stop"], { env, encoding: "utf8" });
    fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!mariadbd)("scripts/mariadb.sh without an answering server", () => {
    it("starts a project-local MariaDB on its port, which answers SELECT 1, and stops it", { timeout: 60_000 }, async () => {
        const [nothing, local] = [await freePort(), await freePort()];
        env = { ...process.env, KEYFLEET_MYSQL_HOST: "127.0.0.1", KEYFLEET_MYSQL_PORT: String(nothing), KEYFLEET_MYSQL_LOCAL_PORT: String(local), KEYFLEET_MARIADB_DIR: dir };
        const started = Date.now();
        const run = spawnSync("bash", [SCRIPT, "ensure"], { env, encoding: "utf8", timeout: 50_000 });
        expect(run.status, run.stderr).toBe(0);
        expect(run.stderr).toContain(`nothing listens at 127.0.0.1:${nothing}; falling back to a project-local MariaDB`);
        expect(run.stderr).toContain(`project-local MariaDB answers on 127.0.0.1:${local}`);
        expect(run.stdout).toContain(`export KEYFLEET_MYSQL_PORT=${local}\n`);
        expect(fs.existsSync(path.join(dir, "mariadb", "mysql"))).toBe(true);
        const conn = await createConnection({ host: "127.0.0.1", port: local, user: "root", password: "" });
        try {
            const [rows] = await conn.query("SELECT 1 AS one");
            expect(rows).toEqual([{ one: 1 }]);
        } finally {
            await conn.end();
        }
        // A second run reuses the running server.
        const again = spawnSync("bash", [SCRIPT, "ensure"], { env, encoding: "utf8", timeout: 20_000 });
        expect(again.stderr).toContain(`using the project-local MariaDB on 127.0.0.1:${local}`);
        const stop = execFileSync("bash", [SCRIPT, "stop"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        expect(stop).toBe("");
        await expect(createConnection({ host: "127.0.0.1", port: local, user: "root", password: "", connectTimeout: 2000 })).rejects.toThrow(/ECONNREFUSED/);
        expect(Date.now() - started).toBeLessThan(30_000);
    });
});
