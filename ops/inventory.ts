// The inventory of a stack's keys, one row per key: read from state (`pulumi stack export` without
// --show-secrets: secret outputs stay ciphertext and are never looked at), or, with `live`, asked
// of the vendors through each vendor's own provider (the dispatch the engine uses, configured with
// the stack's config), so no wire code exists twice. Rows hold only non-secret fields picked by name:
// whatever a vendor adds to its outputs, a key value cannot reach a report.
import { dispatch } from "../providers/dispatch.ts";
import { keySchedule, type RotationPolicy } from "../providers/shared/rotation.ts";
import { Settings } from "../providers/shared/settings.ts";
import { vendors } from "../providers/vendors.ts";
import { pulumiCli } from "./stacks.ts";
import { secretsPlan } from "./secrets.ts";

/** expires-before-rotation: the key stops working before keyfleet's next rotation replaces it (or nothing rotates it). */
export type KeyState = "active" | "disabled" | "revoked" | "expired" | "expires-before-rotation" | "overlapping" | "pending" | "missing";

export interface KeyRow {
    /** The resource name in the stack (`nexus/tenant/ci`). */
    resource: string;
    /** The vendor's section and product name. */
    vendor: string;
    system: string;
    kind: string;
    name: string;
    /** What tells apart the keys one YAML entry makes (SupportSystem's `ips:`: "ip 10.0.0.7"), or null. */
    variant: string | null;
    /** The key's non-secret id (a fingerprint where the vendor's id is the key itself). */
    id: string | null;
    state: KeyState;
    created: string | null;
    ageDays: number | null;
    expires: string | null;
    /** When keyfleet next replaces the key (rotation.every from creation, or the vendor's renewal), and why. */
    nextRotation: string | null;
    rotationWhy: string | null;
    /** The previous slot of a rotation that keeps the old key for a while, where the key has one. */
    previous: { id: string | null; retireAt: string | null } | null;
    /** The last delivery of the key value, where delivery outputs exist. */
    delivery: { result: string; at: string | null; target: string | null } | null;
    /** With --live: what the vendor said when it could not be read. */
    liveError?: string;
}

export interface StackInventory {
    stack: string;
    source: "state" | "live";
    keys: KeyRow[];
    /** Why the stack could not be read. */
    error?: string;
}

type Outputs = Record<string, unknown>;
interface StateResource {
    urn: string;
    type: string;
    id?: string;
    outputs?: Outputs;
    delete?: boolean;
    created?: string;
    modified?: string;
}

const DAY = 86_400_000;
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/** An instant from an ISO string or epoch seconds/ms; null when unreadable. */
function instant(v: unknown): string | null {
    if (typeof v === "number" && Number.isFinite(v) && v > 0) return new Date(v > 1e12 ? v : v * 1000).toISOString();
    const s = str(v);
    if (!s || Number.isNaN(Date.parse(s))) return null;
    return new Date(s).toISOString();
}

/** The key resources of an exported deployment (old halves of replacements pending deletion left out). */
export function keyResources(exported: { deployment?: { resources?: StateResource[] } }): StateResource[] {
    return (exported.deployment?.resources ?? []).filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/") && !r.delete);
}

