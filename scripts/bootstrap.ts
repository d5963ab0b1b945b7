// `npm run bootstrap -- <env>`: a new environment. Writes config/<env>.yaml from
// config/templates/environment.yaml (the sections of the vendors it uses), creates the stack
// (stacks/Pulumi.<env>.yaml), sets each vendor's endpoints and credentials from the descriptors'
// settings tables (providers/vendors.ts, so a new vendor needs no change here), previews, and
// applies on confirmation. With a terminal it asks for what flags and the environment do not
// give; without one (CI) it asks nothing and fails naming what is missing.
//
//   --vendors a,b          the vendors' sections to keep (default: ask; without a terminal, every one)
//   --var name=value       a {{name}} of the template (nexus.contactCenter, …)
//   --set key=value        a setting that is not a credential (nexus.authUrl=https://…)
//   credentials            only from their environment variable (KEYFLEET_NEXUS_CLIENT_SECRET, …) or
//                          typed at the hidden prompt: never on a command line, where ps shows them
//   --yes                  apply after the preview without asking
//   --no-apply             stop after the preview
//   --non-interactive      never ask, even with a terminal
//   --template file        another template
//   --secrets-provider url the stack's secrets provider, any Pulumi takes: awskms://…, azurekeyvault://…,
//                          gcpkms://…, hashivault://…, passphrase (default: the backend's own, which is a
//                          passphrase on a file, S3, Azure Blob, GCS or PostgreSQL backend)
// A passphrase is needed only where the stack uses one: from KEYFLEET_PASSPHRASE_<ENV>, else
// PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or asked for (twice) at the terminal. A KMS or Vault provider takes
// its own credentials from the environment, as the Pulumi CLI does (docs/ops/state-and-secrets.md, "Secrets providers").
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseCli } from "./cli.ts";
import { parseDocument } from "yaml";
import { vendors } from "../providers/vendors.ts";
import { configKey, invalid, type RawConfig, type SettingSpec } from "../providers/shared/settings.ts";
import { formatError, loadEnvironment } from "../config/load.ts";
import { isDiyBackend, ownPassphraseVariable, stackSecrets } from "../ops/secrets.ts";
import { parseEventLog, planOf, renderPlan, type Mode } from "../ops/plan.ts";

const ROOT = process.env.KEYFLEET_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

class Stop extends Error {}
const fail = (message: string): never => {
    throw new Stop(message);
};

const USAGE = "usage: npm run bootstrap -- <env> [--vendors a,b] [--var name=value] [--set key=value] [--secrets-provider url] [--yes|--no-apply] [--non-interactive] [--template file] [--verbose]";
const { values: flags, positionals } = parseCli(USAGE, {
    allowPositionals: true,
    options: {
        vendors: { type: "string" },
        var: { type: "string", multiple: true, default: [] },
        set: { type: "string", multiple: true, default: [] },
        yes: { type: "boolean", default: false },
        "no-apply": { type: "boolean", default: false },
        "non-interactive": { type: "boolean", default: false },
        template: { type: "string" },
        "secrets-provider": { type: "string" },
        verbose: { type: "boolean", default: false },
    },
});

const interactive = !flags["non-interactive"] && Boolean(process.stdin.isTTY);
let rl: readline.Interface | undefined;
let muted = false;

function reader(): readline.Interface {
    if (!rl) {
        rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true });
        // A hidden answer: readline echoes nothing while muted (the prompt itself is written before).
        const original = (rl as any)._writeToOutput.bind(rl);
        (rl as any)._writeToOutput = (s: string) => {
            if (!muted) original(s);
        };
    }
    return rl;
}

async function ask(question: string, opts: { hidden?: boolean; fallback?: string } = {}): Promise<string> {
    const r = reader();
    const shown = opts.fallback !== undefined && !opts.hidden ? `${question} [${opts.fallback}]: ` : `${question}: `;
    process.stdout.write(shown);
    muted = Boolean(opts.hidden);
    const answer = await new Promise<string>((resolve) => r.question("", resolve));
    if (muted) process.stdout.write("\n");
    muted = false;
    return answer.trim() === "" && opts.fallback !== undefined ? opts.fallback : answer.trim();
}

