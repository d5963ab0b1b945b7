// Prints what a stack manages after `npm run up`: one line per key, key values masked (they are
// secret outputs; `pulumi stack output keys --show-secrets` shows them to whoever can decrypt the stack: its passphrase or its KMS).
// It reads state (`pulumi stack export`, secrets left encrypted) rather than the stack's `keys`
// output, because a vendor's renewal needs the key's inputs (BeyondTrust's renewBefore, ttl), and
// the schedule is keySchedule's (providers/shared/rotation.ts), the one the report shows: a key
// the vendor renews tomorrow says tomorrow, a revoked or disabled key has no next rotation.
import { execFileSync } from "node:child_process";
import { keySchedule, type RotationPolicy } from "../providers/shared/rotation.ts";
import { vendors } from "../providers/vendors.ts";

type Outputs = Record<string, unknown>;
interface StateResource {
    urn: string;
    type: string;
    id?: string;
    outputs?: Outputs;
    delete?: boolean;
}

const KEY_TYPE = "pulumi-nodejs:dynamic/";
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** One line of the summary; `renewal` is the vendor lifecycle's, where it has one. */
export function summaryLine(resource: string, vendor: string, o: Outputs, now: number, width: number, renewal?: (state: unknown, inputs: unknown, now: number) => string | undefined): string {
    const spec = vendors.find((v) => v.section === vendor)?.keyOutputs;
    const s = keySchedule({
        standing: spec ? spec.standing(o) : "active",
        expires: spec?.expires ? str(o[spec.expires]) : null,
        created: str(o.created),
        rotation: (o.rotation && typeof o.rotation === "object" ? o.rotation : null) as RotationPolicy | null,
        recordedNext: "nextRotation" in o ? str(o.nextRotation) : undefined,
        renewal: renewal ? (t) => renewal(o, o, t) : undefined,
        now,
    });
    const state = s.expiresFirst ? `${s.standing}, EXPIRES BEFORE ITS NEXT ROTATION` : s.standing;
    const expires = s.expires ? `, expires ${s.expires.slice(0, 10)}` : "";
    const note = str(o.note) ? ` (${o.note})` : "";
    const next = s.next ? `, next rotation ${s.next.at.slice(0, 10)} (${s.next.why})` : ", next rotation: none";
    const previous = str(o.previousRetireAt) ? `; previous key valid until ${o.previousRetireAt}` : "";
    const variant = spec?.variant && str(o[spec.variant]) ? ` [${spec.variant} ${o[spec.variant]}]` : "";
    // currentId: after a rotation with overlap the resource id is the first key's until a refresh.
    const id = str(o.currentId) ?? str(o.fingerprint) ?? "";
    return `  ${resource.padEnd(width)} ${id}${variant}  ${state}${expires}, created ${str(o.created) ?? "?"}${next}${previous}  value: [secret]${note}`;
}

async function main() {
    const stack = process.argv[2] ?? "local";
    const exported = JSON.parse(execFileSync("pulumi", ["stack", "export", "--stack", stack], { encoding: "utf8", maxBuffer: 256 << 20 })) as { deployment?: { resources?: StateResource[] } };
    const keys = (exported.deployment?.resources ?? []).filter((r) => r.type.startsWith(KEY_TYPE) && !r.delete);
    console.log(`\nkeyfleet: stack ${stack} manages ${keys.length} key${keys.length === 1 ? "" : "s"}`);
    const width = Math.max(0, ...keys.map((r) => r.urn.split("::").pop()!.length));
    const now = Date.now();
    for (const r of keys) {
        const o = r.outputs ?? {};
        const vendor = str(o.vendor) ?? r.type.slice(KEY_TYPE.length).split(":")[0];
        const descriptor = vendors.find((v) => v.section === vendor);
        const expiry = descriptor ? (await descriptor.provider()).vendor?.expiry : undefined;
        const renewal = expiry?.renewal ? (st: unknown, i: unknown, t: number) => expiry.renewal!(st, i, t) : undefined;
        console.log(summaryLine(r.urn.split("::").pop()!, vendor, o, now, width, renewal));
    }
    console.log(`\nkey values: npm run pulumi -- stack output keys --show-secrets --stack ${stack}`);
}

if (import.meta.main) await main();
