// A scratch keyfleet project with several stacks in its own file backend, for the fleet and report
// commands (which run as separate processes, as a user runs them): the real program, each stack
// with its own keys file and the settings of the given sandboxes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalWorkspace, type ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { ROOT, type StackSettings } from "./stack.ts";

export interface FleetProject {
    dir: string;
    /** The environment the commands need: the project, its backend and passphrase. */
    env: Record<string, string>;
    writeKeys(stack: string, yaml: string): void;
    cleanup(): void;
}

/** `backendUrl`: a team backend (postgres://…) instead of a file backend in the project's folder. */
export async function createFleetProject(sandboxes: StackSettings[], stacks: Record<string, string>, passphrase = "fleet-passphrase", o: { backendUrl?: string } = {}): Promise<FleetProject> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-fleet-"));
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: keyfleet\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: stacks/index.ts\n");
    fs.symlinkSync(path.join(ROOT, "stacks"), path.join(dir, "stacks"));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    fs.mkdirSync(path.join(dir, "state"));
    const env = {
        KEYFLEET_PROJECT_DIR: dir,
        PULUMI_BACKEND_URL: o.backendUrl ?? `file://${path.join(dir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: passphrase,
        PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    };
    const keysFile = (stack: string) => path.join(dir, `keys-${stack}.yaml`);
    const ws = await LocalWorkspace.create({ workDir: dir, secretsProvider: "passphrase", envVars: env });
    for (const [name, yaml] of Object.entries(stacks)) {
        fs.writeFileSync(keysFile(name), yaml);
        await ws.createStack(name);
        const config: ConfigMap = { "keyfleet:keysFile": { value: keysFile(name) } };
        for (const s of sandboxes) Object.assign(config, s.config());
        await ws.setAllConfig(name, config);
    }
    return {
        dir,
        env,
        writeKeys: (stack, yaml) => fs.writeFileSync(keysFile(stack), yaml),
        cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}
