// `keyfleet.sh secrets [--require] <stack>` (node scripts/stack-secrets.ts): what scripts/gitops.sh
// needs for a stack's secrets, from its own settings file (ops/secrets.ts), as shell lines to eval:
//   STACK_SECRETS_ARGS=(--secrets-provider '<url>')   the provider the file records, for stack creation
//   export PULUMI_CONFIG_PASSPHRASE=…                  a passphrase stack only: a reference to the variable
//                                                      that holds it (never its value), or the local stack's
//                                                      public default
// With --require a passphrase stack without its passphrase exits 1, naming the stack and the fix.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseCli } from "./cli.ts";
import { secrets as SECRETS } from "./commands.ts";
import { LOCAL_PASSPHRASE, passphraseSource, secretsPlan, SecretsSetupError } from "../ops/secrets.ts";

const USAGE = SECRETS.usage;
const { values, positionals } = parseCli(USAGE, SECRETS.args);
if (positionals.length !== 1) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
}
const stack = positionals[0];
// scripts/ may be a link (test scratch copies): the project is the folder keyfleet.sh was called through.
const dir = process.env.KEYFLEET_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
try {
    const plan = secretsPlan(dir, stack, { require: values.require });
    const lines = [`STACK_SECRETS_ARGS=(${plan.createArgs.map(quote).join(" ")})`];
    if (plan.env.PULUMI_CONFIG_PASSPHRASE !== undefined) {
        const source = passphraseSource(stack);
        if (source && "variable" in source && source.variable !== "PULUMI_CONFIG_PASSPHRASE") lines.push(`export PULUMI_CONFIG_PASSPHRASE="\${${source.variable}}"`);
        else if (source && "localDefault" in source) lines.push(`export PULUMI_CONFIG_PASSPHRASE=${quote(LOCAL_PASSPHRASE)}`);
    }
    console.log(lines.join("\n"));
} catch (e) {
    process.stderr.write(`[keyfleet] error: ${e instanceof SecretsSetupError ? e.message : (e as Error).message}\n`);
    process.exit(1);
}
