// Issue 16: scripts/keyfleet.sh is a bootstrap and scripts/keyfleet.ts the CLI with one argument
// parser. Every command answers --help with its usage on stdout and exit 0, and an unknown option
// with a usage error, both with no side effect: run from a scratch copy of the project (its own
// .keyfleet/, which must not appear), with programs on PATH that record any call (npm for npm ci,
// go for a Pulumi build, pulumi for a stack, the MySQL client for a database) and sandbox ports of
// the test's own, which must stay closed. And each sandbox's declared needs decide what starts.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commands, USAGE } from "../scripts/commands.ts";
import { scratchRepo, type ScratchRepo } from "./helpers/repo.ts";

let repo: ScratchRepo;
let fakes: string;
let calls: string;
let env: Record<string, string>;
const ports = [0, 1, 2, 3].map(() => 20000 + Math.floor(Math.random() * 20000));

beforeAll(() => {
    repo = scratchRepo();
    fakes = path.join(repo.dir, "fake-bin");
    calls = path.join(repo.dir, "calls.log");
    fs.mkdirSync(fakes);
    // Each records its call; `mariadb` answers, as a MySQL server that accepts the login would.
    for (const name of ["npm", "npx", "go", "pulumi", "mysql", "apt-get"]) fs.writeFileSync(path.join(fakes, name), `#!/bin/sh\necho "${name} $*" >> "${calls}"\nexit 1\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(fakes, "mariadb"), `#!/bin/sh\necho "mariadb $*" >> "${calls}"\nexit 0\n`, { mode: 0o755 });
    env = {
        // Node 24 (this process's) after the fakes, so the bootstrap installs no Node either.
        PATH: `${fakes}:${path.dirname(process.execPath)}:${process.env.PATH}`,
        KEYFLEET_SANDBOX_GENESYS_PORT: String(ports[0]),
        KEYFLEET_SANDBOX_BEYONDTRUST_PORT: String(ports[1]),
        KEYFLEET_SANDBOX_SUPPORTCENTER_PORT: String(ports[2]),
        KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT: String(ports[3]),
    };
});
afterAll(() => repo?.cleanup());

const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });
const keyfleet = (...args: string[]) => repo.run("bash", ["scripts/keyfleet.sh", ...args], { env });
const recorded = () => (fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "");

async function expectNoSideEffect(what: string) {
    expect(repo.exists(".keyfleet"), `${what}: .keyfleet/ (toolchain, state, sandbox data)`).toBe(false);
    expect(recorded(), `${what}: programs called`).toBe("");
    for (const port of ports) expect(await listening(port), `${what}: sandbox port ${port}`).toBe(false);
    expect(fs.readdirSync(path.join(repo.dir, "stacks")).sort(), `${what}: stack files`).toEqual(["index.ts", "summary.ts"]);
    expect(repo.exists("--help"), what).toBe(false);
}

describe("keyfleet.sh --help", () => {
    it("every command prints its usage on stdout and exits 0, with no side effect", async () => {
        const forms = (name: string) => [[name, "--help"], [name, "-h"]];
        const cases = [["--help"], ["-h"], ...Object.keys(commands).flatMap(forms), ["up", "prod", "--help"], ["destroy", "prod", "--yes", "-h"], ["report", "--live", "--stack", "local", "--help"], ["fleet", "up", "--help"], ["sandbox", "--only", "supportsystem", "--help"], ["test", "test/cli.test.ts", "--help"]];
        for (const args of cases) {
            const r = await keyfleet(...args);
            const what = args.join(" ");
            expect(r.status, `${what}: ${r.stderr}`).toBe(0);
            const name = args[0].startsWith("-") ? undefined : (args[0] as keyof typeof commands);
            expect(r.stdout, what).toBe(`${name ? commands[name].usage : USAGE}\n`);
            expect(r.stderr, what).toBe("");
            await expectNoSideEffect(what);
        }
    }, 120_000);
});

