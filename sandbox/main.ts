// `npm run sandbox`: every vendor's sandbox in the foreground, on fixed loopback ports (each
// sandbox's port and the environment variable that moves it, see sandbox/index.ts).
// --data FILE keeps the vendors' records across restarts (the local stack's sandbox does), one file
// per vendor beside it, readable by the owner only (they hold key values).
import { parseCli } from "../scripts/cli.ts";
import { sandbox as SANDBOX } from "../scripts/commands.ts";
import { sandboxes } from "./index.ts";

const { values } = parseCli(SANDBOX.usage, SANDBOX.args);
const host = process.env.KEYFLEET_SANDBOX_HOST ?? "127.0.0.1";
const only = values.only?.split(",");

const servers: { close(): Promise<void> }[] = [];
const stop = async () => {
    await Promise.all(servers.map((s) => s.close()));
    process.exit(0);
};
// Before the first line that says a sandbox listens: whoever reads it may stop it at once.
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

for (const sb of sandboxes) {
    if (only && !only.includes(sb.section)) continue;
    const port = Number(process.env[sb.portEnv] ?? sb.port);
    const dataFile = values.data ? `${values.data.replace(/\.json$/, "")}-${sb.section}.json` : undefined;
    const server = await sb.start({ port, host, dataFile });
    servers.push(server);
    console.log(`sandbox: ${sb.title} on ${server.url}`);
}
