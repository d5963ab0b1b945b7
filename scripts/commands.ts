// Every keyfleet command's usage and options, in one leaf module that imports nothing: the CLI
// (scripts/keyfleet.ts) answers --help and refuses an unknown option from here before it installs
// or starts anything, and the command's own script (ops/report.ts, sandbox/main.ts, …) parses its
// arguments with the same table, so the two can never disagree.
import type { ParseArgsConfig } from "node:util";

export interface CommandSpec {
    usage: string;
    /** The options keyfleet reads itself; undefined: the arguments go on to another program (pulumi, vitest, tsc, node). */
    args?: ParseArgsConfig;
    /** The exit code of a usage error, when it is not 2. */
    usageExit?: number;
    /** The operations a command takes as its first argument (fleet's), checked before anything starts. */
    operations?: readonly string[];
}

export const report = {
    usage: "usage: npm run report -- (--stack <name> | --all) [--format table|markdown|json|html] [--out <file>] [--live]",
    args: {
        options: {
            stack: { type: "string", multiple: true },
            all: { type: "boolean" },
            format: { type: "string", default: "table" },
            out: { type: "string" },
            live: { type: "boolean" },
            dir: { type: "string" },
        },
    },
} satisfies CommandSpec;

export const fleet = {
    usage: "usage: npm run fleet -- preview|up|drift [--stacks a,b,…] [--parallel N] [--within 12h|7d|2w (drift only)] [--verbose (the engine's output too)]",
    args: {
        allowPositionals: true,
        options: { stacks: { type: "string" }, parallel: { type: "string", default: "4" }, dir: { type: "string" }, within: { type: "string" }, verbose: { type: "boolean" } },
    },
    // 64 (EX_USAGE) for usage errors: 2 means "drift found" to a scheduled `fleet drift`.
    usageExit: 64,
    operations: ["preview", "up", "drift"] as readonly string[],
} satisfies CommandSpec;

export const sandbox = {
    usage: "usage: npm run sandbox [-- --only nexus,beyondtrust,… ] [--data FILE]\n  Every vendor's sandbox in the foreground on its loopback port (sandbox/index.ts).",
    args: { options: { data: { type: "string" }, only: { type: "string" } } },
} satisfies CommandSpec;

export const bench = {
    usage: `usage: npm run bench [-- --keys 10,40 --pairs 3 --steps up,preview,refresh,rotate,rotate-overlap,destroy --out docs/performance]
  keyfleet against every vendor's sandbox through the real engine, interleaved with the engine's
  floor; writes <out>.md (table, targets) and <out>.png (time against N). The default sizes fit
  the issue's 15 minutes on 2 shared cores (8 min at load 4-12); --keys 10,100 took 38 at load 10-17;
  --keys 1000, the issue's scale, about an hour per pair. Each N's raw figures are kept in
  <out>.json; --from <that file> writes the table and plot again without running.`,
    args: {
        options: {
            keys: { type: "string", default: "10,40" },
            pairs: { type: "string", default: "3" },
            steps: { type: "string", default: "up,preview,refresh,rotate,rotate-overlap,destroy" },
            out: { type: "string", default: "docs/performance" },
            from: { type: "string" },
        },
    },
} satisfies CommandSpec;

export const validate = {
    usage: `usage: npm run validate [-- [--policy-config <file>] <file|env>…]
  Checks each environment offline: config/<env>.yaml (schema, cross-field rules, warnings) and
  stacks/Pulumi.<env>.yaml (unknown keyfleet: keys, credentials in plain text, URL shapes, settings
  the vendors in use need), with the same messages as a preview. No Pulumi CLI, sandbox or database.
  Without arguments: every config/<env>.yaml. An argument is an environment name (prod) or a keys
  file (config/prod.yaml, checked with stacks/Pulumi.prod.yaml when that exists).
  A setting found neither in the stack file nor in this shell's environment is a warning here, since
  the run's environment may give it (a preview stops without it); a missing credential is left to
  the preview. Secrets are not decrypted: a secure value counts as set, its content is not checked.
  The key-hygiene policy (policy/rules.ts) runs too, with the environment's policy/config/<env>.json
  (or --policy-config <file>): a mandatory rule broken is an error, an advisory one a warning.
  Exit status: 0 when there is no error (warnings are printed), 1 on any error, 2 on a usage error.`,
    args: { allowPositionals: true, options: { "policy-config": { type: "string" } } },
} satisfies CommandSpec;

export const secrets = {
    usage: `usage: bash scripts/keyfleet.sh secrets [--require] <stack>
  What the stack's own secrets provider needs, as shell lines to eval (scripts/stack-secrets.ts;
  scripts/gitops.sh uses it). --require: a passphrase stack without its passphrase is an error.`,
    args: { allowPositionals: true, options: { require: { type: "boolean", default: false } } },
} satisfies CommandSpec;

