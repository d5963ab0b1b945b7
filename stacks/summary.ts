// Prints what a stack manages after `npm run up`: one line per key, key values masked (they are
// secret outputs; `pulumi stack output keys --show-secrets` shows them to whoever holds the passphrase).
import { execFileSync } from "node:child_process";

const stack = process.argv[2] ?? "local";
const out = JSON.parse(execFileSync("pulumi", ["stack", "output", "--json", "--stack", stack], { encoding: "utf8" })) as {
    keys?: Record<string, { name: string; enabled?: boolean; revoked?: boolean; expires?: string | null; created: string; fingerprint?: string; id?: string }>;
};
const keys = Object.entries(out.keys ?? {});
console.log(`\nkeyfleet: stack ${stack} manages ${keys.length} key${keys.length === 1 ? "" : "s"}`);
const width = Math.max(0, ...keys.map(([resource]) => resource.length));
for (const [resource, k] of keys) {
    // Keys of vendors that cannot disable or revoke them have no such state to show.
    const state = typeof k.enabled === "boolean" || typeof k.revoked === "boolean" ? (k.revoked ? "revoked" : k.enabled ? "enabled" : "disabled") : undefined;
    const expires = k.expires ? `expires ${k.expires.slice(0, 10)}` : undefined;
    const what = [state, expires, `created ${k.created}`].filter(Boolean).join(", ");
    console.log(`  ${resource.padEnd(width)} ${k.fingerprint ?? k.id}  ${what}  value: [secret]`);
}
console.log(`\nkey values: npm run pulumi -- stack output keys --show-secrets --stack ${stack}`);
