// Prints "section port needs" for each vendor's sandbox (honouring the port variables; needs is a
// comma-separated list or "-"), for scripts/keyfleet.sh, which starts the sandboxes that are not
// listening yet and, first, the services they need.
import { sandboxes } from "../sandbox/index.ts";

for (const sb of sandboxes) console.log(`${sb.section} ${process.env[sb.portEnv] ?? sb.port} ${sb.needs.join(",") || "-"}`);
