// Issue 18, finding 5: the local stack and its sandboxes take their ports and database from one
// place (the environment, defaults in sandbox/index.ts), so two checkouts can run side by side.
// `npm run up` with every port and the help desk's database moved, on a backend and sandbox records
// of the test's own, must bring the local stack up against the moved sandboxes.
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "./helpers/mariadb.ts";
import { ROOT } from "./helpers/stack.ts";

const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });

describe("npm run up on moved ports and database", () => {
    it("starts the sandboxes where the environment says and points the local stack at them", async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-moved-"));
        const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
        const database = `kf_moved_${process.pid}`;
        const env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${tmp}`,
            KEYFLEET_SANDBOX_DATA: path.join(tmp, "sandbox-data.json"),
            KEYFLEET_SANDBOX_GENESYS_PORT: String(ports[0]),
            KEYFLEET_SANDBOX_BEYONDTRUST_PORT: String(ports[1]),
            KEYFLEET_SANDBOX_SUPPORTCENTER_PORT: String(ports[2]),
            KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT: String(ports[3]),
            KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE: database,
        };
        // config/local.yaml delivers a key to this file: keep the checkout's own (from a developer's
        // `npm run up`, which a file delivery refuses to overwrite) aside while the moved stack runs.
        const delivered = path.join(ROOT, ".keyfleet", "delivered", "nexus-ci.key");
        const kept = `${delivered}.moved-test-${process.pid}`;
        if (fs.existsSync(delivered)) fs.renameSync(delivered, kept);
        try {
            const r = await new Promise<{ code: number; out: string }>((resolve) =>
                execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "up"], { env, maxBuffer: 64 << 20, timeout: 240_000 }, (err, stdout, stderr) =>
                    resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
                ),
            );
            expect(r.code, r.out.slice(-3000)).toBe(0);
            expect(r.out).toMatch(/keyfleet: stack local manages \d+ keys/);
            expect(r.out).not.toContain("127.0.0.1:4401");
            const log = fs.readFileSync(path.join(ROOT, ".keyfleet", "sandbox.log"), "utf8");
            for (const port of ports) expect(log).toContain(`http://127.0.0.1:${port}`);
            expect(log).toContain(`keys in MySQL database ${database}`);
            // The script stops the sandboxes it started.
            for (const port of ports) expect(await listening(port)).toBe(false);
        } finally {
            fs.rmSync(delivered, { force: true });
            if (fs.existsSync(kept)) fs.renameSync(kept, delivered);
            // The moved help desk's database and the scratch backend go.
            await new Promise((resolve) => execFile("bash", ["-c", `mysql -h "\${KEYFLEET_MYSQL_HOST:-127.0.0.1}" -P "\${KEYFLEET_MYSQL_PORT:-3306}" -u "\${KEYFLEET_MYSQL_USER:-root}" -e 'DROP DATABASE IF EXISTS \`${database}\`' 2>/dev/null || true`], resolve));
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 300_000);
});
