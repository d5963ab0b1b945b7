// Each stack's own secrets provider, as its settings file (Pulumi.<stack>.yaml) records it, so that
// no script assumes one: a stack that encrypts with a KMS or Vault needs no passphrase, a passphrase
// stack needs its passphrase (and is told so by name when it is missing), and a stack that a script
// has to create in the backend (a new environment's first pull request) is created with the
// provider its committed file names. The Pulumi CLI itself does not do the last: `stack select
// --create` without --secrets-provider ignores the file's provider and asks for a passphrase.
import fs from "node:fs";
import path from "node:path";
import { parse, YAMLParseError } from "yaml";

/** The local stack's public passphrase (stacks/Pulumi.local.yaml); every other passphrase stack needs its own. */
export const LOCAL_PASSPHRASE = "keyfleet-local";

export interface StackSecrets {
    stack: string;
    /** The settings file (whether or not it exists). */
    file: string;
    /**
     * "passphrase" (the file has an encryptionsalt), a provider URL (awskms://…, azurekeyvault://…,
     * gcpkms://…, hashivault://…, or "default" for Pulumi Cloud's), or undefined when the file
     * records none: a stack not created yet, or one on Pulumi Cloud with its default provider.
     */
    provider: string | undefined;
}

/** Where the project keeps its stacks' settings: Pulumi.yaml's stackConfigDir, else the project folder. */
export function stackSettingsFile(dir: string, stack: string): string {
    let configDir = ".";
    const project = path.join(dir, "Pulumi.yaml");
    if (fs.existsSync(project)) {
        const doc = parse(fs.readFileSync(project, "utf8")) as { stackConfigDir?: unknown } | null;
        if (typeof doc?.stackConfigDir === "string" && doc.stackConfigDir) configDir = doc.stackConfigDir;
    }
    return path.join(dir, configDir, `Pulumi.${stack.split("/").pop()}.yaml`);
}

/** The secrets provider the stack's settings file records (see StackSecrets.provider). */
export function stackSecrets(dir: string, stack: string): StackSecrets {
    const file = stackSettingsFile(dir, stack);
    if (!fs.existsSync(file)) return { stack, file, provider: undefined };
    let doc: unknown;
    try {
        doc = parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        const where = e instanceof YAMLParseError && e.linePos ? `:${e.linePos[0].line}:${e.linePos[0].col}` : "";
        throw new Error(`reading the secrets provider of stack ${stack}: ${file}${where} is not valid YAML (${(e as Error).message.split("\n")[0]}); fix the file (npm run validate -- ${stack} points at it)`);
    }
    const settings = doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>) : {};
    const named = typeof settings.secretsprovider === "string" ? settings.secretsprovider.trim() : "";
    if (named && named !== "passphrase") return { stack, file, provider: named };
    // Pulumi writes no `secretsprovider:` for a passphrase stack, only the salt the passphrase is checked against.
    if (named === "passphrase" || typeof settings.encryptionsalt === "string") return { stack, file, provider: "passphrase" };
    return { stack, file, provider: undefined };
}

/** The environment variable that holds one stack's own passphrase: KEYFLEET_PASSPHRASE_<STACK>. */
export function ownPassphraseVariable(stack: string): string {
    return `KEYFLEET_PASSPHRASE_${stack.split("/").pop()!.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/**
 * Where a passphrase stack's passphrase comes from: KEYFLEET_PASSPHRASE_<STACK> (so that one fleet
 * run can hold stacks with different passphrases), else PULUMI_CONFIG_PASSPHRASE, else
 * PULUMI_CONFIG_PASSPHRASE_FILE (read by the CLI itself), else the local stack's public default.
 */
export function passphraseSource(stack: string, env: NodeJS.ProcessEnv = process.env): { variable: string } | { file: string } | { localDefault: true } | undefined {
    const own = ownPassphraseVariable(stack);
    if (env[own]) return { variable: own };
    if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { variable: "PULUMI_CONFIG_PASSPHRASE" };
    if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return { file: env.PULUMI_CONFIG_PASSPHRASE_FILE };
    if (stack.split("/").pop() === "local") return { localDefault: true };
    return undefined;
}

/** A file backend, S3, Azure Blob, GCS or PostgreSQL: where a stack created without a provider gets a passphrase. */
export function isDiyBackend(url: string | undefined): boolean {
    return url !== undefined && url !== "" && !/^https?:\/\//i.test(url);
}

export class SecretsSetupError extends Error {}

export interface SecretsPlan {
    secrets: StackSecrets;
    /** What the Pulumi CLI needs in its environment: PULUMI_CONFIG_PASSPHRASE for a passphrase stack, nothing otherwise. */
    env: Record<string, string>;
    /** For `stack init` / `stack select --create`: the provider the file records, so a re-created stack keeps it. */
    createArgs: string[];
}

/**
 * What a Pulumi command on `stack` needs for its secrets. With `require`, a passphrase stack whose
 * passphrase is nowhere (and a stack the backend would create with one) fails here, naming the stack
 * and the fix, instead of deep in the CLI; without it the CLI is left to decide (`stack ls` needs none).
 */
export function secretsPlan(dir: string, stack: string, options: { require?: boolean; env?: NodeJS.ProcessEnv } = {}): SecretsPlan {
    const env = options.env ?? process.env;
    const secrets = stackSecrets(dir, stack);
    const createArgs = secrets.provider ? ["--secrets-provider", secrets.provider] : [];
    if (secrets.provider !== undefined && secrets.provider !== "passphrase") return { secrets, env: {}, createArgs };
    const source = passphraseSource(stack, env);
    if (source && "variable" in source) return { secrets, env: { PULUMI_CONFIG_PASSPHRASE: env[source.variable]! }, createArgs };
    if (source && "localDefault" in source) return { secrets, env: { PULUMI_CONFIG_PASSPHRASE: LOCAL_PASSPHRASE }, createArgs };
    if (source || !options.require) return { secrets, env: {}, createArgs };
    const fileName = path.relative(dir, secrets.file) || secrets.file;
    const setIt = `set PULUMI_CONFIG_PASSPHRASE (or ${ownPassphraseVariable(stack)}, or PULUMI_CONFIG_PASSPHRASE_FILE)`;
    if (secrets.provider === "passphrase") {
        throw new SecretsSetupError(
            `stack ${stack} encrypts its secrets with a passphrase (${fileName} has an encryptionsalt) and none is set: ${setIt}, ` +
                `or move the stack to a KMS or Vault with \`pulumi stack change-secrets-provider <url> --stack ${stack}\` (docs/ops/state-and-secrets.md, "Secrets providers")`,
        );
    }
    if (isDiyBackend(env.PULUMI_BACKEND_URL)) {
        throw new SecretsSetupError(
            `stack ${stack}: ${fs.existsSync(secrets.file) ? `${fileName} records no secrets provider` : `there is no ${fileName}`}, so Pulumi would create the stack with a passphrase, and none is set: ${setIt}, ` +
                `or create the stack with its provider first (npm run bootstrap -- ${stack} --secrets-provider <url>, or pulumi stack init ${stack} --secrets-provider <url>)`,
        );
    }
    return { secrets, env: {}, createArgs };
}
