// keyfleet as a package in a team's own Pulumi program: `npm run package` builds the tarball, a
// scratch project outside the checkout installs it from that file (and its dependencies from the
// registry), and its program (TypeScript, typechecked against the package's declarations) declares a
// KeyfleetEnvironment. The real engine runs it against a Nexus sandbox; nothing of the checkout is
// linked, so the program, the component and the dynamic provider all run from the installed package.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation/index.js";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { backendFiles, ROOT } from "./helpers/stack.ts";

const CI = "nexus/tenant/ci";
const MON = "nexus/cluster/monitoring";
const keysYaml = (generation: number) => `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: ci
      permissions: [nexus:consumer:chat]
      rotation: { generation: ${generation} }
  clusterKeys:
    - name: monitoring
`;

// What a team writes: keyfleet's component beside its own resources, its outputs exported.
const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { KeyfleetEnvironment, type LastRunKey } from "keyfleet";

const env = new KeyfleetEnvironment("support-keys", { keys: "keys.yaml" });
export const record: pulumi.Output<Record<string, LastRunKey>> = env.keyIds;
export const lastRunAt = env.lastRunAt;
export const ciKey = env.keys.apply((k) => k["${CI}"]!.apiKey as string);
`;

let t: TestSandbox;
let dir: string;
let stack: Stack;
const output: string[] = [];
const timings: Record<string, number> = {};

function timed<T>(what: string, f: () => T): T {
    const start = Date.now();
    try {
        return f();
    } finally {
        timings[what] = Date.now() - start;
    }
}

async function up() {
    const result = await stack.up({ color: "never", onOutput: (l: string) => output.push(l) });
    return result.summary.resourceChanges ?? {};
}

function state() {
    return (JSON.parse(fs.readFileSync(path.join(dir, "state", ".pulumi", "stacks", "team-app", "dev.json"), "utf8")).checkpoint.latest?.resources ?? []) as { urn: string; type: string; id?: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[];
}

beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-package-"));
    expect(path.relative(ROOT, dir).startsWith("..")).toBe(true);
    const tarball = timed("pack", () => execFileSync(process.execPath, [path.join(ROOT, "scripts", "build-package.ts"), dir], { cwd: ROOT, encoding: "utf8" }).trim().split("\n").at(-1)!);
    expect(tarball).toMatch(/keyfleet-\d+\.\d+\.\d+\.tgz$/);
    const sdk = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "team-app", private: true, type: "module", dependencies: { "@pulumi/pulumi": sdk, keyfleet: `file:${tarball}` }, devDependencies: { typescript: "5.9.3", "@types/node": "24.19.2" } }, null, 2));
    // --ignore-scripts: @pulumi/command's install script downloads its plugin from GitHub, which this
    // machine cannot reach; the engine takes keyfleet's stand-in from PATH instead (docs/ops/toolchain.md).
    timed("install", () => execFileSync("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefer-offline"], { cwd: dir, stdio: "pipe" }));
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: team-app\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.ts\n");
    fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
    fs.writeFileSync(path.join(dir, "keys.yaml"), keysYaml(0));
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "es2024", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true, types: ["node"] }, files: ["index.ts"] }));
    fs.mkdirSync(path.join(dir, "state"));
    t = await startSandbox();
    stack = await LocalWorkspace.createStack(
        { stackName: "dev", workDir: dir },
        {
            secretsProvider: "passphrase",
            envVars: {
                PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
                PULUMI_CONFIG_PASSPHRASE: "package-e2e-passphrase",
                PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
            },
        },
    );
    await stack.setAllConfig(t.config());
}, 600_000);

afterAll(async () => {
    console.log(`package e2e: pack ${timings.pack} ms, npm install ${timings.install} ms, typecheck ${timings.typecheck} ms`);
    await stack?.workspace.removeStack("dev", { force: true }).catch(() => undefined);
    await t?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("keyfleet installed from its tarball into a team's program", () => {
    it("the package is compiled JavaScript with declarations the program typechecks against", () => {
        const pkg = path.join(dir, "node_modules", "keyfleet");
        expect(fs.lstatSync(pkg).isSymbolicLink()).toBe(false);
        const files = fs.readdirSync(pkg, { recursive: true }).map(String);
        expect(files).toContain(path.join("api", "index.js"));
        expect(files).toContain(path.join("api", "index.d.ts"));
        expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
        expect(files.some((f) => f.startsWith("sandbox") || f.startsWith("test") || f.startsWith("stacks"))).toBe(false);
        // README is the way in: the pages it links to (the API's is docs/program.md) are in the package.
        const linked = [...fs.readFileSync(path.join(pkg, "README.md"), "utf8").matchAll(/\]\((docs\/[^)#\s]+\.md)/g)].map((m) => m[1]!);
        expect(linked).toContain("docs/program.md");
        expect(linked.filter((l) => !fs.existsSync(path.join(pkg, l)))).toEqual([]);
        // A type error in what the program does with the component's outputs fails the check, so it reads the declarations.
        timed("typecheck", () => execFileSync(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir, stdio: "pipe" }));
        fs.writeFileSync(path.join(dir, "wrong.ts"), `import { KeyfleetEnvironment } from "keyfleet";\nconst n: number = new KeyfleetEnvironment("x", { keys: "k.yaml" }).lastRunAt;\n`);
        try {
            let said = "";
            try {
                execFileSync(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--strict", "--module", "nodenext", "--types", "node", path.join(dir, "wrong.ts")], { cwd: dir, encoding: "utf8", stdio: "pipe" });
            } catch (err) {
                said = String((err as { stdout?: string }).stdout);
            }
            expect(said).toMatch(/wrong\.ts\(2,7\): error TS2322: Type 'Output<string>' is not assignable to type 'number'/);
        } finally {
            fs.rmSync(path.join(dir, "wrong.ts"));
        }
    });

    let first: Record<string, { id: string; created: string; rotation: { generation?: number } | null }>;
    let firstRunAt: string;

    it("a YAML error stops the run at the YAML's place before anything is declared or called", async () => {
        fs.writeFileSync(path.join(dir, "keys.yaml"), keysYaml(0).replace("nexus:consumer:chat", "nexus:consumer:chatt"));
        const lines: string[] = [];
        await expect(stack.up({ color: "never", onOutput: (l: string) => (lines.push(l), output.push(l)) })).rejects.toThrow();
        const text = lines.join("");
        expect(text).toMatch(/1 error in keys\.yaml; nothing was changed:\s+keys\.yaml:5:\d+ nexus\.tenantKeys\[0\]\.permissions\[0\]/);
        // The program failed, not the language host: the component's rejected outputs do not crash it.
        expect(text).not.toMatch(/error reading from server|triggerUncaughtException/);
        expect(t.sandbox.stats.total).toBe(0);
        // At most the stack and the component (registered before its keys are known) are in state: no key.
        expect(state().filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/"))).toEqual([]);
        fs.writeFileSync(path.join(dir, "keys.yaml"), keysYaml(0));
    });

    it("up creates the keys under the component, served by the installed package's provider", async () => {
        // The stack, the component and two keys, of which the failed run above may have made the first two.
        const made = await up();
        expect(made.create).toBeGreaterThanOrEqual(2);
        expect((made.create ?? 0) + (made.same ?? 0)).toBe(4);
        expect(Object.keys(made).filter((op) => op !== "create" && op !== "same")).toEqual([]);
        const resources = state();
        const keys = resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/nexus:"));
        expect(keys.map((r) => r.urn.slice(r.urn.lastIndexOf("::") + 2)).sort()).toEqual([MON, CI].sort());
        for (const r of keys) {
            expect(r.urn).toContain("::keyfleet:index:Environment$pulumi-nodejs:dynamic/nexus:");
            expect(r.inputs!.__provider).toContain('require("keyfleet/shim")');
            expect(String(r.inputs!.__provider).length).toBeLessThan(500);
            expect(r.inputs!.__provider).not.toContain(dir);
        }
        const outs = await stack.outputs();
        first = outs.record!.value;
        firstRunAt = outs.lastRunAt!.value;
        expect(first[CI]!.id).toBe(keys.find((r) => r.urn.endsWith(CI))!.id);
        expect(first[CI]!.rotation).toMatchObject({ generation: 0 });
        // The record is the component's own state, where the next run reads it.
        const component = resources.find((r) => r.type === "keyfleet:index:Environment")!;
        expect(component.outputs!.keyIds).toEqual(first);
        expect(await useKey(t.url, outs.ciKey!.value)).toBe(200);
    });

    it("a second up changes nothing and calls no vendor", async () => {
        const calls = t.sandbox.stats.total;
        expect(await up()).toEqual({ same: 4 });
        expect(t.sandbox.stats.total).toBe(calls);
        expect((await stack.outputs()).record!.value).toEqual(first);
    });

    it("a generation bump rotates the key exactly once and records when", async () => {
        fs.writeFileSync(path.join(dir, "keys.yaml"), keysYaml(1));
        const oldKey = (await stack.outputs()).ciKey!.value;
        const before = Date.now();
        expect(await up()).toMatchObject({ replace: 1, same: 3 });
        const outs = await stack.outputs();
        const rotated = outs.record!.value as typeof first;
        expect(rotated[CI]!.id).not.toBe(first[CI]!.id);
        expect(rotated[CI]!.rotation).toMatchObject({ generation: 1 });
        expect(Date.parse(rotated[CI]!.created)).toBeGreaterThanOrEqual(before - 1000);
        expect(Date.parse(outs.lastRunAt!.value)).toBeGreaterThan(Date.parse(firstRunAt));
        expect(rotated[MON]).toEqual(first[MON]);
        expect(await useKey(t.url, oldKey)).toBe(401);
        expect(await useKey(t.url, outs.ciKey!.value)).toBe(200);
        // The predecessor came from the component's record: the provider was told which key it replaced.
        expect(state().find((r) => r.urn.endsWith(CI))!.inputs!.predecessor).toBe(first[CI]!.id);

        // The next up only records the rotation's bookkeeping, and the one after is a no-op: no second rotation.
        const posts = t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"];
        const next = await up();
        expect(next.replace ?? 0).toBe(0);
        expect(next.create ?? 0).toBe(0);
        expect(await up()).toEqual({ same: 4 });
        expect(t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"]).toBe(posts);
        const settled = (await stack.outputs()).record!.value as typeof first;
        expect(settled[CI]).toEqual(rotated[CI]);
    }, 400_000);

    it("a JavaScript program with the same document as an object in code plans no change", async () => {
        // Written out as YAML and read back by the same loader, the object is the same environment.
        fs.writeFileSync(
            path.join(dir, "index.mjs"),
            `import { KeyfleetEnvironment } from "keyfleet";
const env = new KeyfleetEnvironment("support-keys", { keys: ${JSON.stringify({ nexus: { contactCenter: CC, tenantKeys: [{ name: "ci", permissions: ["nexus:consumer:chat"], rotation: { generation: 1 } }], clusterKeys: [{ name: "monitoring" }] } })} });
export const record = env.keyIds;
export const lastRunAt = env.lastRunAt;
export const ciKey = env.keys.apply((k) => k["${CI}"].apiKey);
`,
        );
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: team-app\nruntime:\n  name: nodejs\nmain: index.mjs\n");
        const preview = await stack.preview({ color: "never", onOutput: (l: string) => output.push(l) });
        expect(preview.changeSummary).toEqual({ same: 4 });
    });

    it("no credential or key value is in plain text in state, its history or the output", async () => {
        const texts = [...backendFiles(path.join(dir, "state")), output.join("")];
        for (const secret of t.secrets()) for (const text of texts) expect(text.includes(secret)).toBe(false);
    });
});
