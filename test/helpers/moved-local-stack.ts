// The local stack (`npm run up`) moved out of the checkout's way, for tests that run it as a user
// does: every sandbox on a free port, the help desk's database and the sandboxes' records of the
// test's own, a file backend in a scratch folder. config/local.yaml delivers a key to
// .keyfleet/delivered/nexus-ci.key: a developer's own copy (which a file delivery refuses to
// overwrite) is kept aside while the test runs and put back by cleanup.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./mariadb.ts";
import { ROOT } from "./stack.ts";

export interface MovedLocalStack {
    /** The scratch folder: backend/ and the sandboxes' records (sandbox-data-<section>.json). */
    tmp: string;
    backend: string;
    database: string;
    ports: number[];
    env: NodeJS.ProcessEnv;
    cleanup(): Promise<void>;
}

/** Runs `sql` as the test database's administrator (keyfleet.sh's MySQL settings); output on stdout. */
export function mysql(sql: string): Promise<string> {
    return new Promise((resolve) =>
        execFile("bash", ["-c", `mysql -N -h "\${KEYFLEET_MYSQL_HOST:-127.0.0.1}" -P "\${KEYFLEET_MYSQL_PORT:-3306}" -u "\${KEYFLEET_MYSQL_USER:-root}" -e "$1" 2>/dev/null || true`, "sql", sql], (_e, stdout) => resolve(stdout)),
    );
}

export async function movedLocalStack(label: string): Promise<MovedLocalStack> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `keyfleet-${label}-`));
    const backend = path.join(tmp, "backend");
    fs.mkdirSync(backend);
    const database = `kf_${label}_${process.pid}`;
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${backend}`,
        KEYFLEET_SANDBOX_DATA: path.join(tmp, "sandbox-data.json"),
        KEYFLEET_SANDBOX_GENESYS_PORT: String(ports[0]),
        KEYFLEET_SANDBOX_BEYONDTRUST_PORT: String(ports[1]),
        KEYFLEET_SANDBOX_SUPPORTCENTER_PORT: String(ports[2]),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT: String(ports[3]),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE: database,
    };
    const delivered = path.join(ROOT, ".keyfleet", "delivered", "nexus-ci.key");
    const kept = `${delivered}.${label}-test-${process.pid}`;
    if (fs.existsSync(delivered)) fs.renameSync(delivered, kept);
    return {
        tmp,
        backend,
        database,
        ports,
        env,
        async cleanup() {
            fs.rmSync(delivered, { force: true });
            if (fs.existsSync(kept)) fs.renameSync(kept, delivered);
            await mysql(`DROP DATABASE IF EXISTS \`${database}\``);
            fs.rmSync(tmp, { recursive: true, force: true });
        },
    };
}
