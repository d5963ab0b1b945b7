// SupportCenter Plus integration keys: the narrow lifecycle the core's key provider drives
// (providers/shared/provider.ts), the inputs and outputs of a key resource, and its connection.
//
// Vendor rules that shape it:
// - Only a key's owner may act on it (edit, view the value, reassign, delete), so every call is made
//   as the owner the state knows, with that owner's technician key from keyfleet:supportcenterOwners;
//   an owner without credentials fails before any call, naming the owner.
// - The value comes in the create answer (evidence: the product's web-client script) and is kept as
//   the secret output `apiKey`; decrypt, with the owner's login password, is only for a key taken
//   over (adopt, a lost create answer) or a create answer without the value. An
//   edit never alters it, so name, roles, expiry, status, description and owner change in place.
//   The resource id is the record id, which is not secret.
// - Reads go through one paged walk of the instance's key list shared by every key of the process
//   (providers/shared/snapshot.ts), forgotten after every write.
// - With rotation, an expired key is replaced, new key first (names are unique, so the old one is
//   renamed aside by the core). If the YAML's expiry has passed too, the new key is made valid for
//   one rotation period (`rotation.every`), at the end of which it is due again.
import { z } from "zod";
import { clock } from "../shared/clock.ts";
import { isKind, VendorError } from "../shared/errors.ts";
import type { FieldValues } from "../shared/fields.ts";
import type { CoreInputs, CoreOutputs, VendorKeys } from "../shared/contract.ts";
import { keyProvider } from "../shared/provider.ts";
import { durationMs, expiryReason, Rotation } from "../shared/rotation.ts";
import { fingerprint, type Settings } from "../shared/settings.ts";
import { judge } from "../shared/probe.ts";
import { Snapshot } from "../shared/snapshot.ts";
import { SupportCenterClient, type ScpKey, type ScpKeyFields, type ScpOwner, type ScpRole, type ScpUser } from "./client.ts";
import { ADOPT, COMMENT_MAX, NAME_MAX, ownerMissing, parseOwners, SCP_FIELDS, SCP_SETTINGS, ScpName, SCP_KEY_OUTPUTS, SCP_SECRET_OUTPUTS } from "./schema.ts";

/** The core's inputs and the vendor fields SCP_FIELDS declares (schema.ts documents each). */
export type ScpKeyInputs = CoreInputs & FieldValues<typeof SCP_FIELDS.table>;

export interface ScpKeyOutputs extends ScpKeyInputs, CoreOutputs {
    /** The record id (also the resource id). */
    keyId: string;
    /** The integration key. Secret. */
    apiKey: string;
    /** A non-secret name for the value, for display. */
    fingerprint: string;
    /** The owner's user id (a deleted user's keys move to another id). */
    ownerId: string;
    /** The key's actual expiry (ISO 8601) or null; differs from `expires` only for a key renewed by rotation. */
    validUntil: string | null;
    isExpired: boolean;
    /** Roles of the key that were deleted in the product since keyfleet last set them. */
    deletedRoles: string[];
}

const FINGERPRINT_PREFIX = "scpk_";

/** A record as the lifecycle hands it to the core: the vendor's, with the owner's login and the value when known. */
export interface ScpFull extends ScpKey {
    ownerLogin: string;
    key?: string;
    deletedRoles: string[];
}

const ScpInputs = z.object({ name: ScpName, ...SCP_FIELDS.inputShape, rotation: Rotation.nullish(), adopt: ADOPT.nullish() });

export interface Connection {
    client: SupportCenterClient;
    /** The owner's credentials; throws (before any call) naming an owner the stack has none for. */
    owner(login: string): ScpOwner;
    /** Who may list: `preferred` first when the stack has its credentials, then every other owner it has. */
    listers(preferred: string): ScpOwner[];
    /** The probe's stack settings (rotation.verify). */
    probe: { url?: string; expect: string };
    /** Whether the stack has credentials for this login (keyfleet may act as that owner). */
    actsAs(login: string): boolean;
}

