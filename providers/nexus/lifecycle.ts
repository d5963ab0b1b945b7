// Genesys Digital Channels ("Nexus") API keys: the narrow lifecycle the core's key provider drives
// (providers/shared/provider.ts), the inputs and outputs of a key resource, and its connection. One
// lifecycle serves the three key kinds; they differ in the tenant they belong to, the permissions
// they may hold and the GWS login that manages them.
//
// The key value is the record's id. Pulumi keeps resource ids in plain text, so the resource id is
// a fingerprint of the key (`nxk_…`) and the key itself is the secret output `apiKey`.
//
// Reads go through one paged walk of the login's key list shared by every key of the process
// (providers/shared/snapshot.ts), forgotten after every write: a refresh of N keys costs the list's
// pages, not N calls. A key missing from a list that may be cut is asked for by itself.
import { z } from "zod";
import { short, VendorError } from "../shared/errors.ts";
import type { FieldValues } from "../shared/fields.ts";
import type { CoreInputs, CoreOutputs, VendorKeys } from "../shared/contract.ts";
import { keyProvider } from "../shared/provider.ts";
import { judge } from "../shared/probe.ts";
import { Snapshot } from "../shared/snapshot.ts";
import { Rotation } from "../shared/rotation.ts";
import { fingerprint, type Settings } from "../shared/settings.ts";
import { NexusClient, type NexusKey, type NexusKeyChanges, type NexusLogin, type NexusRequestStyle } from "./client.ts";
import { ADOPT, NEXUS_FIELDS, NEXUS_KIND_PERMISSIONS, NEXUS_PERMISSION_FORM, NEXUS_SETTINGS, NexusName, type NexusKeyKind, FINGERPRINT_PREFIX, NEXUS_KEY_OUTPUTS, NEXUS_SECRET_OUTPUTS } from "./schema.ts";

/** The core's inputs and the vendor fields nexusFields declares (schema.ts documents each). */
export type NexusKeyInputs = CoreInputs & FieldValues<typeof NEXUS_FIELDS.table>;

export interface NexusKeyOutputs extends NexusKeyInputs, CoreOutputs {
    /** The API key (the Nexus record id). Secret. */
    apiKey: string;
    /** A non-secret name for the key, also the resource id. */
    fingerprint: string;
    /** The GWS user that created the key. */
    createdBy: string;
    /** Requests the key may make per `frequency` seconds. Read-only. */
    capacity: number;
    /** The rate-limit window in seconds. Read-only. */
    frequency: number;
}


const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The inputs `check` accepts: the YAML's field schemas, plus what the program derives (kind, tenant). */
const { kind, tenant, ...vendorFields } = NEXUS_FIELDS.inputShape;
const NexusInputs = z
    // In this order, so that check's refusals are listed as before: what the program derives first.
    .object({ kind, tenant, name: NexusName, ...vendorFields, rotation: Rotation.nullish(), adopt: ADOPT.nullish() })
    .superRefine((raw, ctx) => {
        const v = raw as { kind: NexusKeyKind; tenant: string; permissions: string[] };
        if (v.kind === "cluster" ? v.tenant !== "*" : !UUID.test(v.tenant)) {
            ctx.addIssue({ code: "custom", path: ["tenant"], message: v.kind === "cluster" ? 'a cluster key\'s tenant is "*"' : "must be a contact center id (a UUID)" });
        }
        for (const p of v.permissions) {
            const allowed = NEXUS_KIND_PERMISSIONS[v.kind];
            // A tenant key may hold what the stack setting nexus.permissions adds; the program checked
            // those against the setting before any call, so here only their form is.
            if (v.kind === "tenant" ? NEXUS_PERMISSION_FORM.test(p) : allowed.includes(p)) continue;
            ctx.addIssue({ code: "custom", path: ["permissions"], message: `unknown permission "${p}" for a ${v.kind} key; expected ${allowed.join(" or ")}` });
        }
    });

interface Connection {
    client: NexusClient;
    login: NexusLogin;
    /** The probe's stack settings (rotation.verify). */
    probe: { url?: string; expect: string };
}

