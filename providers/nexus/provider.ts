// Genesys Digital Channels ("Nexus") API keys as a Pulumi dynamic provider: the schema (inputs and
// outputs), the CRUD, adoption of an existing key, and rotation. One provider serves the three key
// kinds; they differ in the tenant they belong to, the permissions they may hold and the GWS login
// that manages them.
//
// The key value is the record's id. Pulumi keeps resource ids in plain text, so the resource id is
// a fingerprint of the key (`nxk_…`) and the key itself is the secret output `apiKey`.
import type * as pulumi from "@pulumi/pulumi";
import { operationFailed, short, VendorError } from "../shared/errors.ts";
import { planDiff, same, type FieldSpec } from "../shared/diff.ts";
import { DURATION_PATTERN, type RotationPolicy } from "../shared/rotation.ts";
import { fingerprint, Settings } from "../shared/settings.ts";
import { NexusClient, type NexusKey, type NexusKeyChanges, type NexusLogin } from "./client.ts";

export type NexusKeyKind = "tenant" | "cluster" | "designer";

/** Permissions each kind may hold: the three the vendor documents. */
export const NEXUS_KIND_PERMISSIONS: Record<NexusKeyKind, readonly string[]> = {
    tenant: ["nexus:consumer:chat", "nexus:designer:chat"],
    cluster: ["nexus:cluster:*"],
    designer: ["nexus:designer:chat"],
};

export interface NexusKeyInputs {
    /** Which Nexus key this is: a tenant key, a cluster (multi-tenant) key or a Designer key. Immutable. */
    kind: NexusKeyKind;
    /** The contact center id the key belongs to, or `*` for a cluster key. Immutable. */
    tenant: string;
    /** The key's name in Nexus, unique within its tenant. */
    name: string;
    /** What the key may do, e.g. `nexus:consumer:chat`. Immutable: a change replaces the key. */
    permissions: string[];
    /** A disabled key is refused by Nexus but kept. */
    enabled: boolean;
    /** A revoked key is refused for good; clearing the flag replaces the key with a new one. */
    revoked: boolean;
    /** When the key stops working (ISO 8601), or null for never. */
    expires: string | null;
    /** When keyfleet replaces the key; see providers/shared/rotation.ts. */
    rotation: RotationPolicy | null;
    /** On creation, take over an existing key instead of making one: `true` for the key with this name, or its fingerprint. */
    adopt: true | string | null;
}

export interface NexusKeyOutputs extends NexusKeyInputs {
    /** The API key (the Nexus record id). Secret. */
    apiKey: string;
    /** A non-secret name for the key, also the resource id. */
    fingerprint: string;
    /** When Nexus created the key; rotation by age counts from here. */
    created: string;
    /** The GWS user that created the key. */
    createdBy: string;
    /** Requests the key may make per `frequency` seconds. Read-only. */
    capacity: number;
    /** The rate-limit window in seconds. Read-only. */
    frequency: number;
}

export const NEXUS_FIELDS: FieldSpec<NexusKeyInputs> = {
    immutable: ["kind", "tenant", "permissions"],
    mutable: ["name", "enabled", "revoked", "expires"],
    local: ["rotation"],
    oneWay: ["revoked"],
};

export const NEXUS_SECRET_OUTPUTS = ["apiKey"] as const;

export const FINGERPRINT_PREFIX = "nxk_";
export const FINGERPRINT_PATTERN = /^nxk_[0-9a-f]{16}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const settings = new Settings();

/** Nexus endpoints and login names from `keyfleet:nexus`, secrets from their own secret keys or the environment. */
function connection(): { client: NexusClient; login(kind: NexusKeyKind, tenant: string): NexusLogin } {
    const nexus = settings.object("keyfleet:nexus");
    const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
    const authUrl = str(nexus.authUrl) ?? process.env.KEYFLEET_NEXUS_AUTH_URL;
    const nexusUrl = str(nexus.nexusUrl) ?? process.env.KEYFLEET_NEXUS_URL;
    if (!authUrl || !nexusUrl) {
        throw new Error("keyfleet:nexus.authUrl and keyfleet:nexus.nexusUrl are not set; add them to the stack's Pulumi.<stack>.yaml");
    }
    const clientSecret = settings.require("keyfleet:nexusClientSecret", "KEYFLEET_NEXUS_CLIENT_SECRET");
    const client = new NexusClient({ authUrl, nexusUrl, clientId: str(nexus.clientId) ?? "nexus_client", clientSecret });
    return {
        client,
        login(kind, tenant) {
            if (kind === "cluster") {
                return {
                    username: str(nexus.opsUser) ?? process.env.KEYFLEET_NEXUS_OPS_USER ?? "ops",
                    password: settings.require("keyfleet:nexusOpsPassword", "KEYFLEET_NEXUS_OPS_PASSWORD"),
                };
            }
            const user = str(nexus.tenantUser) ?? process.env.KEYFLEET_NEXUS_TENANT_USER ?? "nexus";
            return {
                username: `${tenant}\\${user}`,
                password: settings.require("keyfleet:nexusTenantPassword", "KEYFLEET_NEXUS_TENANT_PASSWORD"),
            };
        },
    };
}

