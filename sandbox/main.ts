// `npm run sandbox`: every vendor sandbox in the foreground, on fixed loopback ports.
//   Genesys (GWS auth + Nexus)  127.0.0.1:4401   KEYFLEET_SANDBOX_GENESYS_PORT
// Later vendors take 4402 (BeyondTrust), 4403 (SupportCenter Plus), 4404 (SupportSystem).
// --data FILE keeps the vendors' records across restarts (the local stack's sandbox does).
import { parseArgs } from "node:util";
import { GenesysSandbox } from "./genesys.ts";
import { listen } from "./http.ts";

const { values } = parseArgs({ options: { data: { type: "string" } } });
const host = process.env.KEYFLEET_SANDBOX_HOST ?? "127.0.0.1";
const genesysPort = Number(process.env.KEYFLEET_SANDBOX_GENESYS_PORT ?? 4401);

const genesys = new GenesysSandbox({ dataFile: values.data ? `${values.data.replace(/\.json$/, "")}-genesys.json` : undefined });
const servers = [await listen(genesys.handler, genesysPort, host)];
console.log(`sandbox: Genesys (GWS auth + Nexus) on ${servers[0].url}`);

const stop = async () => {
    await Promise.all(servers.map((s) => s.close()));
    process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
