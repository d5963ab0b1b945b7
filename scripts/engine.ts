// How the CLI (scripts/keyfleet.ts) reads a Pulumi command line and runs the engine: which stack it
// acts on, whether it turns on the engine's verbose logging, which policy pack it gets, and the
// engine run whose events become keyfleet's plan (ops/plan.ts). Node built-ins only.
import fs from "node:fs";
import path from "node:path";
import { die, KF, onExit, ROOT, run, say, tempFile } from "./proc.ts";

/** The last part of a qualified stack name (organization/keyfleet/prod is prod). */
const shortName = (stack: string) => stack.slice(stack.lastIndexOf("/") + 1);

/**
 * The stack a `pulumi` command names: its --stack/-s argument; undefined when it names none (it
 * acts on the selected stack). `stack init|select|rm NAME` names it positionally (`stack
 * change-secrets-provider URL` does not: its positional is the new provider, and the stack is
 * --stack's or the selected one).
 */
export function stackOf(args: readonly string[]): string | undefined {
    if (args[0] === "stack" && /^(init|select|rm)$/.test(args[1] ?? "") && args[2] && !args[2].startsWith("-")) return shortName(args[2]);
    let prev = "";
    for (const a of args) {
        if (prev === "--stack" || prev === "-s") return shortName(a);
        const value = /^(?:--stack=|-s=?)(.+)$/.exec(a)?.[1];
        if (value !== undefined) return shortName(value);
        prev = a;
    }
    return undefined;
}

/**
 * The key-hygiene policy pack (policy/, README "Key-hygiene policy") of a stack: the project's
 * policy/ with policy/config/<env>.json, for a stack whose environment has one. A qualified name is
 * the environment of its last part, as the stack's settings file is (ops/secrets.ts); otherwise its
 * up would run with no policy at all.
 */
export function policyPack(dir: string, stack: string): { pack: string; config: string } | undefined {
    const name = shortName(stack);
    const config = path.join(dir, "policy", "config", `${name}.json`);
    return name && fs.existsSync(config) ? { pack: path.join(dir, "policy"), config } : undefined;
}

/** The pack's options for a preview or up of `stack`; none when the command names a pack itself. */
export function policyArgs(dir: string, stack: string, args: readonly string[]): string[] {
    if (args.some((a) => a === "--policy-pack" || a.startsWith("--policy-pack="))) return [];
    const found = policyPack(dir, stack);
    return found ? ["--policy-pack", found.pack, "--policy-pack-config", found.config] : [];
}

// Options of the CLI that take a value (its global ones too): the value is not the subcommand.
const VALUED = new Set(["-s", "--stack", "-C", "--cwd", "--color", "--profiling", "--memprofilerate", "--otel-traces", "--tracing-header"]);

/** The pulumi subcommand of a command line (its first word that is neither an option nor an option's value). */
export function pulumiSubcommand(args: readonly string[]): string | undefined {
    let prev = "";
    for (const a of args) {
        if (VALUED.has(prev)) {
            prev = "";
            continue;
        }
        if (!a.startsWith("-")) return a;
        prev = a;
    }
    return undefined;
}

const VERBOSE = /^(-v|-v=.*|-v[0-9].*|--verbose|--verbose=.*|--logtostderr|--logtostderr=.*|-d|--debug|--debug=.*|--logflow|--logflow=.*|--tracing|--tracing=.*|--tracing-header|--tracing-header=.*)$/;

/**
 * The engine's verbose logging writes every configured credential and key value in plain text
 * (58 hits at -v=9 in one run), to the terminal with --logtostderr and otherwise to files in /tmp
 * that others may read. So the flags that turn it on are refused unless the operator says
 * --unsafe-verbose; returns the arguments without it.
 */
export function guardVerbose(args: readonly string[]): string[] {
    const found: string[] = [];
    let unsafe = false;
    const kept: string[] = [];
    for (const a of args) {
        if (a === "--unsafe-verbose") {
            unsafe = true;
            continue;
        }
        if (VERBOSE.test(a)) found.push(a);
        // Short flags run together (-yv9, -fd): v or d after boolean flags only (-sdev is -s dev).
        if (/^-[yfjre]+[vd]/.test(a)) found.push(a);
        kept.push(a);
    }
    if (process.env.PULUMI_DEBUG_GRPC) found.push("PULUMI_DEBUG_GRPC");
    if (found.length > 0 && !unsafe) {
        die(
            `refusing ${found.join(" ")}: the engine's verbose logs carry every credential and key value in plain text (on the terminal, or in /tmp/pulumi.*.log files others may read). Add --unsafe-verbose to run it anyway, on a machine and terminal no one else reads, and delete the logs after`,
        );
    }
    if (found.length > 0) say(`warning: --unsafe-verbose: ${found.join(" ")} writes credentials and key values in plain text; delete /tmp/pulumi.* logs after`);
    return kept;
}