function connect(settings: Settings, key: NexusKeyInputs): Connection {
    const [authUrl, nexusUrl, clientId, tenantUser, opsUser, clientSecret, tenantPassword, opsPassword, requestStyle, , probeUrl, probeExpect] = NEXUS_SETTINGS;
    const client = new NexusClient({
        authUrl: settings.require(authUrl),
        nexusUrl: settings.require(nexusUrl),
        clientId: settings.require(clientId),
        clientSecret: settings.require(clientSecret),
        style: settings.require(requestStyle) as NexusRequestStyle,
    });
    const login =
        key.kind === "cluster"
            ? { username: settings.require(opsUser), password: settings.require(opsPassword) }
            : { username: `${key.tenant}\\${settings.require(tenantUser)}`, password: settings.require(tenantPassword) };
    return { client, login, probe: { url: settings.get(probeUrl), expect: settings.require(probeExpect) } };
}

// Keyed by Nexus URL and login: a tenant user and the ops admin see different keys.
const keyLists = new Snapshot<{ byId: Map<string, NexusKey>; complete: boolean }>();

/** Forgets the key lists after a write (answered or not), so that no read sees the world before it. */
async function writing<T>(work: () => Promise<T>): Promise<T> {
    try {
        return await work();
    } finally {
        keyLists.forget();
    }
}

async function listed({ client, login }: Connection, id: string): Promise<NexusKey | undefined> {
    const listing = await keyLists.get(`${client.url}\0${login.username}`, async () => {
        const { keys, complete } = await client.listPages(login);
        return { byId: new Map(keys.map((k) => [k.id, k])), complete };
    });
    const found = listing.byId.get(id);
    if (found || listing.complete) return found;
    return client.get(login, id);
}

const iso = (value: string) => new Date(value).toISOString();

/**
 * The keys of a listing that match. A listing that may be cut (Nexus answered the same page of 10
 * or 100 again, ignoring paging) cannot prove a key absent: the core would take a lost create for
 * never made, or a pending key for gone, so "not there" is refused instead of answered.
 */
function seen(listing: { keys: NexusKey[]; complete: boolean }, match: (k: NexusKey) => boolean, what: string): NexusKey[] {
    const found = listing.keys.filter(match);
    if (found.length === 0 && !listing.complete) {
        throw new VendorError("invalidAnswer", `Nexus listed ${listing.keys.length} keys and ignored paging, so the list may be cut; ${what} is not in it`, {
            hint: "keyfleet will not take a key missing from a possibly cut list as gone; check the key in Nexus's admin UI, or raise the list's page size there, and run again",
        });
    }
    return found;
}

