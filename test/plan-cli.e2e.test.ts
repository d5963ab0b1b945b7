// Issue 18: what `npm run preview` and `npm run up` print. By default keyfleet's plan (ops/plan.ts)
// instead of the engine's display: a preview of the local stack with nothing to do fits in ~15
// lines, and an up that rotates one key (a generation bump) names the key and why in its last
// lines; --verbose shows the engine's output too. Through scripts/keyfleet.sh, the real CLI and
// engine, against sandboxes on ports of the test's own, with a backend of its own; the local stack's
// settings file is copied with keyfleet:keysFile pointing at the test's YAML (pulumi --config-file),
// so the checkout's files are untouched.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./helpers/mariadb.ts";
import { ROOT } from "./helpers/stack.ts";

const yaml = (generation?: number, extra = "") => `nexus:
  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f
  tenantKeys:
    - name: rotating
      permissions: [nexus:consumer:chat]${generation === undefined ? "" : `\n      rotation: { generation: ${generation} }`}
    - name: steady
      permissions: [nexus:consumer:chat]
${extra}`;
/** Two keys rotated every day, one of them disabled (issue 18, defect 10). */
const DAILY = `    - name: aging
      permissions: [nexus:consumer:chat]
      rotation: { every: 1d }
    - name: parked
      permissions: [nexus:consumer:chat]
      enabled: false
      rotation: { every: 1d }
`;

let tmp: string;
let env: NodeJS.ProcessEnv;
let keys: string;
let configFile: string;
const database = `kf_plan_${process.pid}`;

