// The GitHub Actions workflow, linted by actionlint (built from the Go module proxy at the version
// tools/actionlint/go.mod pins) and checked for what a security review asks of it: pinned actions,
// least privilege, secrets only where a job needs them and only from a GitHub environment.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { vendors } from "../providers/vendors.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, ".keyfleet", "bin");
const ACTIONLINT = path.join(BIN, "actionlint");
const STAMP = path.join(BIN, ".actionlint-version");
const MODULE_DIR = path.join(ROOT, "tools", "actionlint");
const VERSION = /github\.com\/rhysd\/actionlint (v\S+)/.exec(fs.readFileSync(path.join(MODULE_DIR, "go.mod"), "utf8"))![1];

const workflowDir = path.join(ROOT, ".github", "workflows");
const workflows = fs.readdirSync(workflowDir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(workflowDir, f));
const actionsDir = path.join(ROOT, ".github", "actions");
const actions = fs.existsSync(actionsDir)
    ? fs.readdirSync(actionsDir, { recursive: true, encoding: "utf8" }).filter((f) => /(^|\/)action\.ya?ml$/.test(f)).map((f) => path.join(actionsDir, f))
    : [];
const rel = (f: string) => path.relative(ROOT, f);

const WORKFLOW = path.join(workflowDir, "keyfleet.yml");
const text = fs.readFileSync(WORKFLOW, "utf8");
const doc = YAML.parse(text);
const jobs: Record<string, any> = doc.jobs;
const secretsIn = (node: unknown) => [...JSON.stringify(node ?? null).matchAll(/secrets\.([A-Za-z0-9_]+)/g)].map((m) => m[1]);

// Built once into .keyfleet/bin like the Pulumi CLI (scripts/setup.ts ensurePulumiCli), so a fresh
// clone's `npm test` needs only Go; later runs reuse the binary (the stamp names its version).
beforeAll(() => {
    if (fs.existsSync(ACTIONLINT) && fs.existsSync(STAMP) && fs.readFileSync(STAMP, "utf8").trim() === VERSION) return;
    fs.mkdirSync(BIN, { recursive: true });
    const tmp = `${ACTIONLINT}.${process.pid}.tmp`;
    const build = spawnSync("go", ["build", "-trimpath", "-o", tmp, "github.com/rhysd/actionlint/cmd/actionlint"], { cwd: MODULE_DIR, encoding: "utf8" });
    if (build.status !== 0) {
        throw new Error(`building actionlint ${VERSION} from tools/actionlint failed (go exit ${build.status}): ${build.stderr || build.error}. Fix: check that Go is on PATH and the module proxy is reachable (GOPROXY).`);
    }
    // A rename, so a parallel run never executes half a binary.
    fs.renameSync(tmp, ACTIONLINT);
    fs.writeFileSync(STAMP, `${VERSION}\n`);
}, 600_000);

const lint = (files: string[], cwd = ROOT) => spawnSync(ACTIONLINT, ["-no-color", ...files], { cwd, encoding: "utf8" });

describe("actionlint", () => {
    it(`is the pinned release (${VERSION})`, () => {
        expect(execFileSync(ACTIONLINT, ["-version"], { encoding: "utf8" }).split("\n")[0]).toBe(VERSION);
    });

    it("finds nothing in .github/workflows", () => {
        const run = lint(workflows.map(rel));
        expect(run.stdout + run.stderr).toBe("");
        expect(run.status).toBe(0);
    });

    // Proves the lint above can fail: the same workflow with one job's `needs` pointing nowhere.
    it("reports a broken copy of the workflow", () => {
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-actionlint-"));
        try {
            fs.mkdirSync(path.join(scratch, ".github", "workflows"), { recursive: true });
            fs.cpSync(path.join(ROOT, ".github", "actions"), path.join(scratch, ".github", "actions"), { recursive: true });
            fs.writeFileSync(path.join(scratch, ".github", "workflows", "keyfleet.yml"), text.replace("needs: pull-request", "needs: no-such-job"));
            const run = lint([".github/workflows/keyfleet.yml"], scratch);
            expect(run.status).toBe(1);
            expect(run.stdout).toMatch(/no-such-job/);
        } finally {
            fs.rmSync(scratch, { recursive: true, force: true });
        }
    });
});

