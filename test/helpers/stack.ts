// A keyfleet stack for lifecycle tests, driven by the real Pulumi engine through the Automation
// API: the real CLI, keyfleet's language host, the real dynamic-provider process and the real
// program (stacks/index.ts), in a scratch project folder with its own file backend, pointed at a
// test sandbox. Everything the CLI prints is kept for leak scans.
import fs from "node:fs";
import zlib from "node:zlib";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, type ConfigMap, type Stack } from "@pulumi/pulumi/automation/index.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface TestStack {
    stack: Stack;
    dir: string;
    /** All CLI output so far. */
    output: string[];
    writeKeys(yaml: string): void;
    /**
     * The stack's state as the backend stores it (Automation API's exportStack would decrypt the
     * secrets, which is not what a leak scan must look at).
     */
    exportState(): Promise<string>;
    /** URNs of the resources in state. */
    resources(): Promise<string[]>;
    /** Decrypted stack outputs: key resource name → apiKey. */
    apiKeys(): Promise<Record<string, string>>;
    cleanup(): Promise<void>;
}

/**
 * `main` is the program, relative to the checkout: keyfleet's own by default; the benchmark also
 * runs its engine-floor program this way so that both take the same path through the engine.
 */
/** Something whose stack settings a test stack takes: a vendor sandbox of the test's own. */
export interface StackSettings {
    config(): ConfigMap;
}

/** `sandboxes`: the vendor sandboxes the stack points at; their settings are merged. */
export async function createTestStack(
    sandboxes: StackSettings | StackSettings[],
    yaml: string,
    settings: { passphrase?: string; main?: string; backendUrl?: string } = {},
): Promise<TestStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-e2e-"));
    const main = settings.main ?? "stacks/index.ts";
    // The project folder links to the real program and packages; Node resolves the links, so the
    // code runs from the checkout, while stack files and state stay in the scratch folder.
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: keyfleet\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: ${main}\n`);
    const top = main.split("/")[0];
    fs.symlinkSync(path.join(ROOT, top), path.join(dir, top));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    fs.mkdirSync(path.join(dir, "state"));
    const keysFile = path.join(dir, "keys.yaml");
    fs.writeFileSync(keysFile, yaml);

    const stack = await LocalWorkspace.createStack(
        { stackName: "e2e", workDir: dir },
        {
            secretsProvider: "passphrase",
            envVars: {
                // Another backend (postgres://…) for tests of it; exportState and resources read the file backend only.
                PULUMI_BACKEND_URL: settings.backendUrl ?? `file://${path.join(dir, "state")}`,
                PULUMI_CONFIG_PASSPHRASE: settings.passphrase ?? "e2e-passphrase",
                PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
            },
        },
    );
    const config: ConfigMap = { "keyfleet:keysFile": { value: keysFile } };
    for (const sandbox of Array.isArray(sandboxes) ? sandboxes : [sandboxes]) Object.assign(config, sandbox.config());
    await stack.setAllConfig(config);
    const output: string[] = [];
    return {
        stack,
        dir,
        output,
        writeKeys: (text) => fs.writeFileSync(keysFile, text),
        exportState: async () => fs.readFileSync(path.join(dir, "state", ".pulumi", "stacks", "keyfleet", "e2e.json"), "utf8"),
        resources: async () => {
            const state = JSON.parse(fs.readFileSync(path.join(dir, "state", ".pulumi", "stacks", "keyfleet", "e2e.json"), "utf8"));
            return (state.checkpoint.latest?.resources ?? []).map((r: { urn: string }) => r.urn);
        },
        apiKeys: async () => {
            const outs = await stack.outputs();
            const keys = (outs.keys?.value ?? {}) as Record<string, { apiKey: string }>;
            return Object.fromEntries(Object.entries(keys).map(([name, k]) => [name, k.apiKey]));
        },
        cleanup: async () => {
            await stack.workspace.removeStack("e2e", { force: true }).catch(() => undefined);
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

/** A preview or up that changed nothing: only sames, and the read of the stack's own last outputs. */
/** Engine operations that change no resource. */
export const UNCHANGED_OPS = ["same", "read", "discard", "read-discard"];

export function expectNoChanges(summary: Record<string, number> | undefined) {
    // A read, or a read the program no longer makes discarded (an older state's StackReference), changes nothing.
    const changed = Object.entries(summary ?? {}).filter(([op, n]) => !UNCHANGED_OPS.includes(op) && n > 0);
    if (changed.length > 0) throw new Error(`expected no changes, got ${JSON.stringify(summary)}`);
}

/** Options that make an engine call print into `output`, without colours. */
export function captured(s: TestStack) {
    return { color: "never" as const, onOutput: (line: string) => s.output.push(line) };
}

/** Every file of a file backend (history and backups included), decompressed where gzipped: what a leak scan reads. */
export function backendFiles(dir: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(entry.parentPath, entry.name);
        const raw = fs.readFileSync(file);
        out.push((file.endsWith(".gz") ? zlib.gunzipSync(raw) : raw).toString("utf8"));
    }
    return out;
}