function run(...args: string[]): Promise<{ code: number; out: string }> {
    return runWith({}, ...args);
}
function runWith(extraEnv: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) =>
        // stdout and stderr as one stream, in the order a terminal shows them.
        execFile("bash", ["-c", 'exec bash "$0" "$@" 2>&1', path.join(ROOT, "scripts/keyfleet.sh"), ...args, "--config-file", configFile], { env: { ...env, ...extraEnv }, maxBuffer: 64 << 20, timeout: 240_000 }, (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
        ),
    );
}
const lines = (out: string) => out.trimEnd().split("\n");

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-plan-"));
    env = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${tmp}`,
        KEYFLEET_SANDBOX_DATA: path.join(tmp, "sandbox-data.json"),
        // Not the checkout's .keyfleet/sandbox.log, which test/local-stack.e2e.test.ts reads meanwhile.
        KEYFLEET_SANDBOX_LOG: path.join(tmp, "sandbox.log"),
        KEYFLEET_SANDBOX_GENESYS_PORT: String(await freePort()),
        KEYFLEET_SANDBOX_BEYONDTRUST_PORT: String(await freePort()),
        KEYFLEET_SANDBOX_SUPPORTCENTER_PORT: String(await freePort()),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT: String(await freePort()),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE: database,
    };
    keys = path.join(tmp, "keys.yaml");
    fs.writeFileSync(keys, yaml());
    configFile = path.join(tmp, "Pulumi.local.yaml");
    // The local stack's own settings (and the salt its secure values were encrypted with), plus the test's keys file.
    const settings = fs.readFileSync(path.join(ROOT, "stacks", "Pulumi.local.yaml"), "utf8");
    fs.writeFileSync(configFile, settings.replace(/^config:\n/m, `config:\n  keyfleet:keysFile: ${keys}\n`));
});

afterAll(async () => {
    await new Promise((resolve) =>
        execFile("bash", ["-c", `mysql -h "\${KEYFLEET_MYSQL_HOST:-127.0.0.1}" -P "\${KEYFLEET_MYSQL_PORT:-3306}" -u "\${KEYFLEET_MYSQL_USER:-root}" -e 'DROP DATABASE IF EXISTS \`${database}\`' 2>/dev/null || true`], resolve),
    );
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("npm run preview / up print keyfleet's plan", () => {
    it("the first up creates both keys and says so last", async () => {
        const r = await run("up");
        expect(r.code, r.out.slice(-3000)).toBe(0);
        expect(lines(r.out).at(-1)).toBe("2 created, 0 updated, 0 rotated, 0 replaced, 0 deleted; 0 unchanged");
        expect(r.out).toMatch(/^ {2}create +nexus\/tenant\/rotating +new in the YAML$/m);
    }, 300_000);

    it("a preview with nothing to do: at most 15 lines, no engine display, no toolchain note", async () => {
        const r = await run("preview");
        console.log(`--- npm run preview (nothing to do), ${lines(r.out).length} lines:\n${r.out}`);
        expect(r.code, r.out).toBe(0);
        expect(lines(r.out).length).toBeLessThanOrEqual(15);
        expect(r.out).toContain("keyfleet: plan of stack local (preview, nothing applied):\n  no changes: every key is as the YAML says\n");
        expect(lines(r.out).at(-1)).toBe("0 to create, 0 to update, 0 to rotate, 0 to replace, 0 to delete; 2 unchanged");
        expect(r.out).not.toMatch(/from \$PATH|Outputs:|Previewing update|keyfleet-last-run|Resources:/);
    }, 300_000);

    it("--verbose shows the engine's own display as well, then the plan", async () => {
        const r = await run("preview", "--verbose");
        expect(r.code, r.out).toBe(0);
        expect(r.out).toContain("Previewing update (local)");
        expect(r.out.indexOf("Previewing update (local)")).toBeLessThan(r.out.indexOf("keyfleet: plan of stack local"));
    }, 300_000);

    it("an up that rotates one key names the key and why in its last lines", async () => {
        fs.writeFileSync(keys, yaml(1));
        const r = await run("up");
        console.log(`--- npm run up (generation bump of one key):\n${r.out}`);
        expect(r.code, r.out.slice(-3000)).toBe(0);
        const last = lines(r.out).slice(-3);
        expect(last).toEqual([
            "keyfleet: up of stack local done:",
            expect.stringMatching(/^ {2}rotate +nexus\/tenant\/rotating +rotation generation 0 → 1; a new key replaces it$/),
            "0 created, 0 updated, 1 rotated, 0 replaced, 0 deleted; 1 unchanged",
        ]);
        expect(r.out).not.toMatch(/predecessor|holdPrevious|rotationDue|from \$PATH/);
    }, 300_000);

    it("a disabled key is not rotated by age; an enabled one of the same policy is (issue 18, defect 10)", async () => {
        fs.writeFileSync(keys, yaml(1, DAILY));
        const made = await run("up");
        expect(made.code, made.out.slice(-3000)).toBe(0);
        // Two days on: both are past `every: 1d`; the report says "next rotation: none" for the disabled one.
        expect(made.out).toMatch(/nexus\/tenant\/parked +\S+ +disabled, .*next rotation: none/);
        const r = await runWith({ KEYFLEET_CLOCK_OFFSET_MS: String(2 * 86_400_000) }, "preview");
        expect(r.code, r.out).toBe(0);
        expect(r.out).toMatch(/^ {2}rotate +nexus\/tenant\/aging +older than 1d; a new key replaces it$/m);
        // No plan line for it (the local policy pack's advisory findings above the plan may name it).
        expect(lines(r.out).filter((l) => !l.startsWith("warning: [advisory] ")).join("\n")).not.toMatch(/nexus\/tenant\/parked/);
        expect(lines(r.out).at(-1)).toBe("0 to create, 0 to update, 1 to rotate, 0 to replace, 0 to delete; 3 unchanged");
    }, 300_000);

    it("a provider's stderr is printed, with its key and without any key value or token (issue 18, defect 6)", async () => {
        const preload = path.join(ROOT, "test", "fixtures", "plan", "provider-stderr.cjs");
        const r = await runWith({ NODE_OPTIONS: `--require ${preload}` }, "preview");
        expect(r.code, r.out).toBe(0);
        const stderr = lines(r.out).filter((l) => l.startsWith("stderr: "));
        // The keys are read from one walk of the key list (the core's snapshot): the answer is the
        // list, printed with whichever key's read made the walk; every key id in it is a value.
        expect(stderr).toContainEqual(expect.stringMatching(/^stderr: nexus\/tenant\/[a-z]+: debug: vendor answered \[?\{"id":"\[secret\]",.*"name":"steady"/));
        expect(stderr).toContainEqual(expect.stringMatching(/"access_token":"\[secret\]".*"refresh_token":"\[secret\]"/));
        expect(new Set(stderr).size).toBe(stderr.length);
        const values = await keyValues();
        expect(values.length).toBe(4);
        for (const v of values) expect(r.out).not.toContain(v);
        expect(r.out).not.toMatch(/"access_token":"[0-9a-f-]{20,}/);
    }, 300_000);

    it("--confirm: the up applies the plan confirmed and refuses what changed after it (issue 18, defect 7)", async () => {
        // The answer is typed after the YAML changed: the engine refuses the step nobody saw.
        fs.writeFileSync(keys, yaml(1, `${DAILY}    - name: confirmed
      permissions: [nexus:consumer:chat]