/**
 * Whether a report or fleet run reaches the local stack's vendors: a report only with --live; both
 * when the local stack is named, or implied by --all / no --stacks (every stack of the backend).
 */
export function usesLocalStack(command: "report" | "fleet", args: readonly string[]): boolean {
    if (process.env.KEYFLEET_PROJECT_DIR) return false;
    let named: string[] | "all" | undefined;
    let live = false;
    let prev = "";
    const name = (value: string) => (named = [...(named === "all" ? [] : (named ?? [])), ...value.split(",")]);
    for (const a of args) {
        if (a === "--live") live = true;
        else if (a === "--all") named = "all";
        else if (/^--stacks?=/.test(a)) name(a.slice(a.indexOf("=") + 1));
        if (prev === "--stacks" || prev === "--stack") name(a);
        prev = a;
    }
    if (command === "report" && !live) return false;
    if (command === "fleet" && named === undefined) named = "all";
    if (named === "all") return fs.existsSync(path.join(ROOT, "stacks", "Pulumi.local.yaml"));
    return (named ?? []).includes("local");
}

/**
 * The stack's own secrets provider, from its settings file (ops/secrets.ts): a passphrase is given
 * or demanded only where the stack uses one (the local stack's is public); returns the provider its
 * file records, for a `stack select --create` that has to make the stack (the CLI ignores the
 * file's provider there). Imports npm packages: after the toolchain.
 */
export async function stackSecrets(stack: string, options: { require?: boolean } = {}): Promise<string[]> {
    const { secretsPlan, SecretsSetupError } = await import("../ops/secrets.ts");
    try {
        const plan = secretsPlan(ROOT, stack, options);
        Object.assign(process.env, plan.env);
        return plan.createArgs;
    } catch (e) {
        die(e instanceof SecretsSetupError ? e.message : (e as Error).message);
    }
}

/**
 * The engine with its event log, its own display kept in a file (shown with `verbose`, or its error
 * lines when the events do not explain a failure), then keyfleet's plan (ops/plan.ts); after an
 * up, what the stack manages comes just before the plan, so that the run's last lines say what
 * changed and why. Both files may hold what the engine prints (secrets masked) and are removed
 * however the run ends (an error, Ctrl-C, a cancelled CI job): they hold the stack's inputs.
 */
export async function enginePlan(mode: string, stack: string, pulumiArgs: readonly string[], verbose: boolean): Promise<number> {
    const events = tempFile("events");
    const engineOutput = tempFile("engine");
    const remove = () => [events, engineOutput].forEach((f) => fs.rmSync(f, { force: true }));
    onExit(remove);
    // The event log (the Automation API's source too) is behind PULUMI_DEBUG_COMMANDS in the CLI.
    const env = { ...process.env, PULUMI_DEBUG_COMMANDS: "true" };
    const args = [...pulumiArgs, "--stack", stack, "--event-log", events];
    let status: number;
    const fd = fs.openSync(engineOutput, "w");
    try {
        if (verbose) {
            // As `2>&1 | tee`: both streams, in order, to the file and the terminal.
            const tee = (d: Buffer) => (fs.writeSync(fd, d), process.stdout.write(d));
            status = await run("pulumi", args, { cwd: ROOT, env, stdio: ["inherit", "pipe", "pipe"] }, (child) => {
                child.stdout!.on("data", tee);
                child.stderr!.on("data", tee);
            });
        } else {
            status = await run("pulumi", args, { cwd: ROOT, env, stdio: ["inherit", fd, fd] });
        }
    } finally {
        fs.closeSync(fd);
    }
    // The plan is told the engine's status only: a summary that fails after a good run is its own error.
    let summary = 0;
    if (mode === "up" && status === 0) {
        summary = await run("node", [path.join(ROOT, "stacks", "summary.ts"), stack], { cwd: ROOT });
        process.stdout.write("\n");
    }
    const plan = ["--events", events, "--stack", stack, "--mode", mode, "--status", String(status), "--engine-output", engineOutput, ...(verbose ? ["--verbose"] : [])];
    const planned = await run("node", [path.join(ROOT, "ops", "plan.ts"), ...plan], { cwd: ROOT });
    if (planned !== 0) status = planned;
    remove();
    return status === 0 ? summary : status;
}

/**
 * A directory of its own (0700) for the update plan an up is held to, removed however the CLI ends:
 * the file holds the stack's inputs, secrets as ciphertext only.
 */
export function planFile(): string {
    fs.mkdirSync(KF, { recursive: true });
    const dir = fs.mkdtempSync(path.join(KF, "plan."));
    fs.chmodSync(dir, 0o700);
    onExit(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "plan.json");
    fs.writeFileSync(file, "", { mode: 0o600 });
    return file;
}
