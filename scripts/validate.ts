// `npm run validate [-- <file|env>…]`: the checks of a preview that need no vendor, no secret and no
// Pulumi CLI, so that a YAML mistake costs well under a second instead of a whole preview. For each
// environment it loads config/<env>.yaml with the program's own loader and rules (config/load.ts)
// and checks stacks/Pulumi.<env>.yaml, read as YAML, with the program's own settings pre-flight
// (providers/shared/preflight.ts). Messages are the preview's (formatError), each printed once.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { vendors } from "@keyfleet/providers/vendors";
import { checkSettings, type ConfigSource } from "@keyfleet/providers/shared/preflight";
import { formatError, loadEnvironment, type ConfigError } from "../config/load.ts";
import { configProblems, judge, keysOfEnvironment, type PackConfig } from "../policy/rules.ts";
import { parseCli } from "./cli.ts";
import { validate as VALIDATE } from "./commands.ts";
import { sandboxDescription } from "./services.ts";

// The folder keyfleet.sh was called through (a scratch copy links scripts/ to the checkout).
const ROOT = process.env.KEYFLEET_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = VALIDATE.usage;

/**
 * Each argument as a keys file and its stack file: an environment name is config/<env>.yaml and
 * stacks/Pulumi.<env>.yaml of this project; a file is one of the pair, the other found where the
 * project keeps it (../stacks/Pulumi.<env>.yaml beside config/, ../config/<env>.yaml beside stacks/).
 */
function targets(args: string[], policyConfig?: string): { keys: string; stack: string | undefined; env: string; policy: string | undefined }[] {
    const names = args.length > 0 ? args : fs.readdirSync(path.join(ROOT, "config")).filter((f) => f.endsWith(".yaml")).sort().map((f) => f.slice(0, -".yaml".length));
    return names.map((arg) => {
        const isFile = /\.ya?ml$/.test(arg) || arg.includes("/");
        const file = isFile ? path.resolve(arg) : path.join(ROOT, "config", `${arg}.yaml`);
        const stackFile = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file));
        const env = stackFile ? stackFile[1]! : path.basename(file).replace(/\.ya?ml$/, "");
        const stack = stackFile ? file : path.join(path.dirname(file), "..", "stacks", `Pulumi.${env}.yaml`);
        const project = path.join(path.dirname(stack), "..");
        // Named by its environment or stack file, the keys file is the one the program reads: the
        // stack's keyfleet:keysFile (relative to the project) when set, else config/<env>.yaml.
        const configured = !isFile || stackFile ? keysFileOf(stack) : undefined;
        const keys = configured ? path.resolve(project, configured) : stackFile ? path.join(project, "config", `${env}.yaml`) : file;
        // The pack's config of the environment, where keyfleet.sh's preview and up find it.
        const policy = policyConfig ? path.resolve(policyConfig) : path.join(project, "policy", "config", `${env}.json`);
        return { keys, env, stack: fs.existsSync(stack) ? stack : undefined, policy: fs.existsSync(policy) ? policy : undefined };
    });
}

/** The stack's keyfleet:keysFile, if the file sets one (a broken file is reported by readStack). */
function keysFileOf(stack: string): string | undefined {
    try {
        const value = (parseDocument(fs.readFileSync(stack, "utf8")).toJS() as { config?: Record<string, unknown> } | null)?.config?.["keyfleet:keysFile"];
        return typeof value === "string" && value !== "" ? value : undefined;
    } catch {
        return undefined;
    }
}

function shown(file: string): string {
    return file.startsWith(ROOT + path.sep) ? path.relative(ROOT, file) : file;
}

interface StackFile {
    source: ConfigSource;
    /** Line and column of `keyfleet:name` (or its `field`) in the stack file. */
    place(key: string): { line: number; col: number };
    errors: ConfigError[];
}

