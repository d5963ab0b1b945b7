// The local stack's endpoints, in one place: stacks/Pulumi.local.yaml holds no URL and no database
// name; each sandbox (sandbox/index.ts) says which settings point at it, and they follow its port
// (the KEYFLEET_SANDBOX_*_PORT that move it), given as the settings' environment fallbacks.
// scripts/keyfleet.sh evals what this prints (`export K='v'` lines) for commands on the local stack,
// and scripts/validate.ts applies the same when it checks the local stack.
import { fileURLToPath } from "node:url";
import { sandboxes } from "../sandbox/index.ts";

export function localStackEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    return Object.assign({}, ...sandboxes.map((sb) => sb.localStack(`http://127.0.0.1:${env[sb.portEnv] || sb.port}`, env)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    for (const [key, value] of Object.entries(localStackEnv())) console.log(`export ${key}='${value.replace(/'/g, "'\\''")}'`);
}
