// Team state in PostgreSQL (Pulumi's postgres:// backend): two `up`s of the same stack at once.
// The backend's lock lets one run and refuses the other with its lock message; state stays valid
// and Nexus holds exactly the keys the YAML names, none twice. Each run has its own database on
// the server scripts/postgres.sh finds or starts, dropped afterwards.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, expectNoChanges, ROOT, type TestStack } from "./helpers/stack.ts";

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, "scripts", "postgres.sh");
const db = `keyfleet_test_${crypto.randomBytes(4).toString("hex")}`;
const TABLE = "keyfleet_state";
const NAMES = ["alpha", "bravo", "charlie"];

let pg: Record<string, string> = {};
let t: TestSandbox;
let s: TestStack;

/** psql on the test's database, asynchronously (the sandbox in this process must keep answering). */
async function sql(query: string): Promise<string[]> {
    const { stdout } = await run("psql", ["-X", "-w", "-At", "-h", pg.KEYFLEET_PG_HOST, "-p", pg.KEYFLEET_PG_PORT, "-U", pg.KEYFLEET_PG_USER, "-d", db, "-c", query], {
        env: { ...process.env, PGPASSWORD: pg.KEYFLEET_PG_PASSWORD },
    });
    return stdout.split("\n").filter(Boolean);
}

beforeAll(async () => {
    const { stdout } = await run("bash", [SCRIPT, "ensure"]);
    pg = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2] === "''" ? "" : m[2]]));
    await run("bash", [SCRIPT, "createdb", db], { env: { ...process.env, ...pg } });
    const { stdout: url } = await run("bash", [SCRIPT, "url", db], { env: { ...process.env, ...pg } });
    t = await startSandbox();
    const yaml = `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${NAMES.map((n) => `    - name: ${n}\n`).join("")}`;
    s = await createTestStack(t, yaml, { backendUrl: `${url.trim()}&table=${TABLE}` });
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
    if (pg.KEYFLEET_PG_HOST) await run("bash", [SCRIPT, "dropdb", db], { env: { ...process.env, ...pg } });
});

describe("PostgreSQL backend", () => {
    it("two ups at once: one runs, the other is refused with the backend's lock message", async () => {
        // The stack itself lives in the table named by the URL.
        expect((await sql(`SELECT key FROM ${TABLE} WHERE key LIKE '%stacks%'`)).join("\n")).toContain(`${db}/.pulumi/stacks/keyfleet/e2e.json`);
        const first = s.stack.up(captured(s));
        // The second starts once the first holds the lock: a row under .pulumi/locks in the table.
        let lock: string[] = [];
        for (let i = 0; i < 600 && lock.length === 0; i++) {
            lock = await sql(`SELECT key FROM ${TABLE} WHERE key LIKE '%/.pulumi/locks/%'`);
            if (lock.length === 0) await new Promise((r) => setTimeout(r, 100));
        }
        expect(lock).toHaveLength(1);
        const second = s.stack.up(captured(s)).then(
            () => "succeeded",
            (e: Error) => e.message,
        );
        const started = Date.now();
        const [one, two] = await Promise.all([first, second]);
        console.log(`both ups done ${Date.now() - started} ms after the lock was seen`);
        expect(one.summary.result).toBe("succeeded");
        expect(one.summary.resourceChanges).toMatchObject({ create: NAMES.length + 1 });
        expect(two).toContain("the stack is currently locked by 1 lock(s)");
        expect(two).toContain("Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`");
        // The lock is released.
        expect(await sql(`SELECT key FROM ${TABLE} WHERE key LIKE '%/.pulumi/locks/%'`)).toEqual([]);
    }, 240_000);

    it("state stays valid: a refresh preview finds nothing to change, and Nexus holds each key once", async () => {
        const preview = await s.stack.preview({ ...captured(s), refresh: true });
        expectNoChanges(preview.changeSummary);
        const state = await s.stack.exportStack();
        const keys = (state.deployment.resources ?? []).filter((r: { type: string }) => r.type.includes("TenantKey"));
        expect(keys).toHaveLength(NAMES.length);
        const remote = await t.client.list(t.tenantLogin);
        expect(remote.map((k) => k.name).sort()).toEqual(NAMES);
        expect(keys.map((k: { outputs: { name: string } }) => k.outputs.name).sort()).toEqual(NAMES);
    });

    it("the table holds no credential or key value in plain text", async () => {
        const rows = (await sql(`SELECT data::text FROM ${TABLE}`)).join("\n");
        for (const secret of t.secrets()) expect(rows.includes(secret), "a secret is in the table").toBe(false);
    });
});
