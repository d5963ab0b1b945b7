// `npm run validate` (issue 18, finding 3): the checks of a preview that need no vendor, no secret and
// no Pulumi CLI, offline, in well under a second per environment, with the preview's messages.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { validate } from "../scripts/validate.ts";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const SCRIPT = path.join(ROOT, "scripts", "validate.ts");

async function run(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    // No sandbox, database or Pulumi CLI: PATH holds only this Node's folder.
    const env = { PATH: path.dirname(process.execPath), HOME: os.tmpdir() };
    try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env, encoding: "utf8" });
        return { status: 0, stdout, stderr };
    } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { status: e.code, stdout: e.stdout, stderr: e.stderr };
    }
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-validate-"));
fs.mkdirSync(path.join(scratch, "config"));
fs.mkdirSync(path.join(scratch, "stacks"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A scratch environment: config/<env>.yaml and, when given, stacks/Pulumi.<env>.yaml. */
function environment(env: string, keys: string, stack?: string): string {
    const file = path.join(scratch, "config", `${env}.yaml`);
    fs.writeFileSync(file, keys);
    if (stack !== undefined) fs.writeFileSync(path.join(scratch, "stacks", `Pulumi.${env}.yaml`), stack);
    return file;
}

const BT_KEYS = "beyondtrust:\n  sessionKeys:\n    - name: remote desk\n      queue: general\n";

describe("npm run validate", () => {
    it("passes the committed environments, each well under a second", async () => {
        const envs = fs.readdirSync(path.join(ROOT, "config")).filter((f) => f.endsWith(".yaml")).map((f) => f.slice(0, -5));
        expect(envs.length).toBeGreaterThanOrEqual(3);
        for (const env of envs) {
            const started = performance.now();
            const result = validate(path.join(ROOT, "config", `${env}.yaml`), path.join(ROOT, "stacks", `Pulumi.${env}.yaml`));
            const ms = performance.now() - started;
            expect(result.errors, env).toEqual([]);
            expect(ms, `${env} took ${ms.toFixed(0)} ms`).toBeLessThan(1000);
        }
        const cli = await run();
        expect(cli.status, cli.stderr).toBe(0);
        for (const env of envs) expect(cli.stdout).toMatch(new RegExp(`^ok +${env}: config/${env}\\.yaml \\+ stacks/Pulumi\\.${env}\\.yaml \\+ policy/config/${env}\\.json: 0 errors`, "m"));
        // The local stack's database is the one npm run up ensures: no "not set" for what the CLI always gives.
        const local = validate(path.join(ROOT, "config", "local.yaml"), path.join(ROOT, "stacks", "Pulumi.local.yaml"));
        expect(local.warnings.map((w) => w.message).filter((m) => /is not set/.test(m))).toEqual([]);
    });

    it("fails a broken keys file with file:line:col, once, and exit 1", async () => {
        const file = environment("broken", "nexus:\n  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f\n  tenantKeys:\n    - name: mail\n      permissons: [nexus:consumer:chat]\n");
        const started = performance.now();
        const { errors } = validate(file, undefined);
        expect(performance.now() - started).toBeLessThan(1000);
        expect(errors.map((e) => `${e.file}:${e.line}:${e.col} ${e.path}`)).toEqual([`${file}:5:7 nexus.tenantKeys[0].permissons`]);
        const cli = await run(file);
        expect(cli.status).toBe(1);
        const lines = cli.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^error: ${file.replace(/[.]/g, "\\.")}:5:7 nexus\\.tenantKeys\\[0\\]\\.permissons: unknown field "permissons"`));
        expect(cli.stdout).toMatch(/^FAIL broken: .*1 error/m);
    });

    it("fails a plain-text credential in the stack file at its line, without printing it", async () => {
        const file = environment(
            "plain",
            BT_KEYS,
            "config:\n  keyfleet:beyondtrust:\n    url: https://bt.example.com\n    clientId: api\n  keyfleet:beyondtrustClientSecret: hunter2-plain-text\n",
        );
        const cli = await run(file);
        expect(cli.status).toBe(1);
        expect(cli.stderr).toContain(`error: ${path.join(scratch, "stacks", "Pulumi.plain.yaml")}:5:3 keyfleet:beyondtrustClientSecret is stored in plain text; set it again with \`pulumi config set --secret keyfleet:beyondtrustClientSecret\``);
        expect(cli.stderr + cli.stdout).not.toContain("hunter2-plain-text");
    });

    it("accepts the same credential encrypted, and names unknown keys and URLs without a scheme", async () => {
        const secure = "config:\n  keyfleet:beyondtrust:\n    url: https://bt.example.com\n    clientId: api\n  keyfleet:beyondtrustClientSecret:\n    secure: v1:abc:def\n";
        expect((await run(environment("secure", BT_KEYS, secure))).status).toBe(0);
        const stack = path.join(scratch, "stacks", "Pulumi.shapes.yaml");
        const cli = await run(environment("shapes", BT_KEYS, "config:\n  keyfleet:beyondtrust:\n    url: bt.example.com\n    clientId: api\n  keyfleet:beyondtrustPassword: x\n"));
        expect(cli.status).toBe(1);
        expect(cli.stderr).toContain(`error: ${stack}:5:3 keyfleet:beyondtrustPassword is not a setting keyfleet knows; its name says credential and it is in plain text in the stack file`);
        expect(cli.stderr).toContain(`error: ${stack}:3:5 keyfleet:beyondtrust.url must be an http(s) URL with its scheme, like https://host.example.com; it is "bt.example.com"`);
    });

    it("warns of a setting the vendor in use needs and the stack file lacks, at the vendor's settings", async () => {
        const file = environment("missing", BT_KEYS, "config:\n  keyfleet:beyondtrust:\n    clientId: api\n");
        const cli = await run(file);
        expect(cli.status).toBe(0);
        expect(cli.stderr).toMatch(/^warning: .*Pulumi\.missing\.yaml:2:3 keyfleet:beyondtrust\.url is not set \(nor KEYFLEET_BEYONDTRUST_URL\)/m);
    });

    it("checks the keys file the stack names (keyfleet:keysFile), as the program reads it", async () => {
        fs.writeFileSync(path.join(scratch, "elsewhere.yaml"), "beyondtrust:\n  sessionKeys:\n    - name: k\n      queue: gen\n");
        fs.writeFileSync(path.join(scratch, "stacks", "Pulumi.named.yaml"), "config:\n  keyfleet:keysFile: elsewhere.yaml\n  keyfleet:beyondtrust:\n    url: https://bt.example.com\n");
        const cli = await run(path.join(scratch, "stacks", "Pulumi.named.yaml"));
        expect(cli.status).toBe(1);
        expect(cli.stderr).toContain(`error: ${path.join(scratch, "elsewhere.yaml")}:4:14 beyondtrust.sessionKeys[0].queue: "gen" must be general`);
    });

    it("answers --help with its usage, and a stack file argument checks its pair", async () => {
        const help = await run("--help");
        expect(help.status).toBe(0);
        expect(help.stdout).toMatch(/^usage: npm run validate \[-- \[--policy-config <file>\] <file\|env>…\]/);
        const pair = await run(path.join(ROOT, "stacks", "Pulumi.prod.yaml"));
        expect(pair.status, pair.stderr).toBe(0);
        expect(pair.stdout).toMatch(/^ok +prod: config\/prod\.yaml \+ stacks\/Pulumi\.prod\.yaml/m);
        expect((await run("--nope")).status).toBe(2);
    });

    // Issue 19: the key-hygiene policy pack's rules, offline (the engine's side: policy.e2e.test.ts).
    it("runs the key-hygiene policy with the environment's policy/config/<env>.json: mandatory is an error, advisory a warning", async () => {
        fs.mkdirSync(path.join(scratch, "policy", "config"), { recursive: true });
        const keys = "supportcenter:\n  integrationKeys:\n    - name: sync\n      roles: [Technician, SDAdmin]\n      owner: admin\n      expires: 2099-01-01\n";
        const file = environment("hygiene", keys);
        fs.writeFileSync(path.join(scratch, "policy", "config", "hygiene.json"), JSON.stringify({ "key-roles": { enforcementLevel: "mandatory", forbidden: ["sdadmin"] }, protect: "advisory", "key-expires": "mandatory" }));
        const cli = await run(file);
        expect(cli.status, cli.stderr).toBe(1);
        expect(cli.stderr).toContain(`error: ${file}:4:14 supportcenter.integrationKeys[0].roles: [mandatory] key-roles: key "supportcenter/sync" (ManageEngine SupportCenter Plus) acts with role sdadmin, excluded in this environment`);
        expect(cli.stderr).toContain(`warning: ${file}:3:7 supportcenter.integrationKeys[0]: [advisory] protect: key "supportcenter/sync" (ManageEngine SupportCenter Plus) is not protected`);
        // The key expires: that rule has nothing to say.
        expect(cli.stderr).not.toContain("key-expires");
        expect(cli.stdout).toMatch(/^FAIL hygiene: .*policy\/config\/hygiene\.json: 1 error, 1 warning/m);

        // Another config by --policy-config: every rule advisory, so nothing fails.
        const lenient = path.join(scratch, "lenient.json");
        fs.writeFileSync(lenient, JSON.stringify({ all: "advisory", "key-roles": { forbidden: ["SDAdmin"] }, "rotation-max-every": { maxEvery: "90d" }, "key-address": { allowed: [] }, "key-ttl": { maxSeconds: 60 }, "rotation-min-overlap": { minOverlap: "1d" } }));
        const advisory = await run("--policy-config", lenient, file);
        expect(advisory.status, advisory.stderr).toBe(0);
        expect(advisory.stderr).toMatch(/^warning: .*\[advisory\] key-roles: /m);
        expect(advisory.stderr).toMatch(/^warning: .*\[advisory\] rotation-max-every: key "supportcenter\/sync" .* has no rotation\.every/m);
    });

    it("refuses a policy config it cannot apply, naming what is wrong", async () => {
        const file = environment("badpolicy", BT_KEYS);
        fs.mkdirSync(path.join(scratch, "policy", "config"), { recursive: true });
        fs.writeFileSync(path.join(scratch, "policy", "config", "badpolicy.json"), JSON.stringify({ "key-tll": "mandatory", "key-ttl": "mandatory", "rotation-max-every": { enforcementLevel: "strict", maxEvery: "3 months" } }));
        const cli = await run(file);
        expect(cli.status).toBe(1);
        expect(cli.stderr).toContain('"key-tll" is not a rule of keyfleet-key-hygiene');
        expect(cli.stderr).toContain('key-ttl: needs "maxSeconds"');
        expect(cli.stderr).toContain('rotation-max-every: enforcementLevel "strict" is not one of mandatory, advisory, disabled');
        expect(cli.stderr).toContain('rotation-max-every: maxEvery must be a duration like 12h, 90d or 2w; it is "3 months"');
    });

    // Review 19: a range the policy cannot read ("10.0.0.0/40", a misspelt address) passed the config
    // check; the pack then threw on it mid-preview (a RangeError, naming no file) or silently dropped it.
    it("refuses an allowed range that is not an address or CIDR range, and the rule names it instead of throwing", async () => {
        const file = environment("badrange", BT_KEYS);
        fs.mkdirSync(path.join(scratch, "policy", "config"), { recursive: true });
        fs.writeFileSync(path.join(scratch, "policy", "config", "badrange.json"), JSON.stringify({ "key-address": { enforcementLevel: "mandatory", allowed: ["10.0.0.0/40", "10.0.0.0/8", "tenet/8"] } }));
        const cli = await run(file);
        expect(cli.status).toBe(1);
        expect(cli.stderr).toContain('key-address: allowed holds "10.0.0.0/40", "tenet/8", which are not addresses or CIDR ranges');
        const { RULES } = await import("../policy/rules.ts");
        const rule = RULES.find((r) => r.name === "key-address")!;
        const findings = rule.check({ resourceName: "supportsystem/form/10.1.2.3", vendor: "SupportSystem", facts: { address: "10.1.2.3", verifiable: true }, rotation: null }, { allowed: ["10.0.0.0/40", "10.0.0.0/8"] });
        expect(findings.map((f) => f.message)).toEqual([expect.stringContaining('this environment\'s allowed ranges hold "10.0.0.0/40", which is not an address or CIDR range')]);
    });
});