function connect(settings: Settings, _key: ScpKeyInputs): Connection {
    const [urlSpec, ownersSpec, probeUrl, probeExpect] = SCP_SETTINGS;
    const client = new SupportCenterClient(settings.require(urlSpec));
    const { owners, problems } = parseOwners(settings.require(ownersSpec));
    const owner = (login: string): ScpOwner => {
        const c = owners.get(login);
        if (!c) throw new Error(problems.length > 0 ? `${ownerMissing(login)} (${problems.join("; ")})` : ownerMissing(login));
        return { login, ...c };
    };
    return {
        client,
        probe: { url: settings.get(probeUrl), expect: settings.require(probeExpect) },
        owner,
        listers: (preferred) => {
            const logins = [...new Set([preferred, ...owners.keys()])].filter((l) => owners.has(l));
            return logins.length > 0 ? logins.map(owner) : [owner(preferred)];
        },
        actsAs: (login) => owners.has(login),
    };
}

// One walk of each list per process, shared by every key; keyed by instance URL.
const keyLists = new Snapshot<Map<string, ScpKey>>();
const roleLists = new Snapshot<ScpRole[]>();
const userLists = new Snapshot<ScpUser[]>();

/** Forgets the key list after a write (answered or not), so that no read sees the world before it. */
async function writing<T>(work: () => Promise<T>): Promise<T> {
    try {
        return await work();
    } finally {
        keyLists.forget();
    }
}

/**
 * A list read as any owner the stack has: any SDAdmin sees every key. The next owner is tried when
 * one's technician key is refused (a user deleted in the product, whose keys went to an admin).
 */
async function asAnyOwner<T>(c: Connection, as: string, list: (owner: ScpOwner) => Promise<T>): Promise<T> {
    const owners = c.listers(as);
    for (let i = 0; ; i++) {
        try {
            return await list(owners[i]);
        } catch (err) {
            if (i + 1 >= owners.length || !isKind(err, "unauthorized", "forbidden")) throw err;
        }
    }
}

function allKeys(c: Connection, as: string): Promise<Map<string, ScpKey>> {
    return keyLists.get(c.client.url, async () => {
        // Roles and users are as fresh as the key list they explain (a role deleted a moment ago).
        roleLists.forget();
        userLists.forget();
        return new Map((await asAnyOwner(c, as, (o) => c.client.listKeys(o))).map((k) => [k.id, k]));
    });
}

async function users(c: Connection, as: string, fresh = false): Promise<ScpUser[]> {
    if (fresh) userLists.forget();
    return userLists.get(c.client.url, () => asAnyOwner(c, as, (o) => c.client.listUsers(o)));
}

function roles(c: Connection, as: string): Promise<ScpRole[]> {
    return roleLists.get(c.client.url, () => asAnyOwner(c, as, (o) => c.client.listRoles(o)));
}

/** The login of the record's owner: from what state knew of that id, else the user list. */
async function loginOf(c: Connection, r: ScpKey, known: { id?: string; login?: string }, as: string): Promise<string> {
    if (known.id && known.login && r.owner.id === known.id) return known.login;
    const user = (await users(c, as)).find((u) => u.id === r.owner.id);
    // A user gone from the list (deleted meanwhile): name them by id, which no YAML owner matches.
    return user?.login ?? `user ${r.owner.id}`;
}

async function full(c: Connection, r: ScpKey, known: { id?: string; login?: string }, as: string, key?: string): Promise<ScpFull> {
    return { ...r, ownerLogin: await loginOf(c, r, known, as), key, deletedRoles: [] };
}

/** Role names to {id, name}, before any write; an unknown name is refused with the instance's names. */
async function resolveRoles(c: Connection, names: string[], as: string): Promise<{ id: string; name: string }[]> {
    const all = await roles(c, as);
    return names.map((n) => {
        const role = all.find((r) => r.name === n);
        if (!role) {
            throw new VendorError("rejected", `SupportCenter Plus has no role named "${n}" (it has ${all.map((r) => `"${r.name}"`).join(", ")})`, {
                hint: "fix roles: in the YAML (names are exact); a role deleted in the product must be removed from the key's roles",
            });
        }
        return { id: role.id, name: role.name };
    });
}

