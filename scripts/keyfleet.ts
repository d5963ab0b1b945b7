// keyfleet's command line, started by scripts/keyfleet.sh once Node 24 is there. It reads the
// command and its options first (scripts/commands.ts): `--help`/-h prints the usage on stdout and
// exits 0, an unknown option is a usage error, both before anything is installed or started. Then
// it sets up what the command needs (scripts/setup.ts: npm packages, the Pulumi CLI; scripts/
// services.ts: MySQL, the sandboxes) and runs it. This file and those it imports statically use
// Node built-ins only: npm ci must run before anything imports an npm package.
import fs from "node:fs";
import path from "node:path";
import tty from "node:tty";
import { parseCli } from "./cli.ts";
import type { ParseArgsConfig } from "node:util";
import { commands, USAGE, type CommandName } from "./commands.ts";
import { enginePlan, guardVerbose, planFile, policyArgs, pulumiSubcommand, stackOf, stackSecrets, usesLocalStack } from "./engine.ts";
import { die, exec, Exit, KF, main, output, ROOT, run, say, which } from "./proc.ts";
import { ensureChromium, ensureMysql, ensureSandbox, localStackEnv, sandboxData, sandboxesNeedMysql, selectedStack } from "./services.ts";
import { ensureNpmPackages, setupEnv, toolchain } from "./setup.ts";

/** `--help` (or -h) before any `--`. */
const wantsHelp = (args: readonly string[]) => {
    // A leading `--` (keyfleet.sh up -- --help, as npm passes it) separates nothing.
    const end = args.indexOf("--", args[0] === "--" ? 1 : 0);
    return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
};

const help = (usage: string): never => {
    process.stdout.write(`${usage}\n`);
    throw new Exit(0);
};

/** The options of a command keyfleet parses itself: help and usage errors before anything runs. */
const parse = <T extends ParseArgsConfig>(spec: { usage: string; args: T; usageExit?: number }, args: string[]) => parseCli(spec.usage, { ...spec.args, args }, spec.usageExit);

// From the caller's folder, as its relative paths (npm run validate -- config/prod.yaml) mean.
const node = (script: string, args: readonly string[], cwd?: string) => exec("node", [path.join(ROOT, script), ...args], { cwd });

async function upPreviewDestroy(command: "up" | "preview" | "destroy", argv: string[]): Promise<number> {
    // A leading `--` (keyfleet.sh up -- …, as npm would pass it) separates nothing here.
    if (argv[0] === "--") argv = argv.slice(1);
    // --verbose (bare) is keyfleet's: the engine's own display besides the plan. Pulumi's
    // --verbose=N and -v are its logging, which guardVerbose refuses. --confirm: ask before applying
    // even where it would not (the local stack).
    const verbose = argv.includes("--verbose");
    const confirm = argv.includes("--confirm");
    const args = guardVerbose(argv.filter((a) => a !== "--verbose" && a !== "--confirm"));
    const stack = args[0] !== undefined && !args[0].startsWith("-") ? args.shift()! : "local";
    // As `terraform apply`: only the local stack (sandboxes) applies at once. Any other stack shows
    // its plan and asks unless --yes; with no terminal to ask on, --yes is needed.
    const yes = command === "preview" || (stack === "local" && !confirm) || args.some((a) => ["--yes", "-y", "--yes=true", "--skip-preview", "-f"].includes(a));
    if (!yes && !(tty.isatty(0) && tty.isatty(1))) {
        die(`${command} of stack ${stack} asks for confirmation and there is no terminal to ask on; look at the plan (npm run preview -- ${stack}) and run again with --yes`);
    }
    await toolchain();
    await checkEngineOptions(command, args);
    const createArgs = await stackSecrets(stack, { require: true });
    if (stack === "local") {
        await localStackEnv();
        await ensureMysql({ quiet: true });
        await ensureSandbox();
    }
    // A preview changes nothing, so it never makes a stack either (that would write the stack's
    // secrets salt into its tracked settings file, tied to whatever passphrase was set): only an up
    // or destroy, or any command of the local stack, creates it. Quiet unless it fails.
    const create = command !== "preview" || stack === "local";
    const selected = await output("pulumi", ["stack", "select", ...(create ? ["--create", ...createArgs] : []), stack], { cwd: ROOT });
    if (selected.status !== 0) {
        const words = [selected.stdout, selected.stderr].filter(Boolean).join("\n");
        if (!create && /no stack named|does not exist|not found/i.test(words)) {
            die(`preview of stack ${stack}: the stack does not exist in this backend yet, and a preview creates nothing; make it with npm run bootstrap -- ${stack} (a new environment) and preview again`);
        }
        process.stderr.write(`${words}\n`);
        return 1;
    }
    // The key-hygiene policy pack where the environment has a policy config (preview and up).
    const policy = command === "destroy" ? [] : policyArgs(ROOT, stack, args);
    if (command === "preview") return enginePlan("preview", stack, ["preview", "--refresh", ...policy, ...args], verbose);
    const runArgs = command === "up" ? ["--refresh"] : [];
    if (!yes) {
        // The plan first (as a preview), the question, then the run itself without the engine's prompt.
        // An up is held to the plan confirmed: the preview saves the engine's update plan and the up
        // applies it with --plan, so the engine refuses any step beyond it (a YAML or vendor change
        // in between) instead of applying what nobody saw. (`up --plan` is hidden without
        // PULUMI_EXPERIMENTAL but read all the same: CLI v3.259 pkg/cmd/pulumi/operations/up.go;
        // --save-plan is a plain preview flag.)
        let status: number;
        if (command === "up") {
            const plan = planFile();
            status = await enginePlan("preview", stack, ["preview", "--refresh", "--save-plan", plan, ...policy, ...args], verbose);
            runArgs.push("--plan", plan);
        } else {
            status = await enginePlan("destroy-preview", stack, ["destroy", "--preview-only", ...args], verbose);
        }
        if (status !== 0) return status;
        process.stdout.write(`Do you want to perform this ${command === "up" ? "update" : "destroy"}? Type yes to apply: `);
        const answer = readLine();
        if (answer !== "yes") {
            say(`${command} of stack ${stack} not applied (answer: '${answer}')`);
            return 1;
        }
        runArgs.push("--skip-preview");
    }
    return enginePlan(command, stack, [command, "--yes", ...runArgs, ...policy, ...args], verbose);
}

