// What every step of the CLI (scripts/keyfleet.ts) shares: its `[keyfleet]` lines, failing with a
// message instead of a stack trace, running a program as bash's `exec` or a foreground command
// would, and the cleanup that runs however the CLI ends (a sandbox it started, an engine run's
// temporary files). Node built-ins only: it runs before the npm packages are installed.
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { constants } from "node:os";

export const ROOT = process.env.KEYFLEET_ROOT ?? path.resolve(import.meta.dirname, "..");
export const KF = path.join(ROOT, ".keyfleet");
export const BIN = path.join(KF, "bin");

export const say = (text: string) => process.stderr.write(`[keyfleet] ${text}\n`);

/** Ends the CLI with `code`: thrown, so that cleanups run on the way out. */
export class Exit extends Error {
    readonly code: number;
    constructor(code: number, message = "") {
        super(message);
        this.code = code;
    }
}

export function die(message: string): never {
    throw new Exit(1, message);
}

const cleanups: (() => Promise<void> | void)[] = [];
/** Runs when the CLI ends, last registered first, whichever way it ends (error, signal). */
export function onExit(fn: () => Promise<void> | void): void {
    cleanups.push(fn);
}

async function cleanup(): Promise<void> {
    for (const fn of cleanups.splice(0).reverse()) {
        try {
            await fn();
        } catch {
            // One cleanup failing must not keep the others from running.
        }
    }
}

// The program in the foreground, if any. A terminal's Ctrl-C reaches it with the whole process
// group, so the CLI waits for it and ends after it (as bash's traps do); a TERM or HUP sent to the
// CLI alone (a CI runner's cancel, a test's timeout) is passed on, as it would reach an exec'd program.
let foreground: ChildProcess | undefined;
let signalled: number | undefined;
// An exec'd program's status is the CLI's, a signal's included: the program handled it (a sandbox
// closes and exits 0 on TERM).
let execed = false;

export function handleSignals(): void {
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
        process.on(signal, () => {
            signalled ??= code;
            if (foreground) {
                if (signal !== "SIGINT") foreground.kill(signal);
                return;
            }
            void finish(code);
        });
    }
}

/** Runs a program to its end; its exit status (128 + the signal number when a signal ended it). */
/** `attach` sees the child first (to read the pipes it was given). */
export function run(command: string, args: readonly string[], options: SpawnOptions & { stdio?: StdioOptions } = {}, attach?: (child: ChildProcess) => void): Promise<number> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: "inherit", ...options });
        foreground = child;
        attach?.(child);
        child.on("error", (err) => {
            foreground = undefined;
            reject(new Exit(127, `could not run ${command}: ${err.message}`));
        });
        child.on("close", (code, signal) => {
            foreground = undefined;
            if (signalled !== undefined && !execed) reject(new Exit(signalled));
            else resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
        });
    });
}

/** As bash's `exec`: the program's status is the CLI's. */
export async function exec(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<never> {
    execed = true;
    throw new Exit(await run(command, args, options));
}

/** A program's status and output, stdout as bash's $(…) gives it (trailing newlines dropped). */
export function output(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        child.on("error", () => resolve({ status: 127, stdout: "", stderr: "" }));
        child.on("close", (code) => resolve({ status: code ?? 1, stdout: stdout.replace(/\n+$/, ""), stderr }));
    });
}

/** The first executable `name` on PATH (or on `searchPath`), as `command -v` finds it. */
export function which(name: string, searchPath = process.env.PATH ?? ""): string | undefined {
    for (const dir of searchPath.split(":")) {
        const file = path.join(dir || ".", name);
        try {
            fs.accessSync(file, fs.constants.X_OK);
            if (fs.statSync(file).isFile()) return file;
        } catch {
            // not here
        }
    }
    return undefined;
}

/** A new empty file of the CLI's in .keyfleet (mode 0600), as mktemp makes it. */
export function tempFile(prefix: string): string {
    fs.mkdirSync(KF, { recursive: true });
    for (;;) {
        const file = path.join(KF, `${prefix}.${Math.random().toString(36).slice(2, 8)}`);
        try {
            fs.closeSync(fs.openSync(file, "wx", 0o600));
            return file;
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
    }
}

export async function finish(code: number): Promise<never> {
    await cleanup();
    process.exit(code);
}

/** The CLI's main loop: a command's failure is its message and exit status, never a stack trace. */
export async function main(command: () => Promise<number | void>): Promise<never> {
    handleSignals();
    let code = 0;
    try {
        code = (await command()) ?? 0;
    } catch (err) {
        if (err instanceof Exit) {
            if (err.message) say(`error: ${err.message}`);
            code = err.code;
        } else {
            say(`error: ${(err as Error).message}`);
            code = 1;
        }
    }
    return finish(execed ? code : (signalled ?? code));
}