function describe(k: Pick<NexusKeyInputs, "kind" | "name" | "tenant">): string {
    return k.kind === "cluster" ? `Nexus cluster key "${k.name}"` : `Nexus ${k.kind} key "${k.name}" for tenant ${short(k.tenant)}`;
}

type Operation = "creating" | "adopting" | "reading" | "updating" | "deleting";

/** What to do about a vendor status, for the operation that got it. */
function fixFor(operation: Operation): (status: number) => string | undefined {
    return (status) => {
        switch (status) {
            case 400:
                return "Nexus rejected the request; check the key's entry in the YAML";
            case 401:
                return "check the GWS login and client secret in the stack config";
            case 403:
                return "the GWS user may not manage this key; cluster keys need the ops admin, tenant keys a user of that contact center";
            case 404:
                return "the key is gone from Nexus; run `pulumi refresh` to drop it from state";
            case 409:
                return operation === "creating"
                    ? "rename it or adopt it (adopt: true in the YAML)"
                    : "Nexus refused the change: names are unique per tenant, and a revoked key cannot be reinstated (set revoked: true, or remove adopt to get a new key)";
            default:
                return status >= 500 ? "Nexus failed; try again later" : undefined;
        }
    };
}

/** Inputs with every field present and in one canonical form, so that diffs compare like with like. */
export function normalize(news: Partial<NexusKeyInputs>): NexusKeyInputs {
    return {
        kind: news.kind as NexusKeyKind,
        tenant: news.kind === "cluster" ? "*" : String(news.tenant ?? ""),
        name: String(news.name ?? ""),
        permissions: [...new Set(news.permissions ?? [])].sort(),
        enabled: news.enabled ?? true,
        revoked: news.revoked ?? false,
        expires: news.expires ? new Date(news.expires).toISOString() : null,
        rotation: news.rotation && (news.rotation.every || news.rotation.generation !== undefined) ? { ...news.rotation } : null,
        adopt: news.adopt ?? null,
    };
}

function validate(news: Partial<NexusKeyInputs>): pulumi.dynamic.CheckFailure[] {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const kind = news.kind as NexusKeyKind;
    if (!(kind in NEXUS_KIND_PERMISSIONS)) {
        return [{ property: "kind", reason: `kind must be one of ${Object.keys(NEXUS_KIND_PERMISSIONS).join(", ")}` }];
    }
    if (kind !== "cluster" && !UUID.test(String(news.tenant ?? ""))) failures.push({ property: "tenant", reason: "tenant must be a contact center id (a UUID)" });
    if (kind === "cluster" && news.tenant !== undefined && news.tenant !== "*") failures.push({ property: "tenant", reason: 'a cluster key\'s tenant is "*"' });
    if (typeof news.name !== "string" || news.name.trim() === "" || news.name.length > 255) {
        failures.push({ property: "name", reason: "name must be a non-empty string of at most 255 characters" });
    }
    const permissions = news.permissions ?? [];
    if (!Array.isArray(permissions) || permissions.length === 0) failures.push({ property: "permissions", reason: "at least one permission is needed" });
    for (const p of Array.isArray(permissions) ? permissions : []) {
        if (!NEXUS_KIND_PERMISSIONS[kind].includes(p)) {
            failures.push({ property: "permissions", reason: `unknown permission "${p}" for a ${kind} key; expected ${NEXUS_KIND_PERMISSIONS[kind].join(" or ")}` });
        }
    }
    if (news.expires && Number.isNaN(Date.parse(news.expires))) failures.push({ property: "expires", reason: "expires must be an ISO 8601 date" });
    if (news.rotation?.every !== undefined && !DURATION_PATTERN.test(news.rotation.every)) {
        failures.push({ property: "rotation", reason: "rotation.every must be a duration like 12h, 90d or 2w" });
    }
    if (news.adopt !== undefined && news.adopt !== null && news.adopt !== true && !FINGERPRINT_PATTERN.test(String(news.adopt))) {
        failures.push({ property: "adopt", reason: "adopt takes true (the key with this name) or a key fingerprint nxk_…" });
    }
    return failures;
}