function vendorOf(r: StateResource): string {
    return str(r.outputs?.vendor) ?? r.type.slice("pulumi-nodejs:dynamic/".length).split(":")[0];
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isSecret = (v: unknown) => Boolean(v && typeof v === "object" && (v as Outputs)[SECRET_SIG] !== undefined);

function previousSlot(o: Outputs): KeyRow["previous"] {
    // The slot itself is a secret output (it holds the old key); its retire time is a plain one.
    const retireAt = instant(o.previousRetireAt);
    const p = o.previous;
    if (!p || typeof p !== "object" || Array.isArray(p) || isSecret(p)) return retireAt ? { id: null, retireAt } : null;
    const slot = p as Outputs;
    // Only ids that the vendors' own outputs already show (resource ids, fingerprints), never a value.
    const id = str(slot.fingerprint) ?? str(slot.currentId) ?? str(slot.keyId) ?? str(slot.id);
    return { id, retireAt: instant(slot.retireAt) ?? retireAt };
}

function deliveryOf(o: Outputs): KeyRow["delivery"] {
    const one = (d: unknown, target: string | null = null): KeyRow["delivery"] => {
        if (!d || typeof d !== "object") return null;
        const x = d as Outputs;
        const result = str(x.result) ?? str(x.status) ?? str(x.outcome) ?? (x.ok === true ? "ok" : x.ok === false ? "failed" : null);
        if (!result) return null;
        return { result, at: instant(x.at) ?? instant(x.time) ?? instant(x.deliveredAt) ?? instant(x.lastAt), target: str(x.target) ?? str(x.to) ?? target };
    };
    const raw = o.delivery ?? o.lastDelivery ?? o.deliveries;
    const found: NonNullable<KeyRow["delivery"]>[] = [];
    if (Array.isArray(raw)) for (const d of raw) found.push(one(d)!);
    else if (raw && typeof raw === "object") {
        const direct = one(raw);
        if (direct) found.push(direct);
        // A map of targets, each with its own last result.
        else for (const [target, d] of Object.entries(raw)) found.push(one(d, target)!);
    }
    const all = found.filter(Boolean);
    if (all.length === 0) return null;
    // The latest; a failure among several targets shows before successes of the same time.
    return all.sort((a, b) => (Date.parse(b.at ?? "") || 0) - (Date.parse(a.at ?? "") || 0))[0];
}

type Renewal = (state: unknown, inputs: unknown, now: number) => string | undefined;

/**
 * One row from a key's outputs (state's, or the vendor's as read live). Expiry and standing are read
 * where the vendor's descriptor says (keyOutputs); the schedule is keySchedule's, as up's summary shows it.
 */
export function keyRow(resource: string, vendor: string, id: string | null, o: Outputs, now: number, renewal?: Renewal, kind?: string): KeyRow {
    const descriptor = vendors.find((v) => v.section === vendor);
    const spec = descriptor?.keyOutputs;
    const created = instant(o.created);
    const previous = previousSlot(o);
    const rotation = (o.rotation && typeof o.rotation === "object" ? o.rotation : null) as RotationPolicy | null;
    const schedule = keySchedule({
        standing: spec ? spec.standing(o) : "active",
        expires: spec?.expires ? instant(o[spec.expires]) : null,
        created,
        rotation,
        recordedNext: "nextRotation" in o ? instant(o.nextRotation) : undefined,
        renewal: renewal ? (t) => renewal(o, o, t) : undefined,
        now,
    });
    let state: KeyState = schedule.standing;
    if (o.pending) state = "pending";
    else if (state === "active" && schedule.expiresFirst) state = "expires-before-rotation";
    else if (state === "active" && previous && (!previous.retireAt || Date.parse(previous.retireAt) > now)) state = "overlapping";
    const variant = spec?.variant ? str(o[spec.variant]) : null;
    return {
        resource,
        vendor,
        system: descriptor?.title ?? vendor,
        kind: kind ?? str(o.kind) ?? "key",
        name: str(o.name) ?? resource,
        variant: variant && spec?.variant ? `${spec.variant} ${variant}` : null,
        id: str(o.currentId) ?? str(o.fingerprint) ?? id,
        state,
        created,
        ageDays: created ? Math.floor((now - Date.parse(created)) / DAY) : null,
        expires: schedule.expires,
        nextRotation: schedule.next?.at ?? null,
        rotationWhy: schedule.next?.why ?? null,
        previous,
        delivery: deliveryOf(o),
    };
}

async function renewalOf(vendor: string): Promise<Renewal | undefined> {
    const descriptor = vendors.find((v) => v.section === vendor);
    if (!descriptor) return undefined;
    const provider = await descriptor.provider();
    const expiry = provider.vendor?.expiry;
    return expiry?.renewal ? (s, i, now) => expiry.renewal!(s, i, now) : undefined;
}

/** State as `stack export --show-secrets` writes it, with each secret's plaintext in its place (for the provider only). */
function unwrapSecrets(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (!v || typeof v !== "object") return v;
    const o = v as Outputs;
    if (o[SECRET_SIG] !== undefined && typeof o.plaintext === "string") return unwrapSecrets(JSON.parse(o.plaintext));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
}

/**
 * The deliveries of each key, from state: every consumer is a command.local.Command named
 * `<key>/deliver/<consumer>` (providers/shared/delivery.ts). The engine records no failed step, so a
 * failure shows as its consequence: the replaced key still in state, pending deletion, because the
 * engine deletes it only after an up in which every delivery succeeded.
 */
export function deliveriesFromState(resources: StateResource[]): Map<string, NonNullable<KeyRow["delivery"]>> {
    const consumers = new Map<string, { names: string[]; at: number }>();
    for (const r of resources) {
        if (r.type !== "command:local:Command" || r.delete) continue;
        const name = r.urn.split("::").pop()!;
        const cut = name.lastIndexOf("/deliver/");
        if (cut < 0) continue;
        const key = name.slice(0, cut);
        const entry = consumers.get(key) ?? { names: [], at: 0 };
        entry.names.push(name.slice(cut + "/deliver/".length));
        entry.at = Math.max(entry.at, Date.parse(r.modified ?? r.created ?? "") || 0);
        consumers.set(key, entry);
    }
    const held = new Set(resources.filter((r) => r.delete && r.type.startsWith("pulumi-nodejs:dynamic/")).map((r) => r.urn.split("::").pop()!));
    // With an overlap the key is rotated in place (nothing pending deletion): the stack's keyIds
    // output records the key every consumer last had, written only by a run whose deliveries all
    // succeeded; a current key other than that one has not reached every consumer yet.
    const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
    const recorded = (stack?.outputs?.keyIds ?? {}) as Record<string, { id?: string }>;
    for (const r of resources) {
        if (r.delete || !r.type.startsWith("pulumi-nodejs:dynamic/")) continue;
        const name = r.urn.split("::").pop()!;
        const current = str(r.outputs?.currentId);
        const last = recorded[name]?.id;
        if (current && last && current !== last) held.add(name);
    }
    const out = new Map<string, NonNullable<KeyRow["delivery"]>>();
    for (const [key, c] of consumers) {
        out.set(key, {
            result: held.has(key) ? "incomplete: the replaced key is kept until every consumer has the new one" : "ok",
            at: c.at ? new Date(c.at).toISOString() : null,
            target: c.names.sort().join(", "),
        });
    }
    return out;
}

function kindOf(r: StateResource): string {
    return r.type.split(":").pop() ?? "key";
}

/** The inventory of one stack; `dir` is the Pulumi project folder, the backend PULUMI_BACKEND_URL's. */
export async function inventory(stack: string, options: { dir: string; live?: boolean; now?: number }): Promise<StackInventory> {
    const now = options.now ?? Date.now();
    const source = options.live ? "live" : "state";
    let env: Record<string, string>;
    let exported: { deployment?: { resources?: StateResource[] } };
    try {
        // Only live reads decrypt (--show-secrets): a state-only report of a passphrase stack needs no passphrase.
        env = secretsPlan(options.dir, stack, { require: Boolean(options.live) }).env;
        // Live reads need the key values a vendor's read goes by (a Nexus key is its own id): they
        // stay in this process's memory, handed to the provider, and never reach a row.
        const args = ["stack", "export", "--stack", stack, ...(options.live ? ["--show-secrets"] : [])];
        exported = JSON.parse(await pulumiCli(options.dir, args, env));
    } catch (err) {
        return { stack, source, keys: [], error: (err as Error).message };
    }
    const renewals = new Map<string, Renewal | undefined>();
    const rows: KeyRow[] = [];
    let provider: ReturnType<typeof dispatch> | undefined;
    let liveConfig: Record<string, { value?: string }> | undefined;
    if (options.live) {
        let config: Record<string, { value?: string }>;
        try {
            config = JSON.parse(await pulumiCli(options.dir, ["config", "--show-secrets", "--json", "--stack", stack], env));
        } catch (err) {
            return { stack, source, keys: [], error: (err as Error).message };
        }
        provider = dispatch();
        await provider.configure({ config: { get: (k: string) => config[k]?.value } } as never);
        liveConfig = config;
    }
    const delivered = deliveriesFromState(exported.deployment?.resources ?? []);
    for (const r of keyResources(exported)) {
        const vendor = vendorOf(r);
        if (!renewals.has(vendor)) renewals.set(vendor, await renewalOf(vendor).catch(() => undefined));
        const resource = r.urn.split("::").pop()!;
        // KIND is the resource type's name for every vendor (TenantKey, IntegrationKey), never a vendor's own `kind` output.
        const kind = kindOf(r);
        const stateOutputs = r.outputs ?? {};
        if (!provider) {
            rows.push(keyRow(resource, vendor, r.id ?? null, stateOutputs, now, renewals.get(vendor), kind));
            continue;
        }
        try {
            const read = await provider.read(r.id ?? "", { ...(unwrapSecrets(stateOutputs) as Outputs), vendor } as never);
            if (!read.id) {
                rows.push({ ...keyRow(resource, vendor, r.id ?? null, stateOutputs, now, undefined, kind), state: "missing", nextRotation: null, rotationWhy: null });
            } else {
                rows.push(keyRow(resource, vendor, read.id, read.props as Outputs, now, renewals.get(vendor), kind));
            }
        } catch (err) {
            rows.push({ ...keyRow(resource, vendor, r.id ?? null, stateOutputs, now, renewals.get(vendor), kind), liveError: String((err as Error).message).split("\n")[0] });
        }
    }
    if (options.live && liveConfig) {
        // A vendor whose keys are read from state (BeyondTrust) is asked its own health, once per stack.
        const settings = new Settings();
        settings.configure({ get: (k: string) => liveConfig![k]?.value });
        for (const v of vendors) {
            if (!v.health || !rows.some((row) => row.vendor === v.section && !row.liveError)) continue;
            const problem = await v.health(settings);
            if (problem) for (const row of rows) if (row.vendor === v.section && !row.liveError) row.liveError = problem;
        }
    }
    for (const row of rows) row.delivery ??= delivered.get(row.resource) ?? null;
    return { stack, source, keys: rows };
}
