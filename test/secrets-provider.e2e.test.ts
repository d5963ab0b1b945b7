// A stack whose secrets a Vault encrypts (hashivault://, the Pulumi CLI's one provider that works
// offline here, against a loopback transit stand-in: test/helpers/vault-transit.ts) goes through
// bootstrap, `npm run up`, the GitOps script and the fleet with no PULUMI_CONFIG_PASSPHRASE anywhere;
// a passphrase stack beside it still needs its passphrase, is told so by name, and moves to the
// Vault with `pulumi stack change-secrets-provider` as docs/ops/state-and-secrets.md says. A scratch copy of the
// repository (its own file backend) and a Genesys sandbox of the test's own; the checkout is never written.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { scratchRepo, type Run, type ScratchRepo } from "./helpers/repo.ts";
import { startVaultTransit, type VaultTransit } from "./helpers/vault-transit.ts";
import { ROOT } from "./helpers/stack.ts";

let t: TestSandbox;
let vault: VaultTransit;
let repo: ScratchRepo;
const runs: Run[] = [];
const PASSPHRASE = "pp-passphrase-e2e-7f3a";

/** A command in the scratch repository, with the Vault's address and token and never a passphrase unless given. */
async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
    const r = await repo.run("bash", args, {
        env: {
            VAULT_ADDR: vault.url,
            VAULT_TOKEN: vault.token,
            PULUMI_CONFIG_PASSPHRASE: undefined,
            PULUMI_CONFIG_PASSPHRASE_FILE: undefined,
            KEYFLEET_GITOPS_EXCLUDE: "",
            ...env,
        },
    });
    runs.push(r);
    return r;
}
const creds = () => ({ KEYFLEET_NEXUS_CLIENT_SECRET: t.creds.clientSecret, KEYFLEET_NEXUS_TENANT_PASSWORD: t.creds.tenantPassword });
const bootstrap = (env: string, ...extra: string[]) =>
    run(["scripts/keyfleet.sh", "node", "scripts/bootstrap.ts", env, "--vendors", "nexus", "--var", `nexus.contactCenter=${CC}`, "--set", `nexus.authUrl=${t.url}`, "--set", `nexus.nexusUrl=${t.url}`, ...extra], creds());
const settingsOf = (env: string) => parse(repo.read(`stacks/Pulumi.${env}.yaml`)) as Record<string, unknown>;
/** The fleet as a team runs it over its project: the checkout's command, the scratch project and its backend. */
const fleet = (args: string[], env: Record<string, string> = {}) =>
    run([path.join(ROOT, "scripts", "keyfleet.sh"), "fleet", ...args, "--dir", repo.dir], {
        ...creds(),
        KEYFLEET_PROJECT_DIR: repo.dir,
        PULUMI_BACKEND_URL: `file://${path.join(repo.dir, ".keyfleet", "state")}`,
        ...env,
    });
const names = async () => (await t.client.list(t.tenantLogin)).map((k) => k.name).sort();

beforeAll(async () => {
    t = await startSandbox();
    vault = await startVaultTransit();
    repo = scratchRepo();
});
afterAll(async () => {
    repo?.cleanup();
    await t?.close();
    await vault?.close();
});

