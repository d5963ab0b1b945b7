// The one argument parser of keyfleet's TypeScript commands (report, fleet, bootstrap, bench,
// sandbox): node:util's parseArgs, plus the two answers every command owes its user: `--help`/-h
// prints the usage on stdout and exits 0 before anything runs, and an unknown or malformed option
// prints what is wrong and the usage on stderr and exits 2 (or the command's usage code), never a
// stack trace.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** `usageExit`: the exit code of a usage error (2, or a command's own, e.g. fleet's 64 where 2 means drift). */
export function parseCli<T extends ParseArgsConfig>(usage: string, config: T, usageExit = 2): ReturnType<typeof parseArgs<T>> {
    const withHelp = { ...config, options: { ...config.options, help: { type: "boolean", short: "h" } } } as T;
    let parsed: ReturnType<typeof parseArgs<T>>;
    try {
        parsed = parseArgs(withHelp);
    } catch (err) {
        // Asked for help among other mistakes: still help.
        if ((config.args ?? process.argv.slice(2)).some((a) => a === "--help" || a === "-h")) {
            process.stdout.write(`${usage}\n`);
            process.exit(0);
        }
        process.stderr.write(`${(err as Error).message.replace(/\. To specify a positional argument.*$/, "")}\n${usage}\n`);
        process.exit(usageExit);
    }
    if ((parsed.values as { help?: boolean }).help) {
        process.stdout.write(`${usage}\n`);
        process.exit(0);
    }
    return parsed;
}