`));
        const late = await confirmUp(() => fs.writeFileSync(keys, yaml(1, `${DAILY}    - name: confirmed
      permissions: [nexus:consumer:chat]
    - name: unseen
      permissions: [nexus:consumer:chat]
`)));
        expect(late.out).toMatch(/^ {2}create +nexus\/tenant\/confirmed +new in the YAML$/m);
        expect(late.code, late.out).not.toBe(0);
        expect(late.out).toMatch(/error: nexus\/tenant\/unseen: create is not allowed by the plan/);
        expect(await keyNames()).not.toContain("unseen");
        // The plan file is gone with the run.
        expect(fs.readdirSync(path.join(ROOT, ".keyfleet")).filter((f) => f.startsWith("plan."))).toEqual([]);
        // Confirmed as shown: applied.
        const ok = await confirmUp(() => undefined);
        expect(ok.code, ok.out).toBe(0);
        expect(ok.out).toMatch(/^ {2}create +nexus\/tenant\/unseen +new in the YAML$/m);
        expect(await keyNames()).toEqual(expect.arrayContaining(["confirmed", "unseen"]));
    }, 400_000);
});

/** `up --confirm` on a terminal (script(1)): `between` runs when the question shows, then "yes". */
function confirmUp(between: () => void): Promise<{ code: number; out: string }> {
    const command = ["bash", path.join(ROOT, "scripts/keyfleet.sh"), "up", "--confirm", "--config-file", configFile].map((a) => `'${a}'`).join(" ");
    return new Promise((resolve) => {
        const child = spawn("script", ["-qec", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let asked = false;
        const take = (d: Buffer) => {
            out += d.toString().replace(/\r/g, "");
            if (!asked && out.includes("Type yes to apply")) {
                asked = true;
                between();
                child.stdin.write("yes\n");
            }
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        const timer = setTimeout(() => child.kill("SIGTERM"), 300_000);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, out });
        });
    });
}

function pulumiJson(args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) =>
        execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "pulumi", ...args, "--stack", "local", "--json"], { env, maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout)))),
    );
}
/** The key values the stack holds (to check that no output carries one). */
async function keyValues(): Promise<string[]> {
    const out = (await pulumiJson(["stack", "output", "keys", "--show-secrets"])) as Record<string, { apiKey?: string }>;
    return Object.values(out).map((k) => k.apiKey).filter((v): v is string => typeof v === "string" && v.length > 0);
}
async function keyNames(): Promise<string[]> {
    const out = (await pulumiJson(["stack", "output", "keys"])) as Record<string, { name?: string }>;
    return Object.values(out).map((k) => String(k.name));
}