describe("the workflow", () => {
    it("pins every action to a full commit SHA with its tag beside it", () => {
        const uses = [...workflows, ...actions].flatMap((f) =>
            fs.readFileSync(f, "utf8").split("\n").flatMap((line, i) => (/^\s*-?\s*uses:/.test(line) ? [{ where: `${rel(f)}:${i + 1}`, line: line.trim() }] : [])),
        );
        expect(uses.length).toBeGreaterThan(5);
        const unpinned = uses.filter(({ line }) => !/uses: \.\/\S+$/.test(line) && !/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(line));
        expect(unpinned).toEqual([]);
    });

    it("grants nothing at the top and declares each job's permissions, none of them write", () => {
        expect(doc.permissions).toEqual({});
        for (const [name, job] of Object.entries(jobs)) {
            expect(job.permissions, `job ${name}`).toBeTypeOf("object");
            expect(Object.values(job.permissions), `job ${name}`).not.toContain("write");
        }
    });

    // Review 19: an expression in a script is pasted into it before the shell runs (a branch name or
    // a title from github.event.* becomes code); values reach scripts through env only.
    it("puts no expression in any run: script, workflow or composite action", () => {
        const scripts = [...workflows, ...actions].flatMap((f) => {
            const d = YAML.parse(fs.readFileSync(f, "utf8"));
            const steps = d.runs?.steps ?? Object.values(d.jobs ?? {}).flatMap((j: any) => j.steps ?? []);
            return steps.filter((s: any) => typeof s.run === "string").map((s: any) => ({ where: `${rel(f)}: ${s.name ?? s.id ?? s.run.split("\n")[0]}`, run: s.run as string }));
        });
        expect(scripts.length).toBeGreaterThan(5);
        expect(scripts.filter((s) => s.run.includes("${{")).map((s) => s.where)).toEqual([]);
    });

    it("keeps secrets out of workflow-level env", () => {
        expect(secretsIn(doc.env)).toEqual([]);
    });

    it("gives the pull-request job, which runs the branch's code, no secret at all, and runs validate there", () => {
        const job = jobs["pull-request"];
        expect(job.if).toContain("pull_request");
        expect(secretsIn(job)).toEqual([]);
        expect(job.environment).toBeUndefined();
        expect(job.steps.map((s: any) => s.run ?? "")).toContain("npm run validate");
    });

    it("releases secrets only at step level, only from a job's environment, and a fork's pull request gets none", () => {
        for (const [name, job] of Object.entries(jobs)) {
            const used = secretsIn(job);
            if (used.length === 0) continue;
            expect(job.environment, `job ${name} uses secrets without an environment`).toBeDefined();
            expect(secretsIn(job.env), `job ${name}`).toEqual([]);
            expect(job.steps.flatMap((s: any) => secretsIn(s.env)).length, `job ${name}: secrets outside step env`).toBe(used.length);
            if (String(job.if ?? "").includes("pull_request")) {
                expect(job.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
            }
        }
    });

    it("wires every vendor's secret settings (providers/*/descriptor.ts) into every job that runs the engine", () => {
        const wanted = vendors.flatMap((v) => (v.settings as any[]).filter((s) => s.secret).map((s) => s.env as string));
        expect(wanted).toEqual(expect.arrayContaining(["KEYFLEET_NEXUS_CLIENT_SECRET", "KEYFLEET_BEYONDTRUST_CLIENT_SECRET", "KEYFLEET_SUPPORTCENTER_OWNERS", "KEYFLEET_MYSQL_PASSWORD", "KEYFLEET_SUPPORTSYSTEM_ADMIN_PASSWORD"]));
        const engineJobs = Object.entries(jobs).filter(([, job]) => job.steps.some((s: any) => /gitops\.sh (preview|apply|drift)/.test(s.run ?? "")));
        expect(engineJobs.map(([n]) => n).sort()).toEqual(["apply", "drift", "preview", "rotate"]);
        for (const [name, job] of engineJobs) {
            const env = job.steps.find((s: any) => /gitops\.sh (preview|apply|drift)/.test(s.run ?? "")).env;
            for (const name_ of [...wanted, "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"]) {
                expect(env[name_], `job ${name}: ${name_}`).toBe(`\${{ secrets.${name_} }}`);
            }
        }
    });

    it("applies only after approval, one up per environment at a time, on merges and on the schedule", () => {
        for (const name of ["apply", "rotate"]) {
            const job = jobs[name];
            expect(job.environment).toBe("${{ matrix.stack }}");
            expect(job.concurrency).toEqual({ group: "keyfleet-up-${{ matrix.stack }}", "cancel-in-progress": false });
            expect(job.steps.some((s: any) => /gitops\.sh apply "\$STACK"/.test(s.run ?? ""))).toBe(true);
        }
        expect(jobs.rotate.needs).toBe("environments");
        expect(jobs.environments.if).toContain("schedule");
        expect(doc.on.schedule.length).toBeGreaterThan(0);
    });

    it("triggers on every path the pipeline's outcome depends on", () => {
        const paths: string[] = doc.on.pull_request.paths;
        for (const p of ["config/**", "stacks/**", "providers/**", "scripts/**", "ops/**", "toolchain/**", "policy/**", "sandbox/**", "tools/**", "Pulumi.yaml", "package.json", "package-lock.json"]) {
            expect(paths).toContain(p);
        }
        expect(doc.on.push.paths).toEqual(paths);
    });

    it("caches Node 24, npm's cache and .keyfleet/bin", () => {
        const cached = actions.flatMap((f) => (YAML.parse(fs.readFileSync(f, "utf8")).runs.steps as any[]).filter((s) => String(s.uses).startsWith("actions/cache@")));
        expect(cached.map((s) => s.with.path).sort()).toEqual([".keyfleet/bin", ".keyfleet/node", "~/.npm"]);
        expect(cached.find((s) => s.with.path === "~/.npm").with.key).toContain("hashFiles('package-lock.json')");
        const toolchainJobs = Object.entries(jobs).filter(([, job]) => job.steps.some((s: any) => /gitops\.sh (preview|apply|drift)|npm run/.test(s.run ?? "")));
        expect(toolchainJobs.length).toBe(5);
        for (const [name, job] of toolchainJobs) expect(job.steps.map((s: any) => s.uses), `job ${name}`).toContain("./.github/actions/toolchain");
    });
});
