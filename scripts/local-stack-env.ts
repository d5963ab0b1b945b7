// The local stack's endpoints, in one place: stacks/Pulumi.local.yaml holds no URL and no database
// name; they follow the sandboxes' ports (sandbox/index.ts and the KEYFLEET_SANDBOX_*_PORT that move
// them) and KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE, given as the settings' environment fallbacks.
// scripts/keyfleet.sh evals what this prints (`export K='v'` lines) for commands on the local stack,
// and scripts/validate.ts applies the same when it checks the local stack.
import { fileURLToPath } from "node:url";
import { sandboxes } from "../sandbox/index.ts";

export function localStackEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const url = (section: string) => {
        const sb = sandboxes.find((s) => s.section === section)!;
        return `http://127.0.0.1:${env[sb.portEnv] || sb.port}`;
    };
    return {
        KEYFLEET_NEXUS_AUTH_URL: url("nexus"),
        KEYFLEET_NEXUS_URL: url("nexus"),
        // The sandbox's whoami: a test convenience, not a Genesys endpoint (see README, Nexus).
        KEYFLEET_NEXUS_PROBE_URL: `${url("nexus")}/nexus/v3/whoami`,
        KEYFLEET_BEYONDTRUST_URL: url("beyondtrust"),
        KEYFLEET_SUPPORTCENTER_URL: url("supportcenter"),
        KEYFLEET_SUPPORTSYSTEM_API_URL: url("supportsystem"),
        KEYFLEET_SUPPORTSYSTEM_URL: url("supportsystem"),
        KEYFLEET_MYSQL_DATABASE: env.KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE || "keyfleet_helpdesk",
    };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    for (const [key, value] of Object.entries(localStackEnv())) console.log(`export ${key}='${value.replace(/'/g, "'\\''")}'`);
}
