// Peak resident memory (VmHWM, kB) of the engine's processes while a step runs, sampled from /proc
// every 100 ms. Only descendants of `root` count: other engineers' pulumi runs share the machine.
// VmHWM is the process's own high-water mark, so a sample late in its life still sees its peak;
// a process shorter than one interval can be missed.
import fs from "node:fs";

export interface Peaks {
    /** The dynamic-provider plugins (one per provider instance; the largest). */
    provider: number;
    /** The Pulumi CLI (the engine). */
    cli: number;
    /** The language host and the program it runs (the largest). */
    host: number;
}

function parentOf(pid: string): string | undefined {
    try {
        // The command name (2nd field) may hold spaces and parentheses: read after its last ')'.
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
    } catch {
        return undefined;
    }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuOf(pid: string): number {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
        return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
        return 0;
    }
}

export function peaks(root: number): { stop(): Peaks; cpu(): Peaks } {
    const seen: Peaks = { provider: 0, cli: 0, host: 0 };
    // Each process's last CPU reading, kept by pid, so a process that ended still counts.
    const cpuByPid = new Map<string, { kind: keyof Peaks; seconds: number }>();
    const sample = () => {
        const pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
        const parents = new Map(pids.map((p) => [p, parentOf(p)]));
        const ours = (pid: string) => {
            for (let p: string | undefined = pid, hops = 0; p && hops < 20; p = parents.get(p), hops++) if (p === String(root)) return true;
            return false;
        };
        for (const pid of pids) {
            if (pid === String(root) || !ours(pid)) continue;
            try {
                const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
                const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
                const kind: keyof Peaks | undefined = argv.some((a) => a.includes("dynamic-provider"))
                    ? "provider"
                    : /(^|\/)pulumi$/.test(argv[0] ?? "")
                      ? "cli"
                      : argv[0]?.endsWith("node") || argv.some((a) => a.includes("language-host"))
                        ? "host"
                        : undefined;
                if (kind) {
                    seen[kind] = Math.max(seen[kind], hwm);
                    cpuByPid.set(pid, { kind, seconds: cpuOf(pid) });
                }
            } catch {
                // the process ended between listing and reading
            }
        }
    };
    const timer = setInterval(sample, 100);
    return {
        stop() {
            clearInterval(timer);
            sample();
            return seen;
        },
        cpu() {
            const total: Peaks = { provider: 0, cli: 0, host: 0 };
            for (const { kind, seconds } of cpuByPid.values()) total[kind] += seconds;
            return total;
        },
    };
}
