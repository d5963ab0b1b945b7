// ops/secrets.ts: which secrets provider a stack uses, read from its settings file as Pulumi writes
// it, and what a command on it then needs: a passphrase only for a passphrase stack, the recorded
// provider for a stack that has to be created, a named error when a passphrase is missing.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCAL_PASSPHRASE, secretsPlan, stackSecrets, stackSettingsFile } from "../ops/secrets.ts";
import { ROOT } from "./helpers/stack.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-secrets-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: keyfleet\nruntime: nodejs\nstackConfigDir: stacks\n");
fs.mkdirSync(path.join(dir, "stacks"));
const settings = (stack: string, text: string) => fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${stack}.yaml`), text);
// As `pulumi stack init` writes them (values shortened).
settings("pp", "config:\n  keyfleet:x:\n    secure: v1:abc\nencryptionsalt: v1:N1QqwF/o8U4=:v1:LRKL\n");
settings("vault", "secretsprovider: hashivault://keyfleet\nencryptedkey: dmF1bHQ6djE6\nconfig: {}\n");
settings("aws", "secretsprovider: awskms://alias/keyfleet?region=eu-west-1\nencryptedkey: AQICAHh\n");
settings("plain", "config:\n  keyfleet:nexus:\n    authUrl: http://127.0.0.1:1\n");
settings("local", "encryptionsalt: v1:x\n");
settings("localvault", "secretsprovider: hashivault://local\nencryptedkey: x\n");
// A comment or a quoted value that mentions a provider is not the provider (why it is parsed, not grepped).
settings("tricky", "# was: encryptionsalt: v1:old\nconfig:\n  keyfleet:note: \"secretsprovider: awskms://x\"\nsecretsprovider: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k\nencryptedkey: Q2\n");

const DIY = { PULUMI_BACKEND_URL: "file:///tmp/state" };

describe("stackSecrets", () => {
    it("finds the settings file through Pulumi.yaml's stackConfigDir, else beside Pulumi.yaml", () => {
        expect(stackSettingsFile(dir, "pp")).toBe(path.join(dir, "stacks", "Pulumi.pp.yaml"));
        expect(stackSettingsFile(dir, "org/keyfleet/pp")).toBe(path.join(dir, "stacks", "Pulumi.pp.yaml"));
        expect(stackSettingsFile(os.tmpdir(), "pp")).toBe(path.join(os.tmpdir(), "Pulumi.pp.yaml"));
        expect(stackSettingsFile(ROOT, "local")).toBe(path.join(ROOT, "stacks", "Pulumi.local.yaml"));
    });

    it("reads the provider each stack records", () => {
        expect(stackSecrets(dir, "pp").provider).toBe("passphrase");
        expect(stackSecrets(dir, "vault").provider).toBe("hashivault://keyfleet");
        expect(stackSecrets(dir, "aws").provider).toBe("awskms://alias/keyfleet?region=eu-west-1");
        expect(stackSecrets(dir, "tricky").provider).toBe("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k");
        expect(stackSecrets(dir, "plain").provider).toBeUndefined();
        expect(stackSecrets(dir, "absent").provider).toBeUndefined();
        // The committed local stack is a passphrase stack.
        expect(stackSecrets(ROOT, "local").provider).toBe("passphrase");
    });

    it("a settings file that is not YAML is named, with its position", () => {
        settings("broken", "config:\n  a: [1\n");
        expect(() => stackSecrets(dir, "broken")).toThrow(/stack broken: .*Pulumi\.broken\.yaml:\d+:\d+ is not valid YAML/);
    });
});

describe("secretsPlan", () => {
    it("a KMS or Vault stack gets no passphrase, even one that is set, and is created with its own provider", () => {
        const plan = secretsPlan(dir, "vault", { require: true, env: { ...DIY, PULUMI_CONFIG_PASSPHRASE: "unused" } });
        expect(plan.env).toEqual({});
        expect(plan.createArgs).toEqual(["--secrets-provider", "hashivault://keyfleet"]);
        expect(secretsPlan(dir, "localvault", { require: true, env: DIY }).env).toEqual({});
    });

    it("a passphrase stack gets its own KEYFLEET_PASSPHRASE_<STACK> before PULUMI_CONFIG_PASSPHRASE", () => {
        expect(secretsPlan(dir, "pp", { env: { ...DIY, PULUMI_CONFIG_PASSPHRASE: "shared", KEYFLEET_PASSPHRASE_PP: "own" } }).env).toEqual({ PULUMI_CONFIG_PASSPHRASE: "own" });
        expect(secretsPlan(dir, "pp", { env: { ...DIY, PULUMI_CONFIG_PASSPHRASE: "shared" } })).toMatchObject({ env: { PULUMI_CONFIG_PASSPHRASE: "shared" }, createArgs: ["--secrets-provider", "passphrase"] });
        // A passphrase file is the CLI's to read.
        expect(secretsPlan(dir, "pp", { require: true, env: { ...DIY, PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pp" } }).env).toEqual({});
        expect(secretsPlan(dir, "local", { require: true, env: DIY }).env).toEqual({ PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE });
    });

    it("a passphrase stack without its passphrase fails naming the stack, the variables and change-secrets-provider", () => {
        expect(() => secretsPlan(dir, "pp", { require: true, env: DIY })).toThrow(
            /stack pp encrypts its secrets with a passphrase \(stacks\/Pulumi\.pp\.yaml has an encryptionsalt\) and none is set: set PULUMI_CONFIG_PASSPHRASE \(or KEYFLEET_PASSPHRASE_PP, .*pulumi stack change-secrets-provider <url> --stack pp/,
        );
        // Not required (a `stack ls`): left to the CLI.
        expect(secretsPlan(dir, "pp", { env: DIY }).env).toEqual({});
    });

    it("a stack whose file records no provider: a passphrase on a DIY backend, nothing demanded on Pulumi Cloud", () => {
        expect(() => secretsPlan(dir, "plain", { require: true, env: DIY })).toThrow(/stack plain: stacks\/Pulumi\.plain\.yaml records no secrets provider, so Pulumi would create the stack with a passphrase.*--secrets-provider <url>/);
        expect(() => secretsPlan(dir, "absent", { require: true, env: DIY })).toThrow(/stack absent: there is no stacks\/Pulumi\.absent\.yaml/);
        expect(secretsPlan(dir, "plain", { require: true, env: { ...DIY, PULUMI_CONFIG_PASSPHRASE: "p" } })).toMatchObject({ env: { PULUMI_CONFIG_PASSPHRASE: "p" }, createArgs: [] });
        expect(secretsPlan(dir, "plain", { require: true, env: { PULUMI_BACKEND_URL: "https://api.pulumi.com" } })).toMatchObject({ env: {}, createArgs: [] });
    });
});

describe("scripts/stack-secrets.ts (what keyfleet.sh and gitops.sh eval)", () => {
    const run = (args: string[], env: Record<string, string | undefined>) => {
        const merged: NodeJS.ProcessEnv = { ...process.env, PULUMI_CONFIG_PASSPHRASE: undefined, PULUMI_CONFIG_PASSPHRASE_FILE: undefined, KEYFLEET_ROOT: dir, ...DIY, ...env };
        for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
        try {
            return { status: 0, stdout: execFileSync("node", [path.join(ROOT, "scripts", "stack-secrets.ts"), ...args], { env: merged, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), stderr: "" };
        } catch (e) {
            const err = e as { status: number; stdout: string; stderr: string };
            return { status: err.status, stdout: err.stdout, stderr: err.stderr };
        }
    };

    it("prints the provider to create with, and a reference to the passphrase variable, never its value", () => {
        expect(run(["--require", "vault"], {}).stdout.trim()).toBe("STACK_SECRETS_ARGS=('--secrets-provider' 'hashivault://keyfleet')");
        const pp = run(["--require", "pp"], { KEYFLEET_PASSPHRASE_PP: "s3cret-value" });
        expect(pp.stdout).toContain('export PULUMI_CONFIG_PASSPHRASE="${KEYFLEET_PASSPHRASE_PP}"');
        expect(pp.stdout).not.toContain("s3cret-value");
        expect(run(["--require", "pp"], { PULUMI_CONFIG_PASSPHRASE: "s3cret-value" }).stdout.trim()).toBe("STACK_SECRETS_ARGS=('--secrets-provider' 'passphrase')");
        expect(run(["local"], {}).stdout).toContain(`export PULUMI_CONFIG_PASSPHRASE='${LOCAL_PASSPHRASE}'`);
        const missing = run(["--require", "pp"], {});
        expect(missing.status).toBe(1);
        expect(missing.stderr).toContain("stack pp encrypts its secrets with a passphrase");
    });
});