function pairs(list: string[], what: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const item of list) {
        const eq = item.indexOf("=");
        if (eq <= 0) fail(`${what} takes name=value, not "${item}"`);
        out.set(item.slice(0, eq), item.slice(eq + 1));
    }
    return out;
}

/** Runs pulumi in the project; `input` goes to its stdin (a secret's value), output is kept or shown. */
function pulumi(args: string[], opts: { input?: string; show?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number; output: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn("pulumi", args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
        let output = "";
        const take = (d: Buffer) => {
            output += d;
            if (opts.show) process.stdout.write(d);
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        child.on("error", reject);
        child.on("close", (code) => resolve({ status: code ?? 1, output }));
        // A command that exits before reading its stdin closes the pipe; its status says what happened.
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.input ?? "");
    });
}

/**
 * One engine run printed as `npm run preview|up` print it: keyfleet's plan (ops/plan.ts) from the
 * run's event log, the engine's display only with --verbose (its error lines when the events do
 * not say why it failed). The event log holds the stack's inputs (secrets masked) and goes with `work`.
 */
async function engine(mode: Mode, args: string[], env: NodeJS.ProcessEnv, work: string): Promise<number> {
    const events = path.join(work, `${mode}.events.jsonl`);
    fs.writeFileSync(events, "", { mode: 0o600 });
    const r = await pulumi([...args, "--non-interactive", "--color", "never", "--event-log", events], { show: flags.verbose, env: { ...env, PULUMI_DEBUG_COMMANDS: "true" } });
    const plan = planOf(parseEventLog(fs.readFileSync(events, "utf8")), { mode, toolchainNotes: flags.verbose });
    if (r.status !== 0 && plan.errors.length === 0 && !flags.verbose) plan.errors.push(...r.output.split("\n").filter((l) => /^\s*error: /.test(l)).map((l) => l.trim().replace(/^error: /, "")));
    fs.rmSync(events, { force: true });
    console.log(renderPlan(plan, { stack: String(args[args.indexOf("--stack") + 1]), mode, engineShown: flags.verbose, status: r.status }).join("\n"));
    return r.status;
}

/** `--set` pairs as the stack config the program will have: `a.b` in the structured `keyfleet:a`, `c` as `keyfleet:c`. */
function asConfig(sets: Map<string, string>): RawConfig {
    const structured = new Map<string, Record<string, string>>();
    const top = new Map<string, string>();
    for (const [key, value] of sets) {
        const dot = key.indexOf(".");
        if (dot < 0) top.set(`keyfleet:${key}`, value);
        else structured.set(key.slice(0, dot), { ...structured.get(key.slice(0, dot)), [key.slice(dot + 1)]: value });
    }
    return {
        get: (key) => {
            if (top.has(key)) return top.get(key);
            const section = key.startsWith("keyfleet:") ? structured.get(key.slice("keyfleet:".length)) : undefined;
            return section ? JSON.stringify(section) : undefined;
        },
    };
}