export const nexusLifecycle: VendorKeys<NexusKeyInputs, NexusKeyOutputs, NexusKey, Connection> = {
    model: {
        standing: NEXUS_KEY_OUTPUTS.standing,
        secretOutputs: NEXUS_SECRET_OUTPUTS,
        title: "Nexus",
        fields: {
            immutable: NEXUS_FIELDS.immutable,
            mutable: ["name", ...NEXUS_FIELDS.mutable],
            local: ["rotation", "adopt", ...NEXUS_FIELDS.local],
            oneWay: NEXUS_FIELDS.oneWay,
        },
        schema: NexusInputs,
        normalize: (news) => NEXUS_FIELDS.normalize(news),
        describe(k) {
            return k.kind === "cluster" ? `Nexus cluster key "${k.name}"` : `Nexus ${k.kind} key "${k.name}" for tenant ${short(k.tenant)}`;
        },
        outputs(_inputs, key) {
            return {
                tenant: key.tenant,
                name: key.name,
                permissions: [...key.permissions].sort(),
                enabled: key.enabled,
                revoked: key.revoked,
                expires: key.expires === false ? null : iso(key.expires),
                apiKey: key.id,
                fingerprint: fingerprint(FINGERPRINT_PREFIX, key.id),
                created: key.created,
                createdBy: key.createdby,
                capacity: key.capacity,
                frequency: key.frequency,
            };
        },
        resourceId(key) {
            return fingerprint(FINGERPRINT_PREFIX, key.id);
        },
        fixes: {
            creating: {
                conflict: "rename it or adopt it (adopt: true in the YAML)",
                forbidden: "the GWS user may not manage this key; cluster keys need the ops admin, tenant keys a user of that contact center",
            },
            updating: {
                conflict: "Nexus refused the change: names are unique per tenant, and a revoked key cannot be reinstated (set revoked: true, or remove adopt to get a new key)",
            },
            adopting: { conflict: "Nexus refused the change: names are unique per tenant" },
        },
    },
    backend: {
        connect,
        async create({ client, login }, { inputs }) {
            // POST takes only the documented fields; expiry and revocation follow as an update (the core's).
            return writing(() => client.create(login, { enabled: inputs.enabled, tenant: inputs.tenant, name: inputs.name, permissions: inputs.permissions }));
        },
        async read(c, { state }) {
            return listed(c, state.apiKey);
        },
        async update({ client, login }, { state, changes }) {
            const body: NexusKeyChanges = {};
            if (changes.name !== undefined) body.name = changes.name;
            if (changes.enabled !== undefined) body.enabled = changes.enabled;
            if (changes.revoked !== undefined) body.revoked = changes.revoked;
            // Nexus says "never expires" with false, where state holds null.
            if ("expires" in changes) body.expires = changes.expires ?? false;
            return writing(() => client.update(login, state.apiKey, body));
        },
        async delete({ client, login }, { state }) {
            await writing(() => client.delete(login, state.apiKey));
        },
    },
    discovery: {
        async find({ client, login }, { inputs }) {
            return seen(await client.listPages(login), (k) => k.tenant === inputs.tenant && k.name === inputs.name, `a key named "${inputs.name}"`);
        },
        async findById({ client, login }, adopt) {
            // adopt takes a fingerprint only: for Nexus the id is the key, which never belongs in the YAML.
            return seen(await client.listPages(login), (k) => fingerprint(FINGERPRINT_PREFIX, k.id) === adopt, `key ${adopt}`)[0];
        },
        madeByUs({ login }, r) {
            // Nexus records who made a key: a lost create of ours was made by our login.
            return r.createdby === login.username;
        },
        adopts(r, adopt) {
            return fingerprint(FINGERPRINT_PREFIX, r.id) === adopt;
        },
        adoptable(r, inputs) {
            if (r.tenant !== inputs.tenant) return `key ${fingerprint(FINGERPRINT_PREFIX, r.id)} belongs to another tenant`;
            const theirs = [...r.permissions].sort();
            if (JSON.stringify(theirs) !== JSON.stringify(inputs.permissions)) {
                return (
                    `its permissions are [${theirs.join(", ")}], the YAML says [${inputs.permissions.join(", ")}]; ` +
                    "permissions cannot change, so make the YAML match or drop adopt to create a new key"
                );
            }
            return undefined;
        },
        clockOffset(c) {
            return c.client.clockOffset();
        },
    },
    uniqueNames: {
        nameMax: 255,
        async rename({ client, login }, key, name) {
            await writing(() => client.update(login, key.id, { name }));
        },
    },
    expiry: {
        async expire({ client, login }, { state, at }) {
            // Only ever earlier: a key already expiring before the overlap ends keeps its own expiry.
            if (state.expires && Date.parse(state.expires) <= Date.parse(at)) return;
            await writing(() => client.update(login, state.apiKey, { expires: at }));
        },
    },
    verify: {
        async probe({ client, probe }, { state }) {
            // The YAML's rules refuse verify: true without probeUrl; a provider run outside the program is told the same.
            if (!probe.url) throw new Error("keyfleet:nexus.probeUrl is not set (nor KEYFLEET_NEXUS_PROBE_URL): verify: true needs a read-only call this key's permission allows");
            return judge(await client.probe(state.apiKey, probe.url), probe.expect, state.apiKey);
        },
    },
};

export const provider = keyProvider(nexusLifecycle);
