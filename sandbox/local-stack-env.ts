// The local stack's endpoints, in one place: stacks/Pulumi.local.yaml holds no URL and no database
// name; each sandbox (index.ts) says which settings point at it, and they follow its port (the
// KEYFLEET_SANDBOX_*_PORT that move it), given as the settings' environment fallbacks.
// The CLI (scripts/services.ts) asks this file as a child process, never by import, so that nothing
// outside sandbox/, test/ and bench/ loads a sandbox module:
//   node sandbox/local-stack-env.ts          `export K='v'` lines of the local stack's settings
//   node sandbox/local-stack-env.ts --json   {"env": {…}, "sandboxes": [{section, port, portEnv, title, needs}]}
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { sandboxes } from "./index.ts";

export function localStackEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    return Object.assign({}, ...sandboxes.map((sb) => sb.localStack(`http://127.0.0.1:${env[sb.portEnv] || sb.port}`, env)));
}

// Run as a program (by its real path: a scratch copy of the project links sandbox/ in).
if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
    if (process.argv.includes("--help") || process.argv.includes("-h")) {
        console.log("usage: node sandbox/local-stack-env.ts [--json]\n  The local stack's settings that point at the sandboxes, as export lines (or JSON, with the sandbox list).");
    } else if (process.argv.includes("--json")) {
        const list = sandboxes.map(({ section, port, portEnv, title, needs }) => ({ section, port, portEnv, title, needs }));
        process.stdout.write(`${JSON.stringify({ env: localStackEnv(), sandboxes: list })}\n`);
    } else {
        for (const [key, value] of Object.entries(localStackEnv())) console.log(`export ${key}='${value.replace(/'/g, "'\\''")}'`);
    }
}
