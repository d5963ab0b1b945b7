// What the report and the fleet share: the project folder they run in and the stacks of its backend
// (each stack's secrets: ops/secrets.ts). The backend is whatever PULUMI_BACKEND_URL names (scripts/keyfleet.sh
// defaults it to the project-local file backend), so a team's shared backend works unchanged.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The Pulumi project folder: KEYFLEET_PROJECT_DIR (tests and the benchmark use scratch projects), else the checkout. */
export function projectDir(flag?: string): string {
    return path.resolve(flag ?? process.env.KEYFLEET_PROJECT_DIR ?? ROOT);
}

/** Runs the Pulumi CLI in the project folder; resolves with stdout, rejects with its stderr's last lines. */
export function pulumiCli(dir: string, args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("pulumi", [...args, "--non-interactive"], { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
            if (err) {
                const said = String(stderr).trim().split("\n").slice(-3).join(" ").trim();
                reject(new Error(`pulumi ${args.slice(0, 2).join(" ")} failed: ${said || err.message}`));
            } else resolve(String(stdout));
        });
    });
}

/** The project's stacks in the backend, by short name. */
export async function backendStacks(dir: string): Promise<string[]> {
    const list = JSON.parse(await pulumiCli(dir, ["stack", "ls", "--json"])) as { name: string }[];
    return list.map((s) => s.name.split("/").pop()!).sort();
}
