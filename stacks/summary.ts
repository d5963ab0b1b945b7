// Prints what a stack manages after `npm run up`: one line per key, key values masked (they are
// secret outputs; `pulumi stack output keys --show-secrets` shows them to whoever holds the passphrase).
// It reads only the fields every vendor's keys share (id, created, note) and the common state
// fields where a vendor has them, so it needs no change when a vendor is added.
import { execFileSync } from "node:child_process";

type Key = {
    id?: string;
    currentId?: string;
    fingerprint?: string;
    created?: string;
    expires?: string | null;
    note?: string | null;
    nextRotation?: string | null;
    previousRetireAt?: string | null;
} & Record<string, unknown>;

const stack = process.argv[2] ?? "local";
const out = JSON.parse(execFileSync("pulumi", ["stack", "output", "--json", "--stack", stack], { encoding: "utf8" })) as { keys?: Record<string, Key> };
const keys = Object.entries(out.keys ?? {});
console.log(`\nkeyfleet: stack ${stack} manages ${keys.length} key${keys.length === 1 ? "" : "s"}`);
const width = Math.max(0, ...keys.map(([resource]) => resource.length));

function state(k: Key): string {
    if (k.revoked === true) return "revoked";
    if (k.enabled === false || k.active === false || k.status === "inactive") return "disabled";
    if (k.expires && Date.parse(k.expires) <= Date.now()) return "expired";
    return "active";
}

for (const [resource, k] of keys) {
    const expires = k.expires ? `, expires ${k.expires.slice(0, 10)}` : "";
    const note = k.note ? ` (${k.note})` : "";
    const next = k.nextRotation ? `, next rotation ${k.nextRotation.slice(0, 10)}` : ", next rotation: none";
    const previous = k.previousRetireAt ? `; previous key valid until ${k.previousRetireAt}` : "";
    // currentId: after a rotation with overlap the resource id is the first key's until a refresh.
    console.log(`  ${resource.padEnd(width)} ${k.currentId ?? k.id ?? k.fingerprint ?? ""}  ${state(k)}${expires}, created ${k.created ?? "?"}${next}${previous}  value: [secret]${note}`);
}
console.log(`\nkey values: npm run pulumi -- stack output keys --show-secrets --stack ${stack}`);