describe("a stack on a Vault secrets provider, with no passphrase set", () => {
    it("bootstrap --secrets-provider hashivault://… creates, encrypts with the Vault and applies", async () => {
        const r = await bootstrap("qa", "--secrets-provider", "hashivault://keyfleet-qa", "--yes");
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toContain("created stack qa; its secrets provider: hashivault://keyfleet-qa (recorded in stacks/Pulumi.qa.yaml)");
        expect(r.stdout).toContain("environment qa is up");
        const settings = settingsOf("qa");
        expect(settings.secretsprovider).toBe("hashivault://keyfleet-qa");
        expect(typeof settings.encryptedkey).toBe("string");
        expect(settings.encryptionsalt).toBeUndefined();
        expect(repo.read("stacks/Pulumi.qa.yaml")).toMatch(/keyfleet:nexusClientSecret:\n\s+secure: v1:/);
        // The data key was sealed by the Vault and opened by it for the preview and the update.
        expect(vault.calls.filter((c) => c.key === "keyfleet-qa").map((c) => c.op)).toEqual(expect.arrayContaining(["encrypt", "decrypt"]));
        expect(await names()).toEqual(["qa web chat"]);
    }, 180_000);

    it("npm run up applies a change", async () => {
        repo.write("config/qa.yaml", repo.read("config/qa.yaml").replace("tenantKeys:\n", "tenantKeys:\n    - name: qa ci\n"));
        const r = await run(["scripts/keyfleet.sh", "up", "qa", "--yes"]);
        expect(r.status, r.stdout + r.stderr).toBe(0);
        expect(await names()).toEqual(["qa ci", "qa web chat"]);
    }, 180_000);

    it("gitops preview, apply and drift", async () => {
        repo.write("config/qa.yaml", repo.read("config/qa.yaml").replace("    - name: qa ci\n", "    - name: qa ci\n    - name: qa bot\n"));
        const preview = await run(["scripts/gitops.sh", "preview", "qa"]);
        expect(preview.status, preview.stdout + preview.stderr).toBe(0);
        expect(repo.read(".keyfleet/gitops/qa.preview.md")).toMatch(/^ {2}create +nexus\/tenant\/qa bot +new in the YAML$/m);
        const apply = await run(["scripts/gitops.sh", "apply", "qa"]);
        expect(apply.status, apply.stdout + apply.stderr).toBe(0);
        const drift = await run(["scripts/gitops.sh", "drift", "qa"]);
        expect(drift.status, drift.stdout + drift.stderr).toBe(0);
        expect(drift.stderr).toContain("no drift in stack qa");
    }, 240_000);

    it("a new environment's first pull request creates its stack with the provider its committed file records", async () => {
        const made = await bootstrap("ci", "--secrets-provider", "hashivault://keyfleet-ci", "--no-apply");
        expect(made.status, made.stdout + made.stderr).toBe(0);
        const committed = repo.read("stacks/Pulumi.ci.yaml");
        // The stack leaves the backend, its settings file stays: as on a fresh CI backend.
        const rm = await run(["scripts/keyfleet.sh", "pulumi", "stack", "rm", "ci", "--yes", "--preserve-config", "--non-interactive"]);
        expect(rm.status, rm.stderr).toBe(0);
        const preview = await run(["scripts/gitops.sh", "preview", "ci"]);
        expect(preview.status, preview.stdout + preview.stderr).toBe(0);
        expect(repo.read(".keyfleet/gitops/ci.preview.md")).toMatch(/^ {2}create +nexus\/tenant\/ci web chat +new in the YAML$/m);
        // The same provider and data key: the committed secrets still open.
        expect(repo.read("stacks/Pulumi.ci.yaml")).toBe(committed);
    }, 240_000);
});