async function userId(c: Connection, login: string, as: string): Promise<string> {
    // Fresh: a reassignment is rare, and a user deleted a moment ago must not be a target.
    const user = (await users(c, as, true)).find((u) => u.login === login);
    if (!user) {
        throw new VendorError("rejected", `SupportCenter Plus has no user with the login "${login}"`, {
            hint: "owner: must be the login of an active SDAdmin (a deleted user's keys belong to the admin who deleted them: set owner: to that admin)",
        });
    }
    return user.id;
}

/** The validity the vendor gets: the YAML's expiry, or for a rotated key past it, one rotation period. */
function validityFor(inputs: ScpKeyInputs, now: number): number {
    if (!inputs.expires) return 0;
    const at = Date.parse(inputs.expires);
    if (at > now) return at;
    if (inputs.rotation?.every) return now + durationMs(inputs.rotation.every);
    throw new VendorError("rejected", `expires ${inputs.expires} has passed`, { hint: "a new key cannot be made expired: move expires: forward, set never, or add rotation: { every: … }" });
}

/**
 * A create refused because the name is taken (4008) when only a deleted key holds it: the product
 * keeps deleted keys in its list (evidence), and may keep their names taken (not shown by any
 * source: inferred). Such a key cannot be edited, renamed or restored, so the only way on is another
 * name. Any other refusal is rethrown as it came.
 */
async function nameHeldByDeleted(c: Connection, owner: ScpOwner, name: string, err: unknown): Promise<never> {
    if (!isKind(err, "conflict")) throw err;
    const wanted = name.trim().toLowerCase();
    const holders = await c.client.listKeys(owner, "All", { deleted: true }).then(
        (keys) => keys.filter((k) => k.name.toLowerCase() === wanted),
        () => undefined,
    );
    if (!holders || holders.length === 0 || holders.some((k) => k.status !== "deleted")) throw err;
    const e = err as VendorError;
    throw new VendorError("conflict", `${e.vendorMessage}; the name is held only by the deleted key ${holders.map((k) => k.id).join(", ")}, which SupportCenter Plus keeps in its list as deleted`, {
        code: e.code,
        hint: `a deleted key cannot be renamed or restored: give this key another name in the YAML (name:), or ask ManageEngine support to purge the deleted key; then run \`pulumi up\` again`,
    });
}

