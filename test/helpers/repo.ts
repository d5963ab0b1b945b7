// A scratch copy of the repository's layout for tests of the scripts (gitops.sh, bootstrap):
// they write config/<env>.yaml, stacks/Pulumi.<env>.yaml and .keyfleet/state, which must never
// land in the checkout. Code folders are links to the checkout (scripts/keyfleet.sh takes the
// folder it was called through as the root, so the scratch folder is the root); the program is
// copied, because it finds config/<stack>.yaml next to its own file.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./stack.ts";

export interface ScratchRepo {
    dir: string;
    write(file: string, text: string): void;
    read(file: string): string;
    exists(file: string): boolean;
    /** Runs a command in the scratch folder, without blocking this process (its sandboxes must answer). */
    run(command: string, args: string[], opts?: { env?: Record<string, string | undefined>; input?: string }): Promise<Run>;
    cleanup(): void;
}

export interface Run {
    status: number;
    stdout: string;
    stderr: string;
}

const LINKED = ["node_modules", "api", "providers", "ops", "toolchain", "sandbox", "tools", "scripts", "package.json", "package-lock.json", ".node-version"];

export function scratchRepo(): ScratchRepo {
    // scripts/keyfleet.sh reinstalls npm packages when package.json is newer than node_modules; through
    // the link that would empty the checkout's node_modules mid-test. `npm test` installs first.
    const stamp = path.join(ROOT, "node_modules", ".package-lock.json");
    for (const f of ["package.json", "package-lock.json"]) {
        if (!fs.existsSync(stamp) || fs.statSync(path.join(ROOT, f)).mtimeMs > fs.statSync(stamp).mtimeMs) {
            throw new Error(`${f} is newer than node_modules: run \`npm ci\` (or npm test) in the checkout first`);
        }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-repo-"));
    for (const f of LINKED) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    fs.mkdirSync(path.join(dir, "stacks"));
    for (const f of ["index.ts", "summary.ts"]) fs.copyFileSync(path.join(ROOT, "stacks", f), path.join(dir, "stacks", f));
    fs.mkdirSync(path.join(dir, "config"));
    for (const f of fs.readdirSync(path.join(ROOT, "config"))) {
        if (f.endsWith(".ts") || f === "schema.json" || f === "templates") fs.symlinkSync(path.join(ROOT, "config", f), path.join(dir, "config", f));
    }
    const env = {
        ...process.env,
        PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"),
        // The scratch folder's own file backend, whatever the caller's shell exported.
        PULUMI_BACKEND_URL: undefined,
        PULUMI_CONFIG_PASSPHRASE: undefined,
        KEYFLEET_ROOT: undefined,
    };
    return {
        dir,
        write: (file, text) => {
            fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
            fs.writeFileSync(path.join(dir, file), text);
        },
        read: (file) => fs.readFileSync(path.join(dir, file), "utf8"),
        exists: (file) => fs.existsSync(path.join(dir, file)),
        run: (command, args, opts = {}) =>
            new Promise((resolve, reject) => {
                const merged: Record<string, string | undefined> = { ...env, ...opts.env };
                for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
                const child = spawn(command, args, { cwd: dir, env: merged as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"] });
                let stdout = "";
                let stderr = "";
                child.stdout.on("data", (d) => (stdout += d));
                child.stderr.on("data", (d) => (stderr += d));
                child.on("error", reject);
                child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
                // A command that exits before reading its stdin (a usage error, say) closes the pipe: not a test failure.
                child.stdin.on("error", () => undefined);
                child.stdin.end(opts.input ?? "");
            }),
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}