/** A value of the stack file as the engine hands it to the program: strings, objects as JSON. */
function readStack(file: string, name: string): StackFile {
    const text = fs.readFileSync(file, "utf8");
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const errors: ConfigError[] = doc.errors.map((e) => ({ file: name, ...lines.linePos(e.pos[0]), path: "", message: e.message.split("\n")[0]! }));
    const config = (doc.errors.length === 0 ? (doc.toJS() as { config?: Record<string, unknown> } | null)?.config : undefined) ?? {};
    const all: Record<string, string> = {};
    const secret = new Set<string>();
    const opaque = new Set<string>();
    const isSecure = (v: unknown): v is { secure: string } => !!v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v;
    for (const [key, value] of Object.entries(config)) {
        if (isSecure(value)) {
            // Not decrypted here: it is known to be set, to a value validate does not see.
            all[key] = "[secret]";
            secret.add(key);
            opaque.add(key);
        } else if (value && typeof value === "object") {
            // The runtime marks a whole structured value secret when any leaf is.
            const fields = Object.fromEntries(
                Object.entries(value).map(([field, v]) => {
                    if (!isSecure(v)) return [field, v];
                    secret.add(key);
                    opaque.add(`${key}.${field}`);
                    return [field, "[secret]"];
                }),
            );
            all[key] = JSON.stringify(fields);
        } else if (value !== null && value !== undefined) all[key] = String(value);
    }
    const place = (key: string) => {
        const [top, field] = key.split(/\.(.*)/s);
        let node = nodeAt(doc, ["config", top!]);
        if (field !== undefined) node = nodeAt(doc, ["config", top!, field]) ?? node;
        return lines.linePos(node?.range?.[0] ?? nodeAt(doc, ["config"])?.range?.[0] ?? 0);
    };
    return { source: { all: () => all, get: (k) => all[k], isSecret: (k) => secret.has(k), opaque: (k) => opaque.has(k) }, place, errors };
}

/** The key node of `path` in the stack file (where the message should point), or undefined. */
function nodeAt(doc: Document, path: string[]): Node | undefined {
    let node = doc.contents as Node | null;
    let key: Node | undefined;
    for (const step of path) {
        if (!isMap(node)) return undefined;
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
        if (!pair) return undefined;
        key = pair.key as Node;
        node = pair.value as Node | null;
    }
    return key;
}

/**
 * Errors and warnings of one environment, in the preview's words, each placed in its file;
 * `policyConfig`: the key-hygiene pack's config file of the environment, when it has one.
 */
export function validate(keysFile: string, stackFile: string | undefined, policyConfig?: string): { errors: ConfigError[]; warnings: ConfigError[] } {
    // The local stack's endpoints come from the environment keyfleet.sh gives it (sandbox/local-stack-env.ts).
    // Its database is the one `npm run up` ensures (scripts/mariadb.sh: 127.0.0.1, root, unless the
    // environment names another), which the CLI exports as KEYFLEET_MYSQL_*: not a missing setting.
    const mysql = { KEYFLEET_MYSQL_HOST: process.env.KEYFLEET_MYSQL_HOST || "127.0.0.1", KEYFLEET_MYSQL_USER: process.env.KEYFLEET_MYSQL_USER || "root" };
    if (stackFile && path.basename(stackFile) === "Pulumi.local.yaml") return withEnv({ ...mysql, ...sandboxDescription().env }, () => validateWith(keysFile, stackFile, policyConfig));
    return validateWith(keysFile, stackFile, policyConfig);
}

/**
 * The policy pack's findings on the YAML, from the pack's own rules (policy/rules.ts) and config,
 * each at the YAML's place of what it is about, prefixed as the preview's "Policies:" lists them.
 */
