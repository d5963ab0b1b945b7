// No plugin outlives its engine (issue 17, defect 2): the CLI starts each plugin in a process group
// of its own, so a `kill -9` of the `up` left keyfleet's language host, dynamic-provider plugin and
// command stand-in running (14 minutes later, still). Each is started here as the CLI starts it,
// under a parent that is then killed with SIGKILL; the plugin must be gone within a few seconds.
// test/interrupted-create.e2e.test.ts does the same through the real engine.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/stack.ts";

/** Alive, and not a zombie waiting for its new parent to reap it. */
function alive(pid: number): boolean {
    try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "latin1"));
    } catch {
        return false;
    }
}

async function waitFor(ms: number, ok: () => boolean): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (ok()) return true;
        await new Promise((r) => setTimeout(r, 100));
    }
    return ok();
}

describe("a plugin whose engine is killed ends within seconds", () => {
    for (const plugin of ["language-host.ts", "dynamic-provider.ts", "command-provider.ts"]) {
        it(plugin, async () => {
            // The stand-in engine: a shell that starts the plugin as the CLI and keyfleet's launcher
            // do (the engine's address as argument, the engine's pid in KEYFLEET_ENGINE_PID, the
            // program's folder as working directory) and says its pid.
            const engine = spawn("sh", ["-c", `KEYFLEET_ENGINE_PID=$$ node ${ROOT}/toolchain/${plugin} 127.0.0.1:1 >/dev/null 2>&1 & echo $!; wait`], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] });
            const pid = await new Promise<number>((resolve) => engine.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
            try {
                // Serving (it does not end by itself while its engine lives).
                await new Promise((r) => setTimeout(r, 2_000));
                expect(alive(pid)).toBe(true);
                engine.kill("SIGKILL");
                expect(await waitFor(4_000, () => !alive(pid))).toBe(true);
            } finally {
                if (alive(pid)) process.kill(pid, "SIGKILL");
            }
        });
    }

    it("even when the engine is killed while the plugin is still starting", async () => {
        const engine = spawn("sh", ["-c", `KEYFLEET_ENGINE_PID=$$ node ${ROOT}/toolchain/dynamic-provider.ts 127.0.0.1:1 >/dev/null 2>&1 & echo $!; kill -9 $$`], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] });
        const pid = await new Promise<number>((resolve) => engine.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
        try {
            expect(await waitFor(8_000, () => !alive(pid))).toBe(true);
        } finally {
            if (alive(pid)) process.kill(pid, "SIGKILL");
        }
    });
});
