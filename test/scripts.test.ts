// scripts/keyfleet.sh gives the local stack's public passphrase only to commands on the local stack
// (defect 14): which stack a command acts on is read from its arguments as the CLI would.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { policyArgs, pulumiSubcommand, stackOf as namedStack } from "../scripts/engine.ts";

// A command that names no stack acts on the selected one.
const stackOf = (...args: string[]) => namedStack(args) ?? "selected-stack";

describe("stack_of", () => {
    it("reads --stack, -s and positional stack commands, qualified names included", () => {
        expect(stackOf("preview", "--stack", "local")).toBe("local");
        expect(stackOf("preview", "--stack=prod")).toBe("prod");
        expect(stackOf("up", "-s", "organization/keyfleet/local")).toBe("local");
        expect(stackOf("up", "-slocal")).toBe("local");
        expect(stackOf("stack", "select", "local")).toBe("local");
        expect(stackOf("stack", "init", "staging")).toBe("staging");
        // Review 19: the positional of change-secrets-provider is the provider URL, not the stack
        // (npm run pulumi now gives the stack it acts on that stack's own passphrase).
        expect(stackOf("stack", "change-secrets-provider", "hashivault://keyfleet-pp", "--stack", "pp")).toBe("pp");
        expect(stackOf("stack", "change-secrets-provider", "awskms://alias/x?region=eu-west-1")).toBe("selected-stack");
    });

    it("does not take an argument that merely equals `local` for the stack", () => {
        expect(stackOf("config", "set", "region", "local", "--stack", "prod")).toBe("prod");
        expect(stackOf("config", "get", "local")).toBe("selected-stack");
    });
});