function policyFindings(result: Extract<ReturnType<typeof loadEnvironment>, { ok: true }>, file: string): { errors: ConfigError[]; warnings: ConfigError[] } {
    const name = shown(file);
    let config: PackConfig;
    try {
        config = JSON.parse(fs.readFileSync(file, "utf8")) as PackConfig;
        if (!config || typeof config !== "object" || Array.isArray(config)) throw new Error("it is not a JSON object of rule names");
    } catch (err) {
        return { errors: [{ file: name, line: 1, col: 1, path: "", message: `the policy config cannot be read: ${(err as Error).message}` }], warnings: [] };
    }
    const problems = configProblems(config);
    if (problems.length > 0) return { errors: problems.map((message) => ({ file: name, line: 1, col: 1, path: "", message })), warnings: [] };
    const errors: ConfigError[] = [];
    const warnings: ConfigError[] = [];
    for (const { key, section, entry } of keysOfEnvironment(result.env)) {
        for (const { rule, level, finding } of judge(key, config)) {
            const at = result.place([section, ...(entry.at(finding.fact) ?? entry.path)]);
            (level === "mandatory" ? errors : warnings).push({ ...at, message: `[${level}] ${rule.name}: ${finding.message}` });
        }
    }
    return { errors, warnings };
}

function validateWith(keysFile: string, stackFile: string | undefined, policyConfig: string | undefined): { errors: ConfigError[]; warnings: ConfigError[] } {
    const keysShown = shown(keysFile);
    const stack = stackFile ? readStack(stackFile, shown(stackFile)) : undefined;
    if (stack && stack.errors.length > 0) return { errors: stack.errors, warnings: [] };
    const result = loadEnvironment(keysFile, keysShown, stack?.source);
    if (!result.ok) return { errors: result.errors, warnings: [] };
    const policy = policyConfig ? policyFindings(result, policyConfig) : { errors: [], warnings: [] };
    if (!stack || !stackFile) return { errors: policy.errors, warnings: [...result.warnings, ...policy.warnings] };
    const name = shown(stackFile);
    // The message of every settings problem starts with its key (keyfleet:nexus.authUrl …).
    const placed = (message: string): ConfigError => {
        const key = /^keyfleet:[^\s]+/.exec(message)?.[0] ?? "";
        return { file: name, ...stack.place(key), path: "", message };
    };
    const warnings = [...result.warnings, ...policy.warnings];
    const problems = checkSettings(vendors, result.env, ["keysFile"], stack.source, {
        onMissing: (problem, spec) => {
            // Credentials are meant to come from the run's environment (the stack files say so), which
            // validate cannot see; an endpoint missing here is worth a word, as it usually belongs in the file.
            if (!spec.secret) warnings.push(placed(`${problem}, unless the run's environment gives it (a preview stops without it)`));
        },
    });
    return { errors: [...policy.errors, ...problems.map(placed)], warnings };
}

/** Runs `work` with `vars` set where this process's environment does not set them already. */
function withEnv<T>(vars: Record<string, string>, work: () => T): T {
    const added = Object.keys(vars).filter((k) => process.env[k] === undefined);
    for (const k of added) process.env[k] = vars[k];
    try {
        return work();
    } finally {
        for (const k of added) delete process.env[k];
    }
}

function main() {
    const { positionals, values } = parseCli(USAGE, { ...VALIDATE.args, args: process.argv.slice(2) });
    let failed = 0;
    for (const t of targets(positionals, values["policy-config"])) {
        const started = performance.now();
        const { errors, warnings } = validate(t.keys, t.stack, t.policy);
        const ms = performance.now() - started;
        for (const w of warnings) process.stderr.write(`warning: ${formatError(w)}\n`);
        for (const e of errors) process.stderr.write(`error: ${formatError(e)}\n`);
        const files = [shown(t.keys), ...(t.stack ? [shown(t.stack)] : []), ...(t.policy ? [shown(t.policy)] : [])].join(" + ");
        if (errors.length > 0) failed++;
        const counts = `${errors.length} error${errors.length === 1 ? "" : "s"}, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`;
        process.stdout.write(`${errors.length > 0 ? "FAIL" : "ok  "} ${t.env}: ${files}: ${counts} (${ms.toFixed(0)} ms)\n`);
    }
    process.exitCode = failed > 0 ? 1 : 0;
}

// Run as a script, also through a link to scripts/ (a scratch copy of the project): the module's URL is the real path.
if (process.argv[1] && fs.realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url)) main();