describe("keyfleet.sh usage errors", () => {
    it("an unknown or malformed option is a usage error on stderr, not a stack trace, and changes nothing", async () => {
        const cases: [string[], number, RegExp][] = [
            [["toolchain", "--bogus"], 2, /Unknown option '--bogus'/],
            [["sandbox", "--bogus"], 2, /Unknown option '--bogus'/],
            [["bench", "--bogus"], 2, /Unknown option '--bogus'/],
            [["report", "--stack", "local", "--bogus"], 2, /Unknown option '--bogus'/],
            [["report", "--format"], 2, /Option '--format <value>' argument missing/],
            [["fleet", "drift", "--bogus"], 64, /Unknown option '--bogus'/],
            [["fleet", "fleet"], 64, /^unknown fleet operation "fleet"/],
            [["fleet"], 64, /^fleet needs an operation/],
            [["bench", "--keys", "abc"], 2, /^--keys takes whole numbers/],
            [["validate", "--bogus"], 2, /Unknown option '--bogus'/],
            [["secrets", "--bogus", "local"], 2, /Unknown option '--bogus'/],
            [["toolchain", "extra"], 2, /Unexpected argument 'extra'/],
        ];
        for (const [args, code, message] of cases) {
            const r = await keyfleet(...args);
            const what = args.join(" ");
            expect(r.status, `${what}: ${r.stderr}`).toBe(code);
            expect(r.stderr, what).toMatch(message);
            expect(r.stderr, what).toContain(`${commands[args[0] as keyof typeof commands].usage}\n`);
            expect(r.stderr, what).not.toMatch(/\n\s+at |Error:|node:internal/);
            expect(r.stdout, what).toBe("");
            await expectNoSideEffect(what);
        }
        const unknown = await keyfleet("bogus");
        expect(unknown.status).toBe(2);
        expect(unknown.stderr).toMatch(/^\[keyfleet\] unknown command "bogus"\nusage: bash scripts\/keyfleet\.sh <command>/);
        await expectNoSideEffect("bogus");
    }, 120_000);
});

// sandbox/index.ts says what each sandbox needs: `npm run sandbox -- --only nexus` starts Genesys
// alone and no MySQL; --only supportsystem (keys in a MySQL table) makes sure MySQL answers first.
describe("sandboxes start what they declare they need", () => {
    const sandbox = (only: string, port: number) =>
        new Promise<{ started: string; calls: string; status: number | null }>((resolve, reject) => {
            const child = spawn("bash", ["scripts/keyfleet.sh", "sandbox", "--only", only, "--data", path.join(repo.dir, "data.json")], {
                cwd: repo.dir,
                env: { ...process.env, ...env, KEYFLEET_ROOT: undefined, PULUMI_BACKEND_URL: undefined },
                stdio: ["ignore", "pipe", "pipe"],
            });
            let out = "";
            let err = "";
            const timer = setTimeout(() => (child.kill("SIGTERM"), reject(new Error(`sandbox --only ${only} did not start: ${out}${err}`))), 60_000);
            child.stderr.on("data", (d) => (err += d));
            child.stdout.on("data", async (d) => {
                out += d;
                if (!out.includes("sandbox: ")) return;
                clearTimeout(timer);
                const open = await listening(port);
                const seen = recorded();
                child.on("close", (status) => resolve({ started: open ? out : `port ${port} closed: ${out}`, calls: seen, status }));
                // The CLI passes TERM on to the sandbox, which closes and exits 0.
                child.kill("SIGTERM");
            });
        });

    it("Genesys alone needs no MySQL; SupportSystem gets it first", async () => {
        fs.rmSync(calls, { force: true });
        const nexus = await sandbox("nexus", ports[0]);
        expect(nexus.started).toMatch(/^sandbox: Genesys/);
        expect(nexus.calls).toBe("");
        expect(nexus.status).toBe(0);
        for (const port of ports) expect(await listening(port)).toBe(false);

        const supportsystem = await sandbox("supportsystem", ports[3]);
        expect(supportsystem.started).toMatch(/^sandbox: SupportSystem/);
        expect(supportsystem.calls).toMatch(/^mariadb .*SELECT 1/m);
        expect(supportsystem.status).toBe(0);
    }, 120_000);
});