/**
 * The options that go on to the engine, checked by the engine itself before a sandbox starts or a
 * stack is made: with --help the CLI parses them and runs nothing, so an unknown one is a usage
 * error here rather than a failed run (its --help goes before a `--`, after which all is positional).
 */
async function checkEngineOptions(command: "up" | "preview" | "destroy", args: readonly string[]): Promise<void> {
    const end = args.includes("--") ? args.indexOf("--") : args.length;
    const checked = await output("pulumi", [command, ...args.slice(0, end), "--help", ...args.slice(end)], { cwd: ROOT });
    if (checked.status === 0) return;
    process.stderr.write(`${(checked.stderr || checked.stdout).trim()}\n${commands[command].usage}\n`);
    throw new Exit(2);
}

/** One line from the terminal, as `read -r` reads it ("" at the end of the input). */
function readLine(): string {
    const bytes: number[] = [];
    const one = Buffer.alloc(1);
    for (;;) {
        let n: number;
        try {
            n = fs.readSync(0, one, 0, 1, null);
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "EAGAIN") continue;
            break;
        }
        if (n === 0 || one[0] === 0x0a) break;
        bytes.push(one[0]);
    }
    return Buffer.from(bytes).toString("utf8");
}

async function test(args: string[]): Promise<number> {
    await toolchain();
    await ensureMysql();
    await ensureChromium();
    const report = path.join(KF, "test-report.json");
    // A run that dies before it writes its report must not be closed with the last run's figures.
    fs.rmSync(report, { force: true });
    const status = await run("npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...args], { cwd: ROOT });
    // One plain closing line that any CI can read, whatever the reporter printed above it.
    try {
        const r = JSON.parse(fs.readFileSync(report, "utf8"));
        console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
    } catch {
        // No report: vitest said why.
    }
    return status;
}

async function pulumi(argv: string[]): Promise<never> {
    const args = guardVerbose(argv);
    await toolchain();
    // The stack's own passphrase where it uses one (KEYFLEET_PASSPHRASE_<STACK> first, as up, gitops
    // and fleet take it; the local stack's public one only for the local stack), nothing demanded.
    const actsOn = stackOf(args) ?? (await selectedStack());
    if (actsOn) await stackSecrets(actsOn);
    if (actsOn === "local") {
        await localStackEnv();
        await ensureMysql();
    }
    const sub = pulumiSubcommand(args);
    const policy = sub === "preview" || sub === "up" || sub === "update" ? policyArgs(ROOT, actsOn, args) : [];
    return exec("pulumi", [...args, ...policy], { cwd: ROOT });
}

const commandRuns: Record<CommandName, (args: string[]) => Promise<number | void>> = {
    async toolchain(args) {
        parse(commands.toolchain, args);
        await toolchain();
        const pulumiVersion = (await output("pulumi", ["version"])).stdout;
        say(`node ${process.version}, ${pulumiVersion} (${which("pulumi")}), PULUMI_HOME=${process.env.PULUMI_HOME}`);
        say(`command plugin: ${process.env.KEYFLEET_COMMAND_PLUGIN}`);
    },
    up: (args) => upPreviewDestroy("up", args),
    preview: (args) => upPreviewDestroy("preview", args),
    destroy: (args) => upPreviewDestroy("destroy", args),
    test,
    async sandbox(args) {
        const { values } = parse(commands.sandbox, args);
        await ensureNpmPackages();
        // Only the sandboxes asked for, and MySQL only when one of them keeps its keys there.
        if (await sandboxesNeedMysql(values.only?.split(","))) await ensureMysql();
        fs.mkdirSync(KF, { recursive: true });
        process.umask(0o077);
        return node("sandbox/main.ts", ["--data", sandboxData(), ...args]);
    },
    async report(args) {
        parse(commands.report, args);
        return reportOrFleet("report", args);
    },
    async fleet(args) {
        const { positionals } = parse(commands.fleet, args);
        // The operation is checked here too, before the toolchain, MySQL or a sandbox starts.
        if (positionals.length !== 1 || !commands.fleet.operations.includes(positionals[0]!)) {
            process.stderr.write(`${positionals.length === 0 ? "fleet needs an operation" : `unknown fleet operation ${JSON.stringify(positionals.join(" "))}`}\n${commands.fleet.usage}\n`);
            throw new Exit(commands.fleet.usageExit);
        }
        return reportOrFleet("fleet", args);
    },
    async secrets(args) {
        parse(commands.secrets, args);
        // For gitops.sh: a stack's secrets provider, as shell lines (scripts/stack-secrets.ts). Only
        // Node and the npm packages, as validate: it reads one settings file, and runs before every preview.
        await ensureNpmPackages();
        setupEnv();
        return node("scripts/stack-secrets.ts", args);
    },
    async validate(args) {
        parse(commands.validate, args);
        // Offline on purpose: a YAML check must not wait for the Pulumi CLI, a sandbox or MySQL.
        await ensureNpmPackages();
        return node("scripts/validate.ts", args);
    },
    async bench(args) {
        const { values } = parse(commands.bench, args);
        // Sizes and pairs are whole numbers: said before anything is built, not as a stack trace mid-run.
        const counts = [...String(values.keys).split(","), String(values.pairs)];
        if (!values.from && counts.some((n) => !/^[1-9][0-9]*$/.test(n))) {
            process.stderr.write(`--keys takes whole numbers separated by commas (10,40) and --pairs a whole number; got --keys ${values.keys} --pairs ${values.pairs}\n${commands.bench.usage}\n`);
            throw new Exit(2);
        }
        await toolchain();
        return node("bench/bench.ts", args, ROOT);
    },
    pulumi,
    async node(args) {
        // `node <script> --help` (npm run bootstrap -- --help): the script answers; nothing is built for it.
        if (wantsHelp(args)) {
            await ensureNpmPackages();
        } else {
            await toolchain();
        }
        return exec("node", args);
    },
    async tsc(args) {
        await toolchain();
        return exec("npx", ["tsc", "-p", "tsconfig.json", ...args], { cwd: ROOT });
    },
};

async function reportOrFleet(command: "report" | "fleet", args: string[]): Promise<number> {
    await toolchain();
    // The local stack reads its sandboxes and help desk database: live reads and runs of it start them.
    if (usesLocalStack(command, args)) {
        await ensureMysql();
        await ensureSandbox();
        await localStackEnv();
    }
    return run("node", [path.join("ops", `${command}.ts`), ...args], { cwd: ROOT });
}

// Commands whose arguments go on to another program answer --help here; those keyfleet parses
// itself answer in parse() (their usage errors too). `node` and `pulumi` pass a later --help on
// (`node scripts/bootstrap.ts --help` is the script's, `pulumi stack --help` the CLI's).
const HELP_ANYWHERE = new Set<CommandName>(["up", "preview", "destroy", "test", "tsc"]);

await main(async () => {
    const [command = "", ...args] = process.argv.slice(2);
    if (command === "-h" || command === "--help") help(USAGE);
    if (!Object.hasOwn(commands, command)) {
        if (command) say(`unknown command "${command}"`);
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    const name = command as CommandName;
    if ((HELP_ANYWHERE.has(name) && wantsHelp(args)) || ((name === "node" || name === "pulumi") && (args[0] === "--help" || args[0] === "-h"))) {
        help(commands[name].usage);
    }
    return commandRuns[name](args);
});
