// The toolchain every command but --help needs, made once in the git-ignored .keyfleet/ folder and
// reused: the npm packages, the Pulumi CLI (built from Go modules, never downloaded as a binary),
// the plugin launchers and keyfleet's Pulumi environment. Node 24 itself comes from
// scripts/keyfleet.sh, before any TypeScript runs. Node built-ins only: npm ci runs from here.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { BIN, die, KF, output, ROOT, run, say, which } from "./proc.ts";

/** Whether two folders hold the same files with the same bytes (diff -rq). */
function sameTree(a: string, b: string): boolean {
    try {
        const names = fs.readdirSync(a).sort();
        if (names.join("\0") !== fs.readdirSync(b).sort().join("\0")) return false;
        return names.every((name) => {
            const [x, y] = [path.join(a, name), path.join(b, name)];
            const [sx, sy] = [fs.statSync(x), fs.statSync(y)];
            if (sx.isDirectory() || sy.isDirectory()) return sx.isDirectory() && sy.isDirectory() && sameTree(x, y);
            return fs.readFileSync(x).equals(fs.readFileSync(y));
        });
    } catch {
        return false;
    }
}

const mtime = (file: string) => fs.statSync(file).mtimeMs;

export async function ensureNpmPackages(): Promise<void> {
    const stamp = path.join(ROOT, "node_modules", ".package-lock.json");
    // providers/shim is installed as a copy (see its index.js), so a change there needs a reinstall too.
    const stale =
        !fs.existsSync(stamp) ||
        mtime(path.join(ROOT, "package-lock.json")) > mtime(stamp) ||
        mtime(path.join(ROOT, "package.json")) > mtime(stamp) ||
        !sameTree(path.join(ROOT, "providers", "shim"), path.join(ROOT, "node_modules", "@keyfleet", "provider-shim"));
    if (!stale) return;
    say("installing npm packages (npm ci)");
    const status = await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: ROOT, stdio: ["inherit", 2, 2] });
    if (status !== 0) die(`npm ci failed (exit ${status}; see above)`);
}

// One source for the Pulumi release: the @pulumi/pulumi pin. tools/go.mod must require the same
// release (a test checks it), because the CLI and the SDK speak one protocol version.
const PULUMI_VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];

/** a >= b, dotted numbers (sort -V). */
function versionAtLeast(a: string, b: string): boolean {
    const [x, y] = [a, b].map((v) => v.split(".").map(Number));
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
    return true;
}

// The CLI's installer downloads a binary, which cannot work here; so unless a recent enough
// `pulumi` is already on PATH, build the release that matches the SDK from the Go module proxy.
async function ensurePulumiCli(): Promise<void> {
    fs.mkdirSync(BIN, { recursive: true });
    const have = which("pulumi");
    if (!process.env.KEYFLEET_BUILD_PULUMI && have && have !== path.join(BIN, "pulumi")) {
        const v = (await output("pulumi", ["version"])).stdout.replace(/^v/, "");
        if (v && versionAtLeast(v.split("-")[0], PULUMI_VERSION)) {
            say(`using the Pulumi CLI on PATH (${have}, v${v})`);
            return;
        }
    }
    const built = path.join(BIN, "pulumi");
    const stamp = path.join(BIN, ".pulumi-version");
    if (fs.existsSync(built) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8").trim() === PULUMI_VERSION) return;
    if (!which("go")) die(`no pulumi >= ${PULUMI_VERSION} on PATH and no Go to build it with`);
    say(`building the Pulumi CLI v${PULUMI_VERSION} from Go modules (the first build takes several minutes)`);
    const started = Date.now();
    const tmp = `${built}.tmp`;
    fs.rmSync(tmp, { force: true });
    const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}`;
    const go = spawn("go", ["build", "-v", "-trimpath", "-o", tmp, "-ldflags", ldflags, "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"], {
        cwd: path.join(ROOT, "tools"),
        stdio: ["ignore", "pipe", "pipe"],
    });
    // go build -v names every package: progress every so often, and the lines that say what failed.
    let downloads = 0;
    let compiled = 0;
    const progress = (line: string) => {
        if (/^go: downloading/.test(line)) {
            if (++downloads % 50 === 1) say(`  downloading modules (${downloads})…`);
            return;
        }
        if (++compiled % 100 === 0) say(`  compiled ${compiled} packages…`);
        if (/\.go:[0-9]+:|^# |^go: /.test(line)) process.stderr.write(`${line}\n`);
    };
    for (const stream of [go.stdout, go.stderr]) readline.createInterface({ input: stream }).on("line", progress);
    await new Promise((resolve) => go.on("close", resolve).on("error", resolve));
    if (!fs.existsSync(tmp)) die("building the Pulumi CLI failed (see the errors above)");
    fs.renameSync(tmp, built);
    fs.writeFileSync(stamp, `${PULUMI_VERSION}\n`);
    say(`built the Pulumi CLI in ${Math.round((Date.now() - started) / 1000)}s`);
}

// Written to a temporary file of this process's own and moved, so a run that starts meanwhile never
// sees half a script, and two runs at once (parallel tests, two npm commands) never rename each
// other's file away; a launcher that already says this is left alone. Each launcher names the engine
// that started it (KEYFLEET_ENGINE_PID, the shell's parent), so a plugin still starting when its
// engine was killed ends too (toolchain/engine-watch.ts).
function writeLauncher(name: string, script: string, comment = ""): void {
    const file = path.join(BIN, name);
    const text = `#!/bin/sh\n${comment}KEYFLEET_ENGINE_PID=$PPID exec node "${path.join(ROOT, script)}" "$@"\n`;
    if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text && (fs.statSync(file).mode & 0o111) !== 0) return;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o755 });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, file);
}