describe("a passphrase stack beside it", () => {
    it("bootstrap without --secrets-provider on a file backend still wants a passphrase, and says how not to", async () => {
        const none = await bootstrap("pp", "--no-apply");
        expect(none.status).toBe(1);
        expect(none.stderr).toContain("the secrets of stack pp need a passphrase: set PULUMI_CONFIG_PASSPHRASE, or give --secrets-provider <url>");
        const made = await run(
            ["scripts/keyfleet.sh", "node", "scripts/bootstrap.ts", "pp", "--vendors", "nexus", "--var", `nexus.contactCenter=${CC}`, "--set", `nexus.authUrl=${t.url}`, "--set", `nexus.nexusUrl=${t.url}`, "--yes"],
            { ...creds(), PULUMI_CONFIG_PASSPHRASE: PASSPHRASE },
        );
        expect(made.status, made.stdout + made.stderr).toBe(0);
        expect(typeof settingsOf("pp").encryptionsalt).toBe("string");
    }, 180_000);

    it("up, gitops and fleet name the stack and the fix when its passphrase is missing", async () => {
        const up = await run(["scripts/keyfleet.sh", "up", "pp", "--yes"]);
        expect(up.status).toBe(1);
        expect(up.stderr).toContain("stack pp encrypts its secrets with a passphrase (stacks/Pulumi.pp.yaml has an encryptionsalt) and none is set: set PULUMI_CONFIG_PASSPHRASE");
        expect(up.stderr).toContain("pulumi stack change-secrets-provider <url> --stack pp");
        const preview = await run(["scripts/gitops.sh", "preview", "pp"]);
        expect(preview.status).toBe(2);
        expect(preview.stderr).toContain("stack pp encrypts its secrets with a passphrase");
        const drift = await run(["scripts/gitops.sh", "drift", "pp"]);
        expect(drift.status).toBe(2);
        expect(drift.stderr).toContain("stack pp encrypts its secrets with a passphrase");
    }, 180_000);

    it("one fleet run holds both: the Vault stack with nothing, the passphrase stack with its own KEYFLEET_PASSPHRASE_PP", async () => {
        const without = await fleet(["preview", "--stacks", "qa,pp"]);
        expect(without.status, without.stdout + without.stderr).toBe(1);
        expect(without.stdout).toMatch(/\[fleet\] preview qa\s+\S+\s+ok, 0 keys to change/);
        expect(without.stdout).toMatch(/\[fleet\] preview pp\s+\S+\s+FAILED: stack pp encrypts its secrets with a passphrase/);
        const both = await fleet(["preview", "--stacks", "qa,pp"], { KEYFLEET_PASSPHRASE_PP: PASSPHRASE });
        expect(both.status, both.stdout + both.stderr).toBe(0);
        expect(both.stdout).toMatch(/\[fleet\] preview pp\s+\S+\s+ok, 0 keys to change/);
        const up = await fleet(["up", "--stacks", "qa"]);
        expect(up.status, up.stdout + up.stderr).toBe(0);
    }, 240_000);

    it("moves to the Vault with pulumi stack change-secrets-provider, and then needs no passphrase", async () => {
        const move = await run(["scripts/keyfleet.sh", "pulumi", "stack", "change-secrets-provider", "hashivault://keyfleet-pp", "--stack", "pp", "--non-interactive"], { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE });
        expect(move.status, move.stdout + move.stderr).toBe(0);
        const settings = settingsOf("pp");
        expect(settings.secretsprovider).toBe("hashivault://keyfleet-pp");
        expect(settings.encryptionsalt).toBeUndefined();
        const drift = await run(["scripts/gitops.sh", "drift", "pp"]);
        expect(drift.status, drift.stdout + drift.stderr).toBe(0);
        const after = await fleet(["preview", "--stacks", "qa,pp"]);
        expect(after.status, after.stdout + after.stderr).toBe(0);
    }, 240_000);

    it("wrote nothing into the checkout, and no credential, token or passphrase in output or files", () => {
        for (const env of ["qa", "ci", "pp"]) {
            expect(fs.existsSync(path.join(ROOT, "config", `${env}.yaml`))).toBe(false);
            expect(fs.existsSync(path.join(ROOT, "stacks", `Pulumi.${env}.yaml`))).toBe(false);
        }
        const files = ["qa", "ci", "pp"].flatMap((e) => [repo.read(`config/${e}.yaml`), repo.read(`stacks/Pulumi.${e}.yaml`)]);
        const text = [...runs.map((r) => r.stdout + r.stderr), ...files].join("\n");
        for (const secret of [vault.token, PASSPHRASE, ...t.secrets()]) expect(text.includes(secret), `leaked ${secret.slice(0, 6)}…`).toBe(false);
    });
});