async function main() {
    const env = positionals[0];
    if (!env || positionals.length > 1) fail(USAGE);
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(env)) fail(`an environment's name is lower-case letters, digits, - and _ (it names config/<env>.yaml and the stack): "${env}"`);
    const keysFile = path.join(ROOT, "config", `${env}.yaml`);
    const stackFile = path.join(ROOT, "stacks", `Pulumi.${env}.yaml`);
    for (const f of [keysFile, stackFile]) if (fs.existsSync(f)) fail(`${path.relative(ROOT, f)} exists already; bootstrap makes new environments only (edit it, or remove it first)`);
    const vars = pairs(flags.var, "--var");
    const sets = pairs(flags.set, "--set");

    // Which vendors: the template's sections that have a descriptor.
    const templateFile = path.resolve(flags.template ?? path.join(ROOT, "config", "templates", "environment.yaml"));
    const doc = parseDocument(fs.readFileSync(templateFile, "utf8"));
    const offered = vendors.filter((v) => doc.has(v.section)).map((v) => v.section);
    let chosen = flags.vendors?.split(",").map((s) => s.trim()).filter(Boolean);
    if (!chosen && interactive) chosen = (await ask(`Vendors of ${env} (${offered.join(", ")})`, { fallback: offered.join(",") })).split(",").map((s) => s.trim()).filter(Boolean);
    chosen ??= offered;
    for (const c of chosen) if (!offered.includes(c)) fail(`unknown vendor "${c}"; the template has ${offered.join(", ")}`);
    for (const v of vendors) if (!chosen.includes(v.section)) doc.delete(v.section);

    // The template's {{placeholders}} in the kept sections.
    let text = doc.toString({ lineWidth: 0 }).replaceAll("{{env}}", env);
    for (const name of new Set([...text.matchAll(/\{\{([\w.-]+)\}\}/g)].map((m) => m[1]))) {
        let value = vars.get(name);
        if (value === undefined && interactive) value = await ask(`${name} (in config/${env}.yaml)`);
        if (!value) throw new Stop(`the template needs ${name}: give --var ${name}=…`);
        text = text.replaceAll(`{{${name}}}`, value.replace(/["\\]/g, "\\$&"));
    }

    // Settings, vendor by vendor, from the descriptors' tables; checked before anything is written.
    const settings: { spec: SettingSpec; value: string }[] = [];
    const missing: string[] = [];
    const parsed = (() => {
        // Written to a scratch file first: loadEnvironment reports positions in the keys file.
        const scratch = `${keysFile}.bootstrap-${process.pid}`;
        fs.writeFileSync(scratch, text);
        try {
            // The --set settings reach the YAML's rules as the stack's would (nexus.permissions, nexus.probeUrl).
            return loadEnvironment(scratch, `config/${env}.yaml`, asConfig(sets));
        } finally {
            fs.rmSync(scratch, { force: true });
        }
    })();
    if (!parsed.ok) fail(`config/${env}.yaml from the template is not valid:\n${parsed.errors.map(formatError).join("\n")}`);
    for (const v of vendors) {
        if (!chosen.includes(v.section)) continue;
        const section = (parsed as { env: Record<string, unknown> }).env[v.section];
        for (const spec of v.settings) {
            if (spec.needed && section !== undefined && !spec.needed(section as never)) continue;
            if (spec.secret && sets.has(spec.key)) fail(`${spec.key} is a credential: give it in ${spec.env}, not on the command line (ps shows command lines)`);
            let value = sets.get(spec.key) ?? (process.env[spec.env] || undefined);
            if (value === undefined && interactive) {
                value = (await ask(`${v.title}: ${spec.about} (${spec.key})`, { hidden: spec.secret, fallback: spec.default })) || undefined;
            }
            if (value === undefined || value === "") {
                if (spec.default !== undefined) continue; // the provider's default applies
                missing.push(`${spec.key} (${spec.about}): ${spec.secret ? `set ${spec.env}` : `--set ${spec.key}=… or ${spec.env}`}`);
                continue;
            }
            const problem = invalid(spec, value);
            if (problem) fail(problem);
            settings.push({ spec, value });
        }
    }
    for (const key of sets.keys()) {
        if (!vendors.some((v) => chosen.includes(v.section) && v.settings.some((s) => s.key === key))) fail(`--set ${key}: no vendor of ${env} has this setting`);
    }
    if (missing.length > 0) fail(`missing settings for ${env}:\n  ${missing.join("\n  ")}`);

    // A provider URL is Pulumi's to check (its error names the schemes it knows); only its shape here,
    // so that a typo stops before any file is written.
    const provider = flags["secrets-provider"]?.trim() || undefined;
    if (provider !== undefined && !/^(passphrase|default|[a-z][a-z0-9+.-]*:\/\/\S+)$/.test(provider)) {
        fail(`--secrets-provider takes passphrase or a provider URL (awskms://…, azurekeyvault://…, gcpkms://…, hashivault://…), not "${provider}"`);
    }
    // No provider named: the backend's default, a passphrase on every backend but Pulumi Cloud's.
    const usesPassphrase = provider === "passphrase" || (provider === undefined && isDiyBackend(process.env.PULUMI_BACKEND_URL));
    // The stack's own variable first, as every later run takes it (ops/secrets.ts passphraseSource):
    // otherwise a shell that holds both would create the stack with a passphrase its next up does not use.
    let passphrase = process.env[ownPassphraseVariable(env)] || process.env.PULUMI_CONFIG_PASSPHRASE || undefined;
    if (usesPassphrase && !passphrase && !process.env.PULUMI_CONFIG_PASSPHRASE_FILE) {
        if (!interactive) fail(`the secrets of stack ${env} need a passphrase: set PULUMI_CONFIG_PASSPHRASE, or give --secrets-provider <url> for a KMS or Vault (docs/ops/state-and-secrets.md, "Secrets providers")`);
        passphrase = await ask(`Passphrase for the secrets of stack ${env}`, { hidden: true });
        if (!passphrase || passphrase !== (await ask("The same passphrase again", { hidden: true }))) fail("the passphrases differ (or are empty)");
    }
    const penv = usesPassphrase && passphrase ? { PULUMI_CONFIG_PASSPHRASE: passphrase } : {};

    // From here on files and a stack exist; a failure before the preview takes them away again.
    fs.writeFileSync(keysFile, text);
    let created = false;
    try {
        const init = await pulumi(["stack", "init", env, ...(provider ? ["--secrets-provider", provider] : []), "--non-interactive"], { env: penv });
        if (init.status !== 0) fail(`pulumi stack init ${env}${provider ? ` --secrets-provider ${provider}` : ""} failed:\n${init.output}`);
        created = true;
        const recorded = stackSecrets(ROOT, env).provider;
        console.log(`created stack ${env}; its secrets provider: ${recorded ?? "the backend's default"} (recorded in stacks/Pulumi.${env}.yaml)`);
        for (const { spec, value } of settings) {
            const key = configKey(spec);
            const result = spec.secret
                ? // The value on stdin: pulumi reads it there when the command line has none.
                  await pulumi(["config", "set", "--secret", key, "--stack", env, "--non-interactive"], { input: value, env: penv })
                : await pulumi(["config", "set", "--path", key, value, "--stack", env, "--non-interactive"], { env: penv });
            if (result.status !== 0) fail(`setting ${key} failed:\n${result.output.replaceAll(value, "[secret]")}`);
            console.log(`set ${key}${spec.secret ? " (secret)" : ` = ${value}`}`);
        }
    } catch (e) {
        fs.rmSync(keysFile, { force: true });
        if (created) await pulumi(["stack", "rm", env, "--yes", "--force", "--non-interactive"], { env: penv });
        fs.rmSync(stackFile, { force: true });
        throw e;
    }
    console.log(`wrote config/${env}.yaml and stacks/Pulumi.${env}.yaml`);

    // The environment's key-hygiene policy, when it has one, as npm run up applies it (scripts/engine.ts policyArgs).
    const policyConfig = path.join(ROOT, "policy", "config", `${env}.json`);
    const policy = fs.existsSync(policyConfig) ? ["--policy-pack", path.join(ROOT, "policy"), "--policy-pack-config", policyConfig] : [];
    // The plan the operator answers to is the one applied: the preview saves the engine's update
    // plan and the up is held to it (--plan), in a 0700 directory of its own, removed at the end.
    fs.mkdirSync(path.join(ROOT, ".keyfleet"), { recursive: true });
    const work = fs.mkdtempSync(path.join(ROOT, ".keyfleet", "bootstrap-"));
    const planFile = path.join(work, "plan.json");
    process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
    const preview = await engine("preview", ["preview", "--stack", env, "--save-plan", planFile, ...policy], penv, work);
    if (preview !== 0) fail(`the preview of ${env} failed (see above); fix the files and run \`npm run up -- ${env}\``);
    let apply = flags.yes && !flags["no-apply"];
    if (!apply && !flags["no-apply"] && interactive) apply = /^y(es)?$/i.test(await ask(`Apply to ${env} now? (yes/no)`, { fallback: "no" }));
    if (!apply) {
        console.log(`not applied; \`npm run up -- ${env}\` applies it`);
        return;
    }
    const up = await engine("up", ["up", "--yes", "--skip-preview", "--plan", planFile, "--stack", env, ...policy], penv, work);
    if (up !== 0) fail(`pulumi up of ${env} failed (see above)`);
    console.log(`environment ${env} is up`);
}

main()
    .then(() => rl?.close())
    .catch((e) => {
        rl?.close();
        console.error(`bootstrap: ${e instanceof Stop ? e.message : (e as Error).stack}`);
        process.exit(1);
    });