/** Whether the key was made past the YAML's expiry by a rotation (its validity is then one rotation period). */
function renewed(inputs: ScpKeyInputs, r: ScpKey): boolean {
    return Boolean(inputs.rotation?.every && inputs.expires && r.validity !== 0 && Date.parse(inputs.expires) <= r.created && r.validity > Date.parse(inputs.expires));
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether the product's validity is the YAML's expiry as the product keeps a day: 23:59 of the
 * same (UTC) day, to any second of that minute (the web client sends 23:59:00; an instance that
 * keeps whole days could answer a date and time the YAML names that way too). Not a drift.
 */
function sameDayEnd(expires: string | null, validity: number): boolean {
    if (!expires || validity === 0) return false;
    const at = Date.parse(expires);
    if (at === validity) return true;
    const day = Math.floor(at / 86_400_000) * 86_400_000;
    const end = day + (23 * 60 + 59) * 60_000;
    return at <= end + 59_999 && validity >= end && validity <= end + 59_999;
}

/** What to do when the product says the owner state names may not act on the key (4002). */
const NOT_OWNER =
    "only a key's owner may act on it, and only SDAdmins manage keys: the key may have been reassigned (or its owner deleted) in the product; " +
    "run `pulumi refresh`, set owner: to who holds it, and give that owner's technician key and password in keyfleet:supportcenterOwners";

export const supportCenterLifecycle: VendorKeys<ScpKeyInputs, ScpKeyOutputs, ScpFull, Connection> = {
    model: {
        standing: SCP_KEY_OUTPUTS.standing,
        secretOutputs: SCP_SECRET_OUTPUTS,
        title: "SupportCenter Plus",
        fields: {
            immutable: SCP_FIELDS.immutable,
            mutable: ["name", ...SCP_FIELDS.mutable],
            local: ["rotation", "adopt", ...SCP_FIELDS.local],
        },
        schema: ScpInputs,
        normalize: (news) => SCP_FIELDS.normalize(news),
        describe(k) {
            return `SupportCenter Plus integration key "${k.name}"`;
        },
        outputs(inputs, r) {
            return {
                keyId: r.id,
                name: r.name,
                roles: r.roles.map((x) => x.name).sort(),
                expires: renewed(inputs, r) || sameDayEnd(inputs.expires, r.validity) ? inputs.expires : r.validity === 0 ? null : iso(r.validity),
                validUntil: r.validity === 0 ? null : iso(r.validity),
                description: r.description,
                status: r.status as "active" | "inactive", // a deleted key never reaches outputs (listKeys drops it)
                owner: r.ownerLogin,
                ownerId: r.owner.id,
                isExpired: r.isExpired,
                deletedRoles: r.deletedRoles,
                apiKey: r.key as string,
                fingerprint: r.key ? fingerprint(FINGERPRINT_PREFIX, r.key) : "",
                created: iso(r.created),
            };
        },
        resourceId(r) {
            return r.id;
        },
        fixes: {
            creating: {
                conflict: "SupportCenter Plus names are unique across the instance (in any case): rename the key, or adopt the existing one (adopt: true)",
                forbidden: "the owner must be an SDAdmin: only SDAdmins manage integration keys",
                notFound: "SupportCenter Plus found no such object for the new key (a role or user named in the YAML, or the create route itself): check roles: and owner:, and the instance's URL and version",
            },
            updating: {
                conflict: "SupportCenter Plus names are unique across the instance (in any case): choose another name",
                forbidden: NOT_OWNER,
                notFound: "the key is gone from SupportCenter Plus; run `pulumi refresh` to drop it from state (the next `up` recreates it)",
            },
            deleting: { forbidden: NOT_OWNER },
            adopting: {
                conflict: "SupportCenter Plus names are unique across the instance (in any case)",
                forbidden: "only a key's owner may view its value: set owner: to the login that holds the key, with its credentials in keyfleet:supportcenterOwners",
            },
            reading: {
                forbidden: "keyfleet lists keys as the owners in keyfleet:supportcenterOwners: at least one must be an SDAdmin",
                notFound: "the key is gone from SupportCenter Plus; run `pulumi refresh` to drop it from state",
            },
        },
    },
    backend: {
        connect,
        async create(c, { inputs }) {
            const owner = c.owner(inputs.owner);
            const roles = await resolveRoles(c, inputs.roles, inputs.owner);
            const fields: ScpKeyFields = { name: inputs.name, roles, validity: validityFor(inputs, clock.now()), status: inputs.status, description: inputs.description };
            const { key: answered, ...made } = await writing(() => c.client.create(owner, fields)).catch((err: unknown) => nameHeldByDeleted(c, owner, inputs.name, err));
            // The create answer carries the value (evidence); an answer without it is completed by
            // reveal (decrypt, which needs the owner's login password), or undone, by the core.
            return { ...made, ownerLogin: inputs.owner, key: answered, deletedRoles: [] };
        },
        async read(c, { state }) {
            const r = (await allKeys(c, state.owner)).get(state.keyId);
            if (!r) return undefined;
            const out = await full(c, r, { id: state.ownerId, login: state.owner }, state.owner, state.apiKey);
            // A role the key had that the instance no longer has was deleted in the product. The roles
            // state knows are the record's after the first refresh, so one reported before is carried
            // forward until keyfleet sets the key's roles again (an update starts from none).
            const have = new Set(r.roles.map((x) => x.name));
            const missing = [...new Set([...(state.deletedRoles ?? []), ...state.roles])].filter((n) => !have.has(n));
            if (missing.length > 0) {
                const all = await roles(c, state.owner);
                out.deletedRoles = missing.filter((n) => !all.some((x) => x.name === n)).sort();
            }
            return out;
        },
        async update(c, { state, inputs, changes }) {
            // Every owner this change acts as must have credentials before the first call: the current
            // one now, the new one from the next run on.
            const current = c.owner(state.owner);
            const { owner: newOwner, ...edits } = changes;
            const moving = newOwner !== undefined && newOwner !== state.owner ? c.owner(newOwner) : undefined;
            const fields: ScpKeyFields = {};
            if (edits.name !== undefined) fields.name = edits.name;
            if (edits.roles !== undefined) fields.roles = await resolveRoles(c, edits.roles, state.owner);
            if ("expires" in edits) fields.validity = validityFor(inputs, clock.now());
            if (edits.status !== undefined) fields.status = edits.status;
            if ("description" in edits) fields.description = edits.description ?? null;
            const to = moving ? await userId(c, moving.login, state.owner) : undefined;
            let record: ScpKey | undefined;
            // Edits first, as the owner state names; the reassignment last, since afterwards only the
            // new owner may act on the key. An edit refused (a name taken) leaves the key with the owner
            // state names, and the next run repeats both (repeating an edit changes nothing).
            if (Object.keys(fields).length > 0) record = await writing(() => c.client.update(current, state.keyId, fields));
            if (moving && to) {
                const comment = inputs.reassignComment ?? `keyfleet: the YAML names ${moving.login} as the owner of "${inputs.name}"`;
                // The product refuses a comment over COMMENT_MAX; keyfleet's own is cut to fit (a login may be long).
                [record] = await writing(() => c.client.reassign(current, [state.keyId], to, comment.slice(0, COMMENT_MAX)));
            }
            if (!record) throw new VendorError("invalidAnswer", "SupportCenter Plus answered the change without the key's record");
            return { ...record, ownerLogin: moving?.login ?? state.owner, key: state.apiKey, deletedRoles: [] };
        },
        async delete(c, { state }) {
            await writing(() => c.client.delete(c.owner(state.owner), state.keyId));
        },
    },
    discovery: {
        async find(c, { inputs }) {
            const wanted = inputs.name.trim().toLowerCase();
            const named = [...(await allKeys(c, inputs.owner)).values()].filter((k) => k.name.toLowerCase() === wanted);
            return Promise.all(named.map((k) => full(c, k, {}, inputs.owner)));
        },
        async findById(c, id) {
            // adopt: "<record id>"; the list holds every key of the instance.
            const k = (await allKeys(c, "")).get(id);
            return k ? full(c, k, {}, "") : undefined;
        },
        madeByUs(c, r) {
            // A lost create was made as one of the owners keyfleet acts as, never as another user.
            return c.actsAs(r.ownerLogin);
        },
        adopts(r, adopt) {
            return r.id === adopt;
        },
        async reveal(c, r) {
            // Only the owner may view the value, with their login password.
            return { ...r, key: await c.client.decrypt(c.owner(r.ownerLogin), r.id) };
        },
        clockOffset(c) {
            return c.client.clockOffset();
        },
    },
    uniqueNames: {
        nameMax: NAME_MAX,
        async rename(c, r, name) {
            await writing(() => c.client.update(c.owner(r.ownerLogin), r.id, { name }));
        },
    },
    expiry: {
        async expire(c, { state, at }) {
            // Only ever earlier: a key already expiring before the overlap ends keeps its own validity.
            if (state.validUntil && Date.parse(state.validUntil) <= Date.parse(at)) return;
            await writing(() => c.client.update(c.owner(state.owner), state.keyId, { validity: Date.parse(at) }));
        },
        renewal(state, inputs, now) {
            // An expired key is replaced when the key rotates at all; the program decides the same from
            // the last run's record (KeyResource.expiresAt), to lift a protect for the run.
            return expiryReason(inputs.rotation, state.validUntil, now);
        },
    },
    verify: {
        async probe(c, { state }) {
            return judge(await c.client.probe(state.apiKey, c.probe.url), c.probe.expect, state.apiKey);
        },
    },
};

export const provider = keyProvider(supportCenterLifecycle);