// The options of up, preview and destroy go on to the engine; an unknown one was found only once the
// sandboxes ran and the stack was made. The engine checks them first now, with the real toolchain.
describe("keyfleet.sh up|preview|destroy with an option the engine does not know", () => {
    it("is a usage error before any sandbox starts or stack is made", async () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-cli-options-"));
        const own = { ...process.env, ...env, PATH: process.env.PATH!, PULUMI_BACKEND_URL: `file://${tmp}`, KEYFLEET_SANDBOX_DATA: path.join(tmp, "data.json"), KEYFLEET_SANDBOX_LOG: path.join(tmp, "sandbox.log") };
        try {
            for (const args of [["preview", "--bogus"], ["up", "-Z"], ["destroy", "prod", "--yes", "--bogus=3"], ["up", "--refresh", "--bogus", "--", "x"]]) {
                const r = spawnSync("bash", ["scripts/keyfleet.sh", ...args], { encoding: "utf8", env: own, timeout: 60_000 });
                const what = args.join(" ");
                expect(r.status, `${what}: ${r.stderr}`).toBe(2);
                expect(r.stderr, what).toMatch(/^error: unknown (shorthand )?flag: /);
                expect(r.stderr, what).toContain(commands[args[0] as "up"].usage);
                expect(r.stderr, what).not.toMatch(/starting the sandbox|MySQL|\n\s+at /);
                for (const port of ports) expect(await listening(port), what).toBe(false);
                expect(fs.readdirSync(tmp), what).toEqual([]);
            }
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 120_000);
});

// A preview changes nothing: of a stack the backend does not have, it made the stack and wrote its
// secrets salt (tied to whatever passphrase was set) into the tracked stacks/Pulumi.<stack>.yaml.
describe("keyfleet.sh preview of a stack the backend does not have", () => {
    it("makes no stack and writes no settings file; it names bootstrap", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-cli-preview-"));
        const settings = path.join("stacks", "Pulumi.staging.yaml");
        const before = fs.readFileSync(settings, "utf8");
        const own = { ...process.env, ...env, PATH: process.env.PATH!, PULUMI_BACKEND_URL: `file://${tmp}`, PULUMI_CONFIG_PASSPHRASE: "mistyped", KEYFLEET_SANDBOX_DATA: path.join(tmp, "data.json") };
        try {
            const r = spawnSync("bash", ["scripts/keyfleet.sh", "preview", "staging"], { encoding: "utf8", env: own, timeout: 90_000 });
            expect(r.status, r.stderr).toBe(1);
            expect(r.stderr).toContain("preview of stack staging: the stack does not exist in this backend yet, and a preview creates nothing; make it with npm run bootstrap -- staging");
            // The backend's own bookkeeping (.pulumi/meta.yaml) may appear; no stack does.
            const stacks = path.join(tmp, ".pulumi", "stacks");
            expect(fs.existsSync(stacks) ? fs.readdirSync(stacks, { recursive: true }).filter((f) => String(f).endsWith(".json")) : []).toEqual([]);
            expect(fs.readFileSync(settings, "utf8")).toBe(before);
        } finally {
            fs.writeFileSync(settings, before);
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }, 120_000);
});

// npm ci runs from the CLI, so what the CLI loads before it (its static imports, followed through
// the project's own files) must be Node's built-ins only; npm packages come in by dynamic import.
describe("the CLI's entry", () => {
    it("imports only node: built-ins and project files that do the same, until npm ci has run", () => {
        const seen = new Set<string>();
        const visit = (file: string) => {
            if (seen.has(file)) return;
            seen.add(file);
            const text = fs.readFileSync(file, "utf8");
            for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)";/gms)) {
                const spec = m[1];
                if (spec.startsWith("node:")) continue;
                expect(spec, `${path.relative(process.cwd(), file)} imports ${spec}`).toMatch(/^\.\.?\//);
                visit(path.resolve(path.dirname(file), spec));
            }
        };
        visit(path.resolve("scripts", "keyfleet.ts"));
        expect([...seen].map((f) => path.relative(process.cwd(), f)).sort()).toEqual(["scripts/cli.ts", "scripts/commands.ts", "scripts/engine.ts", "scripts/keyfleet.ts", "scripts/proc.ts", "scripts/services.ts", "scripts/setup.ts"]);
    });
});
