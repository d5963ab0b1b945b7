// Prints "section port" for each vendor's sandbox (honouring the port variables), for
// scripts/keyfleet.sh, which starts the sandboxes that are not listening yet.
import { vendors } from "../providers/vendors.ts";

for (const v of vendors) console.log(`${v.section} ${process.env[v.sandbox.portEnv] ?? v.sandbox.port}`);