/** An ISO 8601 form of a vendor time, or the text as it came when it does not parse. */
function iso(value: string): string {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/**
 * Outputs from the vendor's record. `base` is the desired inputs, or the old state on read; its
 * `created` stands in when Nexus gives no usable creation time, so that rotation by age keeps
 * counting from the first time keyfleet saw the key instead of silently never firing.
 */
function outputs(base: NexusKeyInputs & { created?: string }, key: NexusKey): NexusKeyOutputs {
    const { created: known, ...inputs } = base;
    const created = Number.isNaN(Date.parse(key.created)) ? (known ?? new Date().toISOString()) : key.created;
    return {
        ...inputs,
        tenant: key.tenant,
        name: key.name,
        permissions: [...key.permissions].sort(),
        enabled: key.enabled,
        revoked: key.revoked,
        expires: key.expires === false ? null : iso(key.expires),
        apiKey: key.id,
        fingerprint: fingerprint(FINGERPRINT_PREFIX, key.id),
        created,
        createdBy: key.createdby,
        capacity: key.capacity,
        frequency: key.frequency,
    };
}

/** The update call that turns `have` (a key, or the old state) into `want`: its mutable fields that differ. */
function changesFor(have: Pick<NexusKeyInputs, "name" | "enabled" | "revoked" | "expires">, want: NexusKeyInputs): NexusKeyChanges {
    const changes: Record<string, unknown> = {};
    for (const field of NEXUS_FIELDS.mutable) {
        // Nexus says "never expires" with false, where state holds null.
        if (!same(have[field as keyof typeof have], want[field])) changes[field] = field === "expires" ? (want.expires ?? false) : want[field];
    }
    return changes as NexusKeyChanges;
}

// Keys being replaced in this deployment, by tenant and name. Nexus names are unique per tenant
// and a replacement is created before the old key is deleted, so `create` renames the old key out
// of the way when its name is taken by the very key being replaced. `diff` and `create` of one
// deployment run in the same provider process, so process memory is enough.
const retiring = new Map<string, string>();
const retiringKey = (tenant: string, name: string) => `${tenant}\0${name}`;

async function adopt(inputs: NexusKeyInputs): Promise<pulumi.dynamic.CreateResult<NexusKeyOutputs>> {
    const { client, login: loginFor } = connection();
    const login = loginFor(inputs.kind, inputs.tenant);
    const object = describe(inputs);
    let found: NexusKey | undefined;
    try {
        const keys = (await client.list(login)).filter((k) => k.tenant === inputs.tenant);
        found =
            inputs.adopt === true
                ? keys.find((k) => k.name === inputs.name)
                : keys.find((k) => fingerprint(FINGERPRINT_PREFIX, k.id) === inputs.adopt);
    } catch (err) {
        throw operationFailed("adopting", object, err, fixFor("adopting"));
    }
    if (!found) {
        const which = inputs.adopt === true ? `no key named "${inputs.name}"` : `no key with fingerprint ${inputs.adopt}`;
        throw new Error(`adopting ${object} failed: Nexus has ${which} in that tenant; fix adopt, or remove it to create a new key`);
    }
    const theirs = [...found.permissions].sort();
    if (!same(theirs, inputs.permissions)) {
        throw new Error(
            `adopting ${object} failed: its permissions are [${theirs.join(", ")}], the YAML says [${inputs.permissions.join(", ")}]; ` +
                "permissions cannot change, so make the YAML match or drop adopt to create a new key",
        );
    }
    const changes = changesFor(outputs(inputs, found), inputs);
    if (Object.keys(changes).length > 0) {
        try {
            found = await client.update(login, found.id, changes);
        } catch (err) {
            throw operationFailed("adopting", object, err, fixFor("adopting"));
        }
    }
    const outs = outputs(inputs, found);
    return { id: outs.fingerprint, outs };
}

export const provider: pulumi.dynamic.ResourceProvider<NexusKeyInputs, NexusKeyOutputs> = {
    async configure(req) {
        settings.configure(req.config);
    },

    async check(_olds, news) {
        const failures = validate(news);
        return failures.length > 0 ? { failures } : { inputs: normalize(news) };
    },

    async diff(_id, olds, news) {
        const result = planDiff(NEXUS_FIELDS, olds, news);
        if (result.replaces && result.replaces.length > 0) retiring.set(retiringKey(olds.tenant, olds.name), olds.apiKey);
        return result;
    },

    async create(inputs) {
        // A replacement (rotation, a permission change) always makes a new key: adopting would
        // hand back the very key the engine deletes next.
        const predecessor = retiring.get(retiringKey(inputs.tenant, inputs.name));
        if (inputs.adopt && !predecessor) return adopt(inputs);
        return createKey(inputs, predecessor);
    },

    async read(id, props) {
        if (!props?.apiKey) throw new Error(`reading Nexus key ${id} failed: keyfleet reads keys from state only; adopt an existing key with adopt: in the YAML`);
        const { client, login } = connection();
        let key: NexusKey | undefined;
        try {
            key = await client.get(login(props.kind, props.tenant), props.apiKey);
        } catch (err) {
            throw operationFailed("reading", describe(props), err, fixFor("reading"));
        }
        // Deleted out of band: no id, so the engine drops it from state and the next up recreates it.
        if (!key) return {};
        const outs = outputs(props, key);
        return { id: outs.fingerprint, props: outs };
    },

    async update(_id, olds, news) {
        const changes = changesFor(olds, news);
        if (Object.keys(changes).length === 0) return { outs: { ...olds, rotation: news.rotation, adopt: news.adopt } };
        const { client, login } = connection();
        try {
            const key = await client.update(login(olds.kind, olds.tenant), olds.apiKey, changes);
            return { outs: outputs(news, key) };
        } catch (err) {
            throw operationFailed("updating", describe(news), err, fixFor("updating"));
        }
    },

    async delete(_id, props) {
        const { client, login } = connection();
        try {
            // Already gone is fine: the desired end state is reached either way.
            await client.delete(login(props.kind, props.tenant), props.apiKey);
        } catch (err) {
            throw operationFailed("deleting", describe(props), err, fixFor("deleting"));
        }
        retiring.delete(retiringKey(props.tenant, props.name));
    },
};

/**
 * Creates a key; when it replaces `predecessor` under the same name (Nexus names are unique per
 * tenant), the old key is first renamed out of the way. It stays valid until the engine deletes it
 * once the new key exists. If anything fails, the new key is deleted and the old one renamed back,
 * so the deployment stops with Nexus as it found it; whatever could not be undone is named.
 */
async function createKey(inputs: NexusKeyInputs, predecessor: string | undefined): Promise<pulumi.dynamic.CreateResult<NexusKeyOutputs>> {
    const { client, login: loginFor } = connection();
    const login = loginFor(inputs.kind, inputs.tenant);
    const object = describe(inputs);
    const fix = fixFor("creating");
    const body = { enabled: inputs.enabled, tenant: inputs.tenant, name: inputs.name, permissions: inputs.permissions };
    let renamedAside = false;
    let created: NexusKey | undefined;

    const undo = async (): Promise<string[]> => {
        const left: string[] = [];
        if (created) {
            const fp = fingerprint(FINGERPRINT_PREFIX, created.id);
            await client.delete(login, created.id).catch((e) => left.push(`the new key ${fp} is still in Nexus (${e.message}); delete it there`));
        }
        if (renamedAside && predecessor) {
            const fp = fingerprint(FINGERPRINT_PREFIX, predecessor);
            await client.update(login, predecessor, { name: inputs.name }).catch((e) => left.push(`the old key ${fp} kept a "(replaced …)" name (${e.message}); run up again`));
        }
        return left;
    };
    const fail = async (err: unknown): Promise<never> => {
        const left = await undo();
        const error = operationFailed("creating", object, err, fix);
        if (left.length > 0) error.message += `; also, ${left.join("; ")}`;
        throw error;
    };

    try {
        created = await client.create(login, body);
    } catch (err) {
        if (!(err instanceof VendorError && err.status === 409 && predecessor)) throw operationFailed("creating", object, err, fix);
        const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        const suffix = ` (replaced ${stamp})`;
        try {
            await client.update(login, predecessor, { name: inputs.name.slice(0, 255 - suffix.length) + suffix });
            renamedAside = true;
            created = await client.create(login, body);
        } catch (e) {
            return fail(e);
        }
    }
    try {
        // POST takes only the documented fields; expiry and revocation follow in an update.
        let key = created;
        const changes = changesFor(outputs(inputs, key), inputs);
        if (Object.keys(changes).length > 0) key = await client.update(login, key.id, changes);
        const outs = outputs(inputs, key);
        return { id: outs.fingerprint, outs };
    } catch (err) {
        return fail(err);
    }
}