// Issue 17, defect 8: the engine's verbose logs carry every credential in plain text.
describe("verbose engine logging", () => {
    const run = (...args: string[]) => {
        try {
            return { status: 0, out: execFileSync("bash", ["scripts/keyfleet.sh", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
        } catch (err) {
            const e = err as { status: number; stderr: string; stdout: string };
            return { status: e.status, out: `${e.stdout}${e.stderr}` };
        }
    };

    it("is refused for pulumi and up unless --unsafe-verbose, before anything runs", () => {
        for (const args of [["pulumi", "preview", "--stack", "prod", "-v=9"], ["pulumi", "up", "--logtostderr"], ["up", "prod", "--debug"], ["pulumi", "preview", "-v", "3"], ["pulumi", "up", "-d"], ["pulumi", "up", "-yv9"], ["pulumi", "preview", "--tracing", "file:/tmp/t.json"]]) {
            const r = run(...args);
            expect(r.status, args.join(" ")).toBe(1);
            expect(r.out).toMatch(/refusing (-v=9|--logtostderr|--debug|-v|-d|-yv9|--tracing): the engine's verbose logs carry every credential and key value in plain text/);
            expect(r.out).toContain("--unsafe-verbose");
            expect(r.out).not.toMatch(/Previewing|Updating/);
        }
    });

    it("runs with --unsafe-verbose, which is not passed on to the CLI", () => {
        const r = run("pulumi", "version", "--unsafe-verbose", "-v=1");
        expect(r.status).toBe(0);
        expect(r.out).toMatch(/v3\.\d+\.\d+/);
    });
});

// Issue 18, finding 9: every command answers --help with its usage and exit 0, with no side effect.
describe("--help", () => {
    const env = (ports: number[]) => ({
        ...process.env,
        KEYFLEET_SANDBOX_GENESYS_PORT: String(ports[0]),
        KEYFLEET_SANDBOX_BEYONDTRUST_PORT: String(ports[1]),
        KEYFLEET_SANDBOX_SUPPORTCENTER_PORT: String(ports[2]),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT: String(ports[3]),
    });
    const listening = (port: number) =>
        new Promise<boolean>((resolve) => {
            const socket = net.connect(port, "127.0.0.1");
            socket.once("connect", () => (socket.destroy(), resolve(true)));
            socket.once("error", () => resolve(false));
        });
    const run = (args: string[], e: NodeJS.ProcessEnv) => {
        try {
            return { status: 0, stdout: execFileSync("bash", ["scripts/keyfleet.sh", ...args], { encoding: "utf8", env: e, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }), stderr: "" };
        } catch (err) {
            const x = err as { status: number; stdout: string; stderr: string };
            return { status: x.status, stdout: x.stdout, stderr: x.stderr };
        }
    };

    it("prints the usage and exits 0 for every command, starting no sandbox", async () => {
        const ports = [0, 1, 2, 3].map(() => 20000 + Math.floor(Math.random() * 20000));
        const e = env(ports);
        for (const args of [["--help"], ["up", "--help"], ["up", "prod", "-h"], ["preview", "--help"], ["destroy", "prod", "--help"], ["test", "--help"], ["toolchain", "--help"], ["report", "--live", "--stack", "local", "--help"], ["fleet", "up", "--help"], ["sandbox", "--help"], ["bench", "--help"], ["node", "scripts/bootstrap.ts", "--help"], ["node", "scripts/build-package.ts", "--help"], ["node", "test/chaos.ts", "--help"]]) {
            const r = run(args, e);
            expect(r.status, args.join(" ")).toBe(0);
            expect(r.stdout, args.join(" ")).toMatch(/usage|keyfleet\.sh toolchain/);
            expect(r.stderr, args.join(" ")).not.toMatch(/at .*\.ts:\d+|TypeError|starting the sandbox|stack '--help'/);
        }
        for (const port of ports) expect(await listening(port)).toBe(false);
        // npm run package -- --help took --help for its destination folder and packed into it.
        expect(fs.existsSync(path.join(process.cwd(), "--help"))).toBe(false);
        // The GitOps script and its summary answer too.
        for (const args of [["scripts/gitops.sh", "--help"], ["-c", "bash scripts/keyfleet.sh node scripts/gitops-summary.ts --help"]]) {
            const out = execFileSync("bash", args, { encoding: "utf8", env: e, stdio: ["ignore", "pipe", "pipe"] });
            expect(out, args.join(" ")).toMatch(/gitops|usage/i);
        }
    }, 180_000);

    it("an unknown option is a usage error (exit 2, fleet 64), not a stack trace", () => {
        for (const [args, code] of [[["report", "--bogus"], 2], [["fleet", "up", "--bogus"], 64], [["sandbox", "--bogus"], 2], [["node", "scripts/bootstrap.ts", "--bogus"], 2]] as const) {
            const r = run([...args], process.env);
            // fleet keeps 64 (EX_USAGE): its 2 means "drift found".
            expect(r.status, args.join(" ")).toBe(code);
            expect(r.stderr).toMatch(/Unknown option '--bogus'\nusage: npm run/);
            expect(r.stderr).not.toMatch(/\n\s+at /);
        }
    });
});

// Issue 18, finding 2: `npm run up -- prod` applied at once.
describe("up of a stack other than local", () => {
    it("asks first; with no terminal it refuses without --yes, before anything runs", () => {
        let r: { status: number; stderr: string };
        try {
            execFileSync("bash", ["scripts/keyfleet.sh", "up", "prod"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "x" } });
            r = { status: 0, stderr: "" };
        } catch (err) {
            r = err as { status: number; stderr: string };
        }
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("up of stack prod asks for confirmation and there is no terminal to ask on");
        expect(r.stderr).toContain("run again with --yes");
        expect(r.stderr).not.toMatch(/Previewing|Updating|MySQL|sandbox/);
    });
});

describe("up of a stack other than local, on a terminal", () => {
    it("shows the plan and asks, instead of applying at once (PULUMI_SKIP_CONFIRMATIONS is not passed on)", async () => {
        const stack = `prompt${process.pid}`;
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-prompt-"));
        const keys = path.join(tmp, "keys.yaml");
        fs.writeFileSync(keys, "{}\n");
        const stackFile = path.join("stacks", `Pulumi.${stack}.yaml`);
        const env = { ...process.env, PULUMI_BACKEND_URL: `file://${tmp}`, PULUMI_CONFIG_PASSPHRASE: "prompt-test" };
        try {
            fs.writeFileSync(stackFile, `config:\n  keyfleet:keysFile: ${keys}\n`);
            // A pseudo-terminal for stdin and stdout (script); stopped as soon as the question shows.
            const out = await new Promise<string>((resolve) => {
                const child = spawn("script", ["-qec", `bash scripts/keyfleet.sh up ${stack}`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
                let text = "";
                const stop = () => {
                    try {
                        process.kill(-child.pid!, "SIGKILL");
                    } catch {
                        // gone
                    }
                };
                const timer = setTimeout(stop, 90_000);
                child.stdout.on("data", (d: Buffer) => {
                    text += d.toString();
                    if (/Do you want to perform this update\?/.test(text)) stop();
                });
                child.on("close", () => (clearTimeout(timer), resolve(text)));
            });
            expect(out).toMatch(/Do you want to perform this update\?/);
            // The plan it asks about is keyfleet's (ops/plan.ts), before the question.
            expect(out.indexOf(`keyfleet: plan of stack ${stack} (preview, nothing applied):`)).toBeGreaterThan(-1);
            expect(out.indexOf(`keyfleet: plan of stack ${stack}`)).toBeLessThan(out.indexOf("Do you want to perform this update?"));
            expect(out).not.toMatch(/Resources:\s*\n\s*\+ \d+ created/);
        } finally {
            fs.rmSync(stackFile, { force: true });
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 120_000);
});

// Issue 19: keyfleet.sh's preview and up run the key-hygiene policy pack for every environment that
// has a policy/config/<env>.json, with that file.
describe("policy pack wiring", () => {
    const policy = (stack: string, ...args: string[]) => `${pulumiSubcommand(args) ?? ""}|${policyArgs(process.cwd(), stack, args).join(" ")}`;

    it("adds the pack and the environment's config for an environment that has one, and only then", () => {
        const root = process.cwd();
        expect(policy("prod", "preview", "--stack", "prod")).toBe(`preview|--policy-pack ${root}/policy --policy-pack-config ${root}/policy/config/prod.json`);
        expect(policy("no-such-env", "preview")).toBe("preview|");
        // A pack the command names itself is left alone.
        expect(policy("prod", "up", "--policy-pack", "other")).toBe("up|");
        // The subcommand is not an option's value.
        expect(policy("prod", "-s", "prod", "preview")).toMatch(/^preview\|/);
    });

    // Review 19: `npm run up -- organization/keyfleet/prod` looked for policy/config/organization/keyfleet/prod.json,
    // found none and ran prod's up with no policy at all; `pulumi --color never up` took "never" for
    // the subcommand and added no pack either. Both failed open.
    it("finds the environment of a qualified stack name, and the subcommand after a global option's value", async () => {
        const root = process.cwd();
        const pack = `--policy-pack ${root}/policy --policy-pack-config ${root}/policy/config/prod.json`;
        expect(policy("organization/keyfleet/prod", "up")).toBe(`up|${pack}`);
        expect(policy("prod", "--color", "never", "up", "--stack", "prod")).toBe(`up|${pack}`);
        expect(policy("prod", "--profiling", "p", "preview")).toBe(`preview|${pack}`);
        // npm run fleet -- up --stacks organization/keyfleet/prod
        const { policyOptions } = await import("../ops/fleet.ts");
        expect(policyOptions(root, "organization/keyfleet/prod").policyPackConfigs).toEqual([path.join(root, "policy", "config", "prod.json")]);
    });

    it("a preview through keyfleet.sh fails on a mandatory rule of the environment's config", () => {
        const env = `policy${process.pid}`;
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-policy-wiring-"));
        const keys = path.join(tmp, "keys.yaml");
        fs.writeFileSync(keys, "beyondtrust:\n  sessionKeys:\n    - name: desk\n      queue: general\n      ttl: 604800\n");
        const stackFile = path.join("stacks", `Pulumi.${env}.yaml`);
        const configFile = path.join("policy", "config", `${env}.json`);
        // Nothing answers on the appliance's address: a preview of a new session key needs no vendor.
        const settings = JSON.stringify({ url: "http://127.0.0.1:9", clientId: "wiring" });
        const run = () => {
            try {
                return { status: 0, out: execFileSync("bash", ["scripts/keyfleet.sh", "pulumi", "preview", "--stack", env, "--color", "never"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PULUMI_BACKEND_URL: `file://${tmp}`, PULUMI_CONFIG_PASSPHRASE: "wiring-test", KEYFLEET_BEYONDTRUST_CLIENT_SECRET: "wiring-secret" } }) };
            } catch (err) {
                const e = err as { status: number; stderr: string; stdout: string };
                return { status: e.status, out: `${e.stdout}${e.stderr}` };
            }
        };
        try {
            fs.writeFileSync(stackFile, `config:\n  keyfleet:keysFile: ${keys}\n  keyfleet:beyondtrust: '${settings}'\n`);
            execFileSync("bash", ["scripts/keyfleet.sh", "pulumi", "stack", "init", env], { stdio: "ignore", env: { ...process.env, PULUMI_BACKEND_URL: `file://${tmp}`, PULUMI_CONFIG_PASSPHRASE: "wiring-test" } });
            const withoutConfig = run();
            expect(withoutConfig.status, withoutConfig.out).toBe(0);
            expect(withoutConfig.out).not.toContain("Policies:");
            fs.writeFileSync(configFile, JSON.stringify({ "key-ttl": { enforcementLevel: "mandatory", maxSeconds: 86400 } }));
            const withConfig = run();
            expect(withConfig.status, withConfig.out).not.toBe(0);
            expect(withConfig.out).toMatch(/\[mandatory\]\s+key-ttl/);
            expect(withConfig.out).toContain('key "beyondtrust/sessionKey/desk" (BeyondTrust Remote Support) has ttl 604800 s, above this environment\'s maximum of 86400 s');
            expect(withConfig.out).not.toContain("wiring-secret");
        } finally {
            fs.rmSync(stackFile, { force: true });
            fs.rmSync(configFile, { force: true });
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 180_000);
});

// Review 19: the workflow runs for changes to policy/, scripts/, ops/, toolchain/ and Pulumi.yaml
// (its path filter), but `gitops.sh changed` looked only at config/, stacks/, providers/ and the lock
// file: a pull request that made a rule mandatory in policy/config/prod.json was never previewed, and
// its merge applied nothing, so the first scheduled up failed on it instead.
describe("gitops.sh <command> --help", () => {
    it("prints the pipeline's usage and exits 0 before anything runs, for every command", () => {
        // From a copy that has only the script: a command that went on would fail (no keyfleet.sh, no git repository).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-gitops-help-"));
        try {
            fs.mkdirSync(path.join(dir, "scripts"));
            fs.copyFileSync(path.join("scripts", "gitops.sh"), path.join(dir, "scripts", "gitops.sh"));
            for (const args of [["changed", "--help"], ["envs", "-h"], ["preview", "prod", "--help"], ["apply", "--help"], ["drift", "prod", "--within", "7d", "--help"]]) {
                const out = execFileSync("bash", [path.join(dir, "scripts", "gitops.sh"), ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, KEYFLEET_GITOPS_OUT: path.join(dir, "out") } });
                expect(out, args.join(" ")).toMatch(/^keyfleet's GitOps pipeline as plain shell/);
                expect(fs.existsSync(path.join(dir, "out")), args.join(" ")).toBe(false);
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("gitops.sh changed", () => {
    it("an environment's policy config changes that environment; the pack, the scripts and the project file every one", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-changed-"));
        const sh = (cmd: string) => execFileSync("bash", ["-c", cmd], { cwd: dir, encoding: "utf8", env: { ...process.env, KEYFLEET_GITOPS_EXCLUDE: "" } }).trim();
        const git = (args: string) => sh(`git -c user.name=t -c user.email=t@example.com ${args}`);
        const write = (file: string, text: string) => {
            fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
            fs.writeFileSync(path.join(dir, file), text);
        };
        try {
            // gitops.sh takes the folder it is called through as the repository.
            fs.mkdirSync(path.join(dir, "scripts"));
            fs.copyFileSync(path.join("scripts", "gitops.sh"), path.join(dir, "scripts", "gitops.sh"));
            for (const env of ["prod", "staging"]) {
                write(`config/${env}.yaml`, "{}\n");
                write(`stacks/Pulumi.${env}.yaml`, "config: {}\n");
                write(`policy/config/${env}.json`, "{}\n");
            }
            write("policy/rules.ts", "// rules\n");
            write("Pulumi.yaml", "name: keyfleet\n");
            write("ops/plan.ts", "// plan\n");
            git("init -q -b main");
            git("add -A");
            git("commit -q -m one");
            const changed = (file: string, text: string) => {
                write(file, text);
                git("add -A");
                git(`commit -q -m ${JSON.stringify(file)}`);
                return sh("bash scripts/gitops.sh changed HEAD~1").split("\n").filter(Boolean);
            };
            expect(changed("policy/config/prod.json", '{ "protect": "mandatory" }\n')).toEqual(["prod"]);
            expect(changed("policy/rules.ts", "// rules, changed\n")).toEqual(["prod", "staging"]);
            expect(changed("Pulumi.yaml", "name: keyfleet\ndescription: x\n")).toEqual(["prod", "staging"]);
            expect(changed("ops/plan.ts", "// plan, changed\n")).toEqual(["prod", "staging"]);
            expect(changed("scripts/gitops.sh", `${fs.readFileSync(path.join("scripts", "gitops.sh"), "utf8")}\n`)).toEqual(["prod", "staging"]);
            // What no environment's run reads changes none.
            expect(changed("README.md", "readme\n")).toEqual([]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

// Review 19: `npm run pulumi` gave a passphrase stack its KEYFLEET_PASSPHRASE_<STACK> only for the
// local stack (docs/ops/state-and-secrets.md, "Secrets providers", says every script does), so `npm run pulumi -- preview
// --stack prod` with the passphrase there, as fleet and gitops take it, failed to decrypt.
describe("npm run pulumi and the stack's own passphrase", () => {
    it("a passphrase stack's KEYFLEET_PASSPHRASE_<STACK> is its passphrase for npm run pulumi too", () => {
        const env = `pp${process.pid}`;
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-own-passphrase-"));
        const stackFile = path.join("stacks", `Pulumi.${env}.yaml`);
        const base: NodeJS.ProcessEnv = { ...process.env, PULUMI_BACKEND_URL: `file://${tmp}` };
        delete base.PULUMI_CONFIG_PASSPHRASE;
        delete base.PULUMI_CONFIG_PASSPHRASE_FILE;
        const pulumi = (args: string[], extra: Record<string, string>) => execFileSync("bash", ["scripts/keyfleet.sh", "pulumi", ...args], { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], env: { ...base, ...extra } }).trim();
        try {
            pulumi(["stack", "init", env], { PULUMI_CONFIG_PASSPHRASE: "own-pass" });
            pulumi(["config", "set", "--secret", "keyfleet:probe", "sealed", "--stack", env], { PULUMI_CONFIG_PASSPHRASE: "own-pass" });
            expect(pulumi(["config", "get", "keyfleet:probe", "--stack", env], { [`KEYFLEET_PASSPHRASE_${env.toUpperCase()}`]: "own-pass" })).toBe("sealed");
        } finally {
            fs.rmSync(stackFile, { force: true });
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 120_000);
});
