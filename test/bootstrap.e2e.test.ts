// `npm run bootstrap -- <env>` in a scratch copy of the repository (the checkout is never
// written), against a Genesys sandbox of the test's own: once without a terminal, as CI runs it
// (flags and environment variables), and once answering its prompts through a pseudo-terminal
// (util-linux `script`), where credentials and the passphrase are typed without being echoed.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { scratchRepo, type ScratchRepo } from "./helpers/repo.ts";
import { ROOT } from "./helpers/stack.ts";

let t: TestSandbox;
let repo: ScratchRepo;
const outputs: string[] = [];
const BOOTSTRAP = ["scripts/keyfleet.sh", "node", "scripts/bootstrap.ts"];

async function names() {
    return (await t.client.list(t.tenantLogin)).map((k) => k.name).sort();
}

beforeAll(async () => {
    t = await startSandbox();
    repo = scratchRepo();
});
afterAll(async () => {
    repo?.cleanup();
    await t?.close();
});

describe("bootstrap without a terminal (CI)", () => {
    const flags = () => ["--vendors", "nexus", "--var", `nexus.contactCenter=${CC}`, "--set", `nexus.authUrl=${t.url}`, "--set", `nexus.nexusUrl=${t.url}`];

    // Review 19: bootstrap ran its preview and up with no --policy-pack, so an environment whose
    // policy/config/<env>.json was committed first was applied unchecked; and it took
    // PULUMI_CONFIG_PASSPHRASE before KEYFLEET_PASSPHRASE_<ENV>, the reverse of every later run.
    it("an environment with a policy config is previewed with the pack, and its own passphrase variable comes first", async () => {
        const policy = path.join(repo.dir, "policy");
        repo.write("policy/config/pq.json", JSON.stringify({ "key-expires": "mandatory" }));
        for (const f of ["PulumiPolicy.yaml", "package.json", "index.ts", "rules.ts"]) fs.symlinkSync(path.join(ROOT, "policy", f), path.join(policy, f));
        const env = {
            PULUMI_CONFIG_PASSPHRASE: "another-stack's",
            KEYFLEET_PASSPHRASE_PQ: "pq-pass",
            KEYFLEET_NEXUS_CLIENT_SECRET: t.creds.clientSecret,
            KEYFLEET_NEXUS_TENANT_PASSWORD: t.creds.tenantPassword,
        };
        try {
            const run = await repo.run("bash", [...BOOTSTRAP, "pq", ...flags(), "--yes"], { env });
            outputs.push(run.stdout + run.stderr);
            expect(run.status, run.stdout).toBe(1);
            expect(run.stdout).toMatch(/\[mandatory\]\s+key-expires/);
            expect(run.stderr).toContain("the preview of pq failed");
            expect(await names()).not.toContain("pq web chat");
            // The next run decrypts the stack with KEYFLEET_PASSPHRASE_PQ and meets the same rule.
            const preview = await repo.run("bash", ["scripts/keyfleet.sh", "preview", "pq"], { env });
            outputs.push(preview.stdout + preview.stderr);
            expect(preview.stdout + preview.stderr).toContain('error: [mandatory] key-expires: key "nexus/tenant/pq web chat"');
            // And npm run up (gitops.sh apply's command) stops on it before any change, not only the preview.
            const up = await repo.run("bash", ["scripts/keyfleet.sh", "up", "pq", "--yes"], { env });
            outputs.push(up.stdout + up.stderr);
            expect(up.status).not.toBe(0);
            expect(up.stdout + up.stderr).toContain('error: [mandatory] key-expires: key "nexus/tenant/pq web chat"');
            expect(await names()).not.toContain("pq web chat");
        } finally {
            fs.rmSync(policy, { recursive: true, force: true });
        }
    }, 300_000);

    it("a missing credential stops it before anything is written, naming the variable to set", async () => {
        const run = await repo.run("bash", [...BOOTSTRAP, "qa", ...flags(), "--yes"], {
            env: { PULUMI_CONFIG_PASSPHRASE: "qa-pass", KEYFLEET_NEXUS_CLIENT_SECRET: t.creds.clientSecret },
        });
        outputs.push(run.stdout + run.stderr);
        expect(run.status).toBe(1);
        expect(run.stderr).toContain("missing settings for qa:");
        expect(run.stderr).toContain("nexusTenantPassword (password of the tenant user): set KEYFLEET_NEXUS_TENANT_PASSWORD");
        expect(repo.exists("config/qa.yaml") || repo.exists("stacks/Pulumi.qa.yaml")).toBe(false);
        // A credential on the command line is refused (ps would show it).
        const onCli = await repo.run("bash", [...BOOTSTRAP, "qa", ...flags(), "--set", "nexusClientSecret=oops"], { env: { PULUMI_CONFIG_PASSPHRASE: "qa-pass" } });
        expect(onCli.status).toBe(1);
        expect(onCli.stderr).toContain("nexusClientSecret is a credential: give it in KEYFLEET_NEXUS_CLIENT_SECRET, not on the command line");
    });

    it("with flags and environment variables: files from the template, secrets encrypted, previewed and applied", async () => {
        const run = await repo.run("bash", [...BOOTSTRAP, "qa", ...flags(), "--yes"], {
            env: {
                PULUMI_CONFIG_PASSPHRASE: "qa-pass",
                KEYFLEET_NEXUS_CLIENT_SECRET: t.creds.clientSecret,
                KEYFLEET_NEXUS_TENANT_PASSWORD: t.creds.tenantPassword,
            },
        });
        outputs.push(run.stdout + run.stderr);
        expect(run.status, run.stderr).toBe(0);
        expect(run.stdout).toContain("set keyfleet:nexusClientSecret (secret)");
        expect(run.stdout).toContain("environment qa is up");
        // keyfleet's plan, as `npm run preview|up` print it, not the engine's display (issue 18, defect 8).
        expect(run.stdout).toMatch(/^keyfleet: plan of stack qa \(preview, nothing applied\):\n {2}create +nexus\/tenant\/qa web chat +new in the YAML$/m);
        expect(run.stdout).toMatch(/^keyfleet: up of stack qa done:\n {2}create +nexus\/tenant\/qa web chat +new in the YAML\n1 created, /m);
        expect(run.stdout).not.toMatch(/Previewing update|Updating \(qa\)|Resources:|Outputs:/);
        const keys = repo.read("config/qa.yaml");
        expect(keys).toContain(`contactCenter: "${CC}"`);
        expect(keys).toContain(`name: "qa web chat"`);
        expect(keys).not.toMatch(/beyondtrust|supportcenter|supportsystem|\{\{/);
        const stack = repo.read("stacks/Pulumi.qa.yaml");
        expect(stack).toMatch(/keyfleet:nexusClientSecret:\n\s+secure: v1:/);
        expect(stack).toMatch(/keyfleet:nexusTenantPassword:\n\s+secure: v1:/);
        expect(stack).toContain(`authUrl: ${t.url}`);
        expect(await names()).toEqual(["qa web chat"]);
        // The stack stands on its own: without the credentials in the environment, nothing to change.
        const check = await repo.run("bash", ["scripts/keyfleet.sh", "pulumi", "preview", "--stack", "qa", "--refresh", "--expect-no-changes"], {
            env: { PULUMI_CONFIG_PASSPHRASE: "qa-pass" },
        });
        outputs.push(check.stdout + check.stderr);
        expect(check.status, check.stdout).toBe(0);
        // An environment is made once.
        const again = await repo.run("bash", [...BOOTSTRAP, "qa", ...flags()], { env: { PULUMI_CONFIG_PASSPHRASE: "qa-pass" } });
        expect(again.stderr).toContain("config/qa.yaml exists already");
    });
});

describe("bootstrap at a terminal", () => {
    it("asks for vendors, template values, settings, hidden credentials and a passphrase, then applies on yes", async () => {
        const passphrase = "dev-passphrase-typed";
        const answers: [RegExp, string][] = [
            [/Vendors of dev \(nexus, beyondtrust, supportcenter, supportsystem\) \[[^\]]*\]: $/, "nexus"],
            [/nexus\.contactCenter \(in config\/dev\.yaml\): $/, CC],
            [/\(nexus\.authUrl\): $/, t.url],
            [/\(nexus\.nexusUrl\): $/, t.url],
            [/\(nexus\.clientId\) \[nexus_client\]: $/, ""],
            [/\(nexus\.tenantUser\) \[nexus\]: $/, ""],
            [/\(nexusClientSecret\): $/, t.creds.clientSecret],
            [/\(nexusTenantPassword\): $/, t.creds.tenantPassword],
            [/Passphrase for the secrets of stack dev: $/, passphrase],
            [/The same passphrase again: $/, passphrase],
            [/Apply to dev now\? \(yes\/no\) \[no\]: $/, "yes"],
        ];
        const command = ["bash", ...BOOTSTRAP, "dev"].join(" ");
        const env: NodeJS.ProcessEnv = { ...process.env, PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"), TERM: "dumb" };
        for (const k of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "KEYFLEET_ROOT"]) delete env[k];
        let transcript = "";
        const status = await new Promise<number>((resolve, reject) => {
            // script gives the command a pseudo-terminal; what we write to its stdin is typed there.
            const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: repo.dir, env, stdio: ["pipe", "pipe", "pipe"] });
            child.stdin.on("error", () => undefined);
            let next = 0;
            let seen = 0;
            const onData = (d: Buffer) => {
                transcript += d.toString();
                const pending = transcript.slice(seen).replace(/\r/g, "");
                if (next < answers.length && answers[next][0].test(pending)) {
                    seen = transcript.length;
                    child.stdin.write(`${answers[next][1]}\r`);
                    next++;
                }
            };
            child.stdout.on("data", onData);
            child.stderr.on("data", onData);
            child.on("error", reject);
            child.on("close", (code) => {
                if (next < answers.length) reject(new Error(`prompt ${next} (${answers[next][0]}) never came; transcript:\n${transcript}`));
                else resolve(code ?? -1);
            });
        });
        outputs.push(transcript);
        expect(status, transcript).toBe(0);
        expect(transcript).toContain("environment dev is up");
        expect(await names()).toEqual(["dev web chat", "qa web chat"]);
        // Typed credentials and the passphrase were never echoed.
        expect(transcript.includes(passphrase)).toBe(false);
        expect(repo.read("stacks/Pulumi.dev.yaml")).toMatch(/keyfleet:nexusTenantPassword:\n\s+secure: v1:/);
    }, 180_000);

    it("wrote nothing into the checkout, and no secret anywhere in output or files", () => {
        for (const env of ["qa", "dev"]) {
            expect(fs.existsSync(path.join(ROOT, "config", `${env}.yaml`))).toBe(false);
            expect(fs.existsSync(path.join(ROOT, "stacks", `Pulumi.${env}.yaml`))).toBe(false);
        }
        const files = ["config/qa.yaml", "stacks/Pulumi.qa.yaml", "config/dev.yaml", "stacks/Pulumi.dev.yaml"].map((f) => repo.read(f));
        const text = [...outputs, ...files].join("\n");
        for (const secret of t.secrets()) expect(text.includes(secret), "a secret leaked").toBe(false);
    });
});