export const toolchain = {
    usage: "usage: npm run toolchain\n  Sets up Node 24, the npm packages and the Pulumi CLI (built from Go modules) and prints versions.",
    args: { options: {} },
} satisfies CommandSpec;

export const up: CommandSpec = {
    usage: `usage: npm run up [-- <stack> [--verbose] [--confirm] [pulumi up options]]
  Starts the sandboxes (local stack only), then pulumi up --refresh of <stack> (default local),
  prints what it manages and keyfleet's plan of what it did: one line per key created, updated,
  rotated, replaced or deleted, and why, then the counts. The local stack applies at once; any other
  stack shows its plan and asks first, unless --yes (needed where there is no terminal); --confirm
  asks for local too, and what is applied is held to the plan confirmed (pulumi up --plan). --verbose
  also shows the engine's own output. Other options after the stack go to pulumi up.`,
};

export const preview: CommandSpec = {
    usage: `usage: npm run preview [-- <stack> [--verbose] [pulumi preview options]]
  keyfleet's plan of <stack> (default local) after a refresh: one line per key that would change
  (create, update with its fields, rotate with its reason and overlap, replace and why, delete and
  what the vendor keeps), then the counts. Changes nothing. --verbose also shows the engine's output.`,
};

export const destroy: CommandSpec = {
    usage: `usage: npm run destroy [-- <stack> [--verbose] [pulumi destroy options]]
  Deletes every key of <stack> (default local) and says, per key, what its vendor keeps. Any stack
  but local shows the plan and asks first, unless --yes (needed where there is no terminal).`,
};

export const test: CommandSpec = {
    usage: `usage: npm test [-- <test files or vitest options>]
  Sets up everything (Node 24, npm packages, the Pulumi CLI, MySQL/MariaDB, PostgreSQL, Chromium)
  and runs the suite with vitest; a plain 'tests: N passed, N failed, N skipped' line closes it.`,
};

export const pulumi: CommandSpec = {
    usage: `usage: npm run pulumi -- <pulumi arguments>
  The Pulumi CLI with keyfleet's environment (PULUMI_HOME, backend, the local stack's public
  passphrase when the command acts on the local stack and it uses one). Verbose engine logging needs
  --unsafe-verbose. The CLI's own help: npm run pulumi -- help [command], or <command> --help.`,
};

export const tsc: CommandSpec = { usage: "usage: npm run typecheck [-- <tsc options>]" };

export const node: CommandSpec = {
    usage: `usage: bash scripts/keyfleet.sh node <script> [arguments]
  Node 24 with keyfleet's environment and toolchain; \`node <script> --help\` is the script's own help.`,
};

export const commands = { toolchain, up, preview, destroy, test, sandbox, bench, report, fleet, validate, secrets, pulumi, node, tsc } as const;
export type CommandName = keyof typeof commands;

export const USAGE = `usage: bash scripts/keyfleet.sh <command> [arguments]   (or npm run <command>)
keyfleet's single entry point: it provides Node 24, the npm packages and the Pulumi toolchain (built
from Go modules, never downloaded as a binary) in the git-ignored .keyfleet/ folder, then runs the
command with that toolchain first on PATH. <command> --help says more about each.

  keyfleet.sh toolchain          set up only, print versions
  keyfleet.sh up [stack]         sandbox (local stack) + \`pulumi up\` of the stack (default local)
  keyfleet.sh preview [stack]    the plan of \`pulumi preview --refresh\` (no change is made)
  keyfleet.sh destroy [stack]    every key of the stack deleted (what each vendor keeps is said)
                                 up, preview, destroy print keyfleet's plan (ops/plan.ts) instead of
                                 the engine's display; --verbose shows the engine's too
  keyfleet.sh test [args]        the test suite (vitest)
  keyfleet.sh sandbox            all vendor sandboxes in the foreground
  keyfleet.sh bench [args]       the benchmark
  keyfleet.sh report [args]      the inventory report (ops/report.ts)
  keyfleet.sh fleet [args]       preview|up|drift of many stacks at once (ops/fleet.ts)
  keyfleet.sh validate [env|file…]  offline check of environments' YAML and stack settings
                                 (Node and npm packages only: no Pulumi CLI, sandbox or database)
  keyfleet.sh secrets [--require] <stack>  what the stack's own secrets provider needs, as shell
                                 lines to eval (scripts/stack-secrets.ts; gitops.sh uses it)
  keyfleet.sh pulumi [args]      the Pulumi CLI with keyfleet's environment
  keyfleet.sh node|tsc [args]    Node 24 / the type checker with keyfleet's environment`;