// The plugin of @pulumi/command (key deliveries). A real `pulumi-resource-command` wins: installed
// with `pulumi plugin install` (PULUMI_HOME) or on PATH outside .keyfleet/bin, keyfleet uses it
// unchanged. Otherwise the stand-in toolchain/command-provider.ts serves command:local:Command,
// because the Go module proxy refuses github.com/pulumi/pulumi-command/provider at every version.
// The engine looks for `pulumi-resource-command` on PATH before its plugin folder (unless
// PULUMI_IGNORE_AMBIENT_PLUGINS is set), which is why the launcher must go when a real one exists.
async function realCommandPlugin(): Promise<string | undefined> {
    const ours = path.join(BIN, "pulumi-resource-command");
    const other = which("pulumi-resource-command", (process.env.PATH ?? "").split(`${BIN}:`).join(""));
    if (other && other !== ours) return other;
    const listed = await output("pulumi", ["plugin", "ls", "--json"]);
    try {
        const list = (JSON.parse(listed.stdout || "[]") ?? []) as { name: string; kind: string }[];
        if (list.some((p) => p.name === "command" && p.kind === "resource")) return "installed plugin command (pulumi plugin ls)";
    } catch {
        // No list: no plugin.
    }
    return undefined;
}

async function ensureCommandPlugin(): Promise<void> {
    const real = await realCommandPlugin();
    if (real) {
        fs.rmSync(path.join(BIN, "pulumi-resource-command"), { force: true });
        process.env.KEYFLEET_COMMAND_PLUGIN = `real: ${real}`;
    } else {
        writeLauncher("pulumi-resource-command", "toolchain/command-provider.ts", "# keyfleet's stand-in for pulumi-resource-command (see toolchain/command-provider.ts).\n");
        process.env.KEYFLEET_COMMAND_PLUGIN = "stand-in: toolchain/command-provider.ts (no pulumi-resource-command installed)";
    }
}

async function ensurePulumi(): Promise<void> {
    await ensurePulumiCli();
    // The Node.js language host. The Go module that holds Pulumi's own host
    // (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) is refused by the module
    // proxy here at every version, so keyfleet ships one built on @pulumi/pulumi's LanguageServer
    // (toolchain/language-host.ts). It also runs the key-hygiene policy pack (--policy-pack policy):
    // the CLI hands a nodejs pack to the language host's RunPlugin, so no pulumi-analyzer-policy
    // plugin is needed. A Pulumi on PATH keeps the host it was installed with.
    writeLauncher("pulumi-language-nodejs", "toolchain/language-host.ts");
    // The dynamic-provider plugin: @pulumi/pulumi's server plus the detailed diff it leaves out, so a
    // plan names the fields that differ, drift included (toolchain/dynamic-provider.ts says why).
    writeLauncher("pulumi-resource-pulumi-nodejs", "toolchain/dynamic-provider.ts");
    process.env.PATH = `${BIN}:${process.env.PATH}`;
    await ensureCommandPlugin();
}

export function setupEnv(): void {
    const env = process.env;
    env.PULUMI_HOME ||= path.join(KF, "home");
    // Default backend: a project-local folder. A team sets PULUMI_BACKEND_URL (postgres://…, s3://…).
    if (!env.PULUMI_BACKEND_URL) {
        fs.mkdirSync(path.join(KF, "state"), { recursive: true });
        env.PULUMI_BACKEND_URL = `file://${path.join(KF, "state")}`;
    }
    env.PULUMI_SKIP_UPDATE_CHECK = "true";
    env.PULUMI_SKIP_CONFIRMATIONS = "true";
    // --tracing records gRPC payloads (stack config, key values) unless told not to.
    env.PULUMI_TRACING_NO_PAYLOADS = "1";
    env.PULUMI_DIY_BACKEND_NO_LEGACY_WARNING = "true";
    env.KEYFLEET_ROOT = ROOT;
    fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
}

export async function toolchain(): Promise<void> {
    await ensureNpmPackages();
    await ensurePulumi();
    setupEnv();
}
