// The services outside keyfleet that some commands need, started only for those: MySQL/MariaDB
// (scripts/mariadb.sh), Chromium for the HTML report test, and the vendors' sandboxes, which
// sandbox/index.ts lists with what each needs (asked through sandbox/local-stack-env.ts), so that only the sandboxes a run reaches are
// started, and MySQL only when one of them (or the command itself) needs it.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { die, KF, onExit, output, ROOT, run, say, which } from "./proc.ts";

let mysqlReady = false;

/**
 * A MySQL/MariaDB for the vendors whose keys live in a database table (the tests' databases, the
 * local stack's): the configured server when it answers, else a project-local one
 * (scripts/mariadb.sh). Exports KEYFLEET_MYSQL_HOST, _PORT, _USER and _PASSWORD for what follows.
 * `quiet`: a server that merely answers needs no line of its own (ensureSandbox says when it starts one).
 */
export async function ensureMysql(options: { quiet?: boolean } = {}): Promise<void> {
    // Sourced (its $0 is not the script, so it does not run as a command of its own) for its function.
    const script = 'source "$1" && keyfleet_mariadb_ensure && printf "%s\\0" "$KEYFLEET_MYSQL_HOST" "$KEYFLEET_MYSQL_PORT" "$KEYFLEET_MYSQL_USER" "$KEYFLEET_MYSQL_PASSWORD"';
    const r = await new Promise<{ status: number; stdout: string }>((resolve) => {
        const child = spawn("bash", ["-c", script, "keyfleet", path.join(ROOT, "scripts", "mariadb.sh")], { stdio: ["ignore", "pipe", options.quiet ? "pipe" : "inherit"] });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr?.on("data", (d) => (stderr += d));
        child.on("close", (code) => {
            process.stderr.write(stderr.split("\n").filter((l) => !l.includes("answers (user")).join("\n"));
            resolve({ status: code ?? 1, stdout });
        });
    });
    if (r.status !== 0) die("no MySQL/MariaDB server (see above)");
    const [host, port, user, password] = r.stdout.split("\0");
    Object.assign(process.env, { KEYFLEET_MYSQL_HOST: host, KEYFLEET_MYSQL_PORT: port, KEYFLEET_MYSQL_USER: user, KEYFLEET_MYSQL_PASSWORD: password });
    mysqlReady = true;
}

// Debian's chromium, for the report test (it renders the HTML report headless). No browser can be
// downloaded here, so it comes from apt: installed when running as root and absent; otherwise the
// test that needs it says how to get it.
export async function ensureChromium(): Promise<void> {
    if (which("chromium") || which("chromium-browser")) return;
    if (process.getuid?.() === 0 && which("apt-get")) {
        say("installing Debian's chromium (apt-get) for the HTML report test");
        const toStderr = { stdio: ["inherit", 2, 2] as ("inherit" | number)[] };
        const install = () => run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], toStderr);
        if ((await install()) !== 0 && ((await run("apt-get", ["update"], toStderr)) !== 0 || (await install()) !== 0)) {
            say("warning: chromium did not install; the HTML report test will be skipped");
        }
    } else {
        say("warning: no chromium (apt-get install chromium as root); the HTML report test will be skipped");
    }
}

const portOpen = (port: number) =>
    new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });

export interface SandboxInfo {
    section: string;
    port: number;
    portEnv: string;
    title: string;
    needs: readonly "mysql"[];
}

/**
 * What the sandboxes say of themselves and the local stack's settings that point at them
 * (sandbox/local-stack-env.ts --json), asked of a child process under `env`: the CLI, which
 * validate and the pipelines run too, never imports sandbox/.
 */
export function sandboxDescription(env: NodeJS.ProcessEnv = process.env): { env: Record<string, string>; sandboxes: SandboxInfo[] } {
    const out = execFileSync(process.execPath, [path.join(ROOT, "sandbox", "local-stack-env.ts"), "--json"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    return JSON.parse(out) as { env: Record<string, string>; sandboxes: SandboxInfo[] };
}

let described: SandboxInfo[] | undefined;
const sandboxList = async () => (described ??= sandboxDescription().sandboxes);
const portOf = (sb: { port: number; portEnv: string }) => Number(process.env[sb.portEnv] ?? sb.port);

/** Whether any of these sandboxes (by YAML section; all when undefined) needs MySQL. */
export async function sandboxesNeedMysql(sections?: readonly string[]): Promise<boolean> {
    return (await sandboxList()).some((sb) => (!sections || sections.includes(sb.section)) && sb.needs.includes("mysql"));
}

export const sandboxData = () => process.env.KEYFLEET_SANDBOX_DATA ?? path.join(KF, "sandbox-data.json");

/**
 * The local stack points at the sandboxes; start those not listening yet (with their records kept
 * on disk, so that the vendor side survives between runs just as a real one would), after what
 * they need. They stop when the CLI ends, their ports free for whoever asks next.
 */
export async function ensureSandbox(): Promise<void> {
    const all = await sandboxList();
    const missing = [];
    for (const sb of all) if (!(await portOpen(portOf(sb)))) missing.push(sb);
    if (missing.length === 0) return;
    if (!mysqlReady && missing.some((sb) => sb.needs.includes("mysql"))) await ensureMysql();
    const only = missing.map((sb) => sb.section).join(",");
    // KEYFLEET_SANDBOX_LOG moves the log with the data, so that two runs side by side keep their own.
    const log = process.env.KEYFLEET_SANDBOX_LOG ?? path.join(KF, "sandbox.log");
    const shown = log.startsWith(`${ROOT}/`) ? log.slice(ROOT.length + 1) : log;
    say(`starting the sandbox for ${only} (log: ${shown})`);
    fs.mkdirSync(KF, { recursive: true });
    const logFd = fs.openSync(log, "w");
    const child = spawn("node", [path.join(ROOT, "sandbox", "main.ts"), "--data", sandboxData(), "--only", only], { stdio: ["ignore", logFd, logFd] });
    fs.closeSync(logFd);
    let exited = false;
    const gone = new Promise<void>((resolve) => child.on("close", () => ((exited = true), resolve())));
    onExit(async () => {
        if (exited) return;
        child.kill("SIGTERM");
        // A few seconds at most for open connections to close.
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await gone;
        clearTimeout(timer);
    });
    // Up to a minute: on a loaded machine Node alone takes seconds to start the sandboxes.
    for (const until = Date.now() + 60_000; Date.now() < until && !exited; ) {
        if ((await Promise.all(all.map((sb) => portOpen(portOf(sb))))).every(Boolean)) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    die(`the sandbox did not start; see ${shown}`);
}

/**
 * The local stack's endpoints (sandbox/local-stack-env.ts): stacks/Pulumi.local.yaml holds none of
 * them, so moving a port (KEYFLEET_SANDBOX_*_PORT) or the database
 * (KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE) moves the sandbox and the stack together.
 */
export async function localStackEnv(): Promise<void> {
    Object.assign(process.env, sandboxDescription().env);
}

/** The selected stack, as the Pulumi CLI says it ("" when none is). */
export const selectedStack = async () => (await output("pulumi", ["stack", "--show-name"], { cwd: ROOT })).stdout;
