// Issue 18, finding 5: the local stack and its sandboxes take their ports and database from one
// place (the environment, defaults in sandbox/index.ts), so two checkouts can run side by side.
// `npm run up` with every port and the help desk's database moved, on a backend and sandbox records
// of the test's own, must bring the local stack up against the moved sandboxes.
//
// Then the secrets audit (issue 17): the local stack's whole life across the four vendors, as loud as
// the scripts allow (`--diff`; the engine's -v/--debug are refused without --unsafe-verbose), then
// every place a value could end up is scanned for every key value and credential in plain text:
// the backend's state, history and backups, every command's output, the sandbox log, .keyfleet/
// (the delivered file excepted: delivering the key there is its purpose), the report in each format
// and the files this run left in the system's temporary directory. The secrets themselves are
// read from where they truly live: the vendors' records (the sandboxes' data file, the help desk's
// table) and the stack's decrypted config.
// Both run `npm run up` of the local stack, which writes .keyfleet/sandbox.log and the delivered
// key file of the checkout: one file, so that they run one after the other.
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { movedLocalStack, mysql } from "./helpers/moved-local-stack.ts";
import { ROOT } from "./helpers/stack.ts";
import { strings } from "./helpers/values.ts";

const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });

describe("npm run up on moved ports and database", () => {
    it("starts the sandboxes where the environment says and points the local stack at them", async () => {
        const moved = await movedLocalStack("moved");
        const { ports, database, env } = moved;
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
            await moved.cleanup();
        }
    }, 300_000);
});

type Run = { code: number; out: string; stdout: string };

function run(args: string[], env: NodeJS.ProcessEnv, timeout = 300_000): Promise<Run> {
    return new Promise((resolve) =>
        execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), ...args], { env, cwd: ROOT, maxBuffer: 64 << 20, timeout }, (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}`, stdout }),
        ),
    );
}

/** Files under `dir` (following no links), skipping `except`. */
function walk(dir: string, except: (f: string) => boolean, out: string[] = []): string[] {
    if (!fs.existsSync(dir)) return out;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const f = path.join(dir, e.name);
        if (except(f)) continue;
        if (e.isDirectory()) walk(f, except, out);
        else if (e.isFile()) out.push(f);
    }
    return out;
}

const DAY = 86_400_000;

describe("secrets audit", () => {
    it("a create, a rotation of every key that rotates, a renewal and a report leave no key value or credential in plain text anywhere", async () => {
        const started = Date.now();
        const moved = await movedLocalStack("audit");
        const { tmp, backend, database, env } = moved;
        const outputs: Run[] = [];
        try {
            // Create every key.
            outputs.push(await run(["up", "local", "--diff"], env));
            expect(outputs[0]!.code, outputs[0]!.out.slice(-3000)).toBe(0);
            // 200 days on: every key with rotation.every is rotated (the Nexus ci key with overlap and
            // a verify probe), BeyondTrust's session keys are renewed.
            outputs.push(await run(["up", "local", "--diff"], { ...env, KEYFLEET_CLOCK_OFFSET_MS: String(200 * DAY) }));
            expect(outputs[1]!.code, outputs[1]!.out.slice(-3000)).toBe(0);
            expect(outputs[1]!.out).toMatch(/rotat|replace/i);
            for (const format of ["table", "markdown", "json", "html"]) {
                const r = await run(["report", "--stack", "local", "--format", format], env);
                expect(r.code, r.out.slice(-2000)).toBe(0);
                outputs.push(r);
            }
            outputs.push(await run(["pulumi", "stack", "history", "--stack", "local"], env));
            outputs.push(await run(["pulumi", "stack", "export", "--stack", "local"], env));

            // What must never appear: the key values the vendors hold, and the stack's credentials.
            const secrets = new Set<string>();
            // One records file per sandbox (sandbox/main.ts): sandbox-data-<section>.json.
            const recordFiles = fs.readdirSync(tmp).filter((f) => /^sandbox-data-.+\.json$/.test(f));
            expect(recordFiles.length).toBeGreaterThanOrEqual(3);
            const records = recordFiles.map((f) => JSON.parse(fs.readFileSync(path.join(tmp, f), "utf8")) as unknown);
            // Values that look generated; not record ids (digits), dates, identifiers (client ids) or
            // what the YAML itself says (the contact center).
            const declared = fs.readFileSync(path.join(ROOT, "config/local.yaml"), "utf8");
            const generated = (v: string) => v.length >= 16 && /^[A-Za-z0-9+/=_.-]+$/.test(v) && !/^\d+$/.test(v) && !/^\d{4}-\d\d-\d\d/.test(v) && !/^[a-z_]+$/.test(v) && !declared.includes(v);
            for (const s of strings(records)) if (generated(s)) secrets.add(s);
            const rows = await mysql(`SELECT apikey FROM \`${database}\`.ost_api_key`);
            const helpDeskKeys = rows.split("\n").map((r) => r.trim()).filter(Boolean);
            expect(helpDeskKeys.length).toBeGreaterThan(0);
            for (const k of helpDeskKeys) secrets.add(k);
            const config = await run(["pulumi", "config", "--show-secrets", "--json", "--stack", "local"], env);
            expect(config.code, config.out.slice(-2000)).toBe(0);
            const parsed = JSON.parse(config.stdout) as Record<string, { value?: unknown; secret?: boolean }>;
            for (const [name, v] of Object.entries(parsed)) {
                if (!v.secret) continue;
                for (const s of strings(v.value)) if (s.length >= 8) secrets.add(s);
                expect(name).toMatch(/^keyfleet:/);
            }
            // Nexus, SupportCenter and BeyondTrust values from the records, the help desk's from its table, and credentials.
            expect(secrets.size).toBeGreaterThan(12);

            // Where they could end up.
            const since = (f: string) => fs.statSync(f).mtimeMs >= started - 1000;
            const files = [
                ...walk(backend, () => false),
                ...walk(path.join(ROOT, ".keyfleet"), (f) => /\/\.keyfleet\/(node|bin|home\/plugins|go|gocache|gopath|chromium|delivered|test-report\.json)(\/|$)/.test(f) || f.startsWith(tmp)).filter(since),
                // The checkout itself may be under the temporary directory (a CI clone): its .keyfleet/ is read above.
                ...walk(os.tmpdir(), (f) => f.startsWith(tmp) || f === ROOT || f.startsWith(`${ROOT}/`) || /\/(vitest|node-compile-cache|tsx-|v8-compile-cache)/.test(f)).filter((f) => {
                    try {
                        return since(f) && fs.statSync(f).size < 32 << 20;
                    } catch {
                        return false;
                    }
                }),
            ];
            expect(files.some((f) => f.startsWith(backend) && f.includes("history"))).toBe(true);
            expect(files.some((f) => f.startsWith(backend) && f.includes("backups"))).toBe(true);
            const hits: string[] = [];
            const check = (where: string, text: string) => {
                for (const s of secrets) if (text.includes(s)) hits.push(`${where}: a value of ${s.length} characters`);
            };
            for (const f of files) {
                let text: string;
                try {
                    text = fs.readFileSync(f, "utf8");
                } catch {
                    continue;
                }
                check(f, text);
            }
            outputs.forEach((o, i) => check(`output of command ${i + 1}`, o.out));
            expect(hits).toEqual([]);
        } finally {
            await moved.cleanup();
        }
    }, 600_000);
});
