// BeyondTrust Remote Support session keys: the narrow lifecycle the core's key provider drives
// (providers/shared/provider.ts), the inputs and outputs of a session key resource, and its connection.
//
// The appliance can only make a session key (generate_session_key): it has no action to read, list,
// update or revoke one. So every input is immutable (a change replaces the key); `read` answers
// from state and drops a key whose expiry has passed; `delete` only forgets the key, which stays
// usable until it expires (the program says so when an entry is removed, see descriptor.removed);
// and a lost answer cannot be looked up (no `find`): the error says that at worst an unused key was
// made, which expires by itself; so does a create cut off by a killed `up` (the next `up` makes
// another, the unused one expires at its ttl). `renewal` replaces a key that has expired or will within
// renewBefore, so every `up` leaves a valid key.
//
// The short key is seven digits: its fingerprint could be reversed by trying them all, so the
// resource id is a fingerprint of the key URL (128 random bits in its `ak`), never of the short key.
import { z } from "zod";
import { clock } from "../shared/clock.ts";
import type { CoreInputs, CoreOutputs, VendorKeys } from "../shared/contract.ts";
import { keyProvider } from "../shared/provider.ts";
import { durationMs, Rotation } from "../shared/rotation.ts";
import { fingerprint, type Settings } from "../shared/settings.ts";
import { BeyondTrustClient, type SessionKey } from "./client.ts";
import type { FieldValues } from "../shared/fields.ts";
import { BEYONDTRUST_SETTINGS, BT_FIELDS, keyProblems, SessionKeyName, BEYONDTRUST_KEY_OUTPUTS, SESSION_KEY_SECRET_OUTPUTS } from "./schema.ts";

/** The core's inputs and the vendor fields BT_FIELDS declares (schema.ts documents each). */
export type SessionKeyInputs = CoreInputs & FieldValues<typeof BT_FIELDS.table>;

export interface SessionKeyOutputs extends SessionKeyInputs, CoreOutputs {
    /** Secret. */
    shortKey: string;
    /** Secret. */
    keyUrl: string;
    /** Secret: it holds the key URL. */
    mailBody: string;
    mailSubject: string;
    /** ISO 8601. */
    expires: string;
    /** general, rep or team, as the appliance answered. */
    queue: string;
    queueId: number | null;
    available: boolean;
    /** The resource id. */
    fingerprint: string;
}

export const FINGERPRINT_PREFIX = "bts_";

/** The inputs `check` accepts: the YAML's field schemas, and the rules across them. */
const SessionKeyInputsSchema = z
    .object({
        name: SessionKeyName,
        ...BT_FIELDS.inputShape,
        rotation: Rotation.nullish(),
        adopt: z.null({ error: "BeyondTrust cannot list session keys, so none can be adopted" }).optional(),
    })
    .superRefine((v, ctx) => {
        for (const p of keyProblems(v)) ctx.addIssue({ code: "custom", path: p.path, message: p.message });
    });

/** The connection is made on first use: `read` and `delete` call no vendor and need no credentials. */
interface Connection {
    client(): BeyondTrustClient;
}

function connect(settings: Settings): Connection {
    let client: BeyondTrustClient | undefined;
    return {
        client() {
            const [url, clientId, clientSecret] = BEYONDTRUST_SETTINGS;
            client ??= new BeyondTrustClient({ url: settings.require(url), clientId: settings.require(clientId), clientSecret: settings.require(clientSecret) });
            return client;
        },
    };
}

/** The key as state holds it, for `read` (the appliance cannot be asked). */
function fromState(s: SessionKeyOutputs): SessionKey {
    return {
        type: "support",
        ttl: s.ttl,
        expires: Math.floor(Date.parse(s.expires) / 1000),
        queue: s.queue,
        available: s.available,
        queueId: s.queueId,
        externalKey: s.externalKey,
        shortKey: s.shortKey,
        keyUrl: s.keyUrl,
        mailSubject: s.mailSubject,
        mailBody: s.mailBody,
    };
}

/**
 * How long before expiry the key is replaced: renewBefore, else a tenth of the key's lifetime, and
 * never more than half of it, because the appliance lowers a ttl above its maximum session key
 * timeout (renewBefore: 1d with a 24h maximum would otherwise replace the key at every up).
 */
export function renewalMarginMs(renewBefore: string | null, lifetimeMs: number): number {
    return renewalMargin(renewBefore, lifetimeMs).ms;
}

/** The margin and which rule set it, for the renewal's reason: the one that applied, not the one asked for. */
function renewalMargin(renewBefore: string | null, lifetimeMs: number): { ms: number; why: string } {
    const wanted = renewBefore ? durationMs(renewBefore) : lifetimeMs / 10;
    if (wanted > lifetimeMs / 2) return { ms: lifetimeMs / 2, why: `half its lifetime (renewBefore ${renewBefore} is longer than that)` };
    return { ms: wanted, why: renewBefore ? `renewBefore ${renewBefore}` : "a tenth of its lifetime" };
}

export const sessionKeyLifecycle: VendorKeys<SessionKeyInputs, SessionKeyOutputs, SessionKey, Connection> = {
    model: {
        standing: BEYONDTRUST_KEY_OUTPUTS.standing,
        secretOutputs: SESSION_KEY_SECRET_OUTPUTS,
        title: "BeyondTrust",
        // The short key is what a customer types; previousValue holds it during an overlap.
        valueOutput: "shortKey",
        fields: {
            immutable: BT_FIELDS.immutable,
            mutable: BT_FIELDS.mutable,
            local: ["name", ...BT_FIELDS.local, "rotation", "adopt"],
        },
        schema: SessionKeyInputsSchema,
        normalize: (news) => BT_FIELDS.normalize(news),
        describe(k) {
            return `BeyondTrust session key "${k.name}" (queue ${k.targetQueue})`;
        },
        outputs(_inputs, key) {
            return {
                shortKey: key.shortKey,
                keyUrl: key.keyUrl,
                mailBody: key.mailBody,
                mailSubject: key.mailSubject,
                expires: new Date(key.expires * 1000).toISOString(),
                queue: key.queue,
                queueId: key.queueId,
                available: key.available,
                fingerprint: fingerprint(FINGERPRINT_PREFIX, key.keyUrl),
            };
        },
        resourceId(key) {
            return fingerprint(FINGERPRINT_PREFIX, key.keyUrl);
        },
        fixes: {
            creating: {
                rejected: "the appliance refused the key's parameters; check its queue, custom fields (configured under /login > Management > API Configuration), skills and urlHostname in the YAML",
                forbidden: "the API account needs full access to the command API (/login > Management > API Configuration)",
                unauthorized: "check keyfleet:beyondtrust.clientId and keyfleet:beyondtrustClientSecret",
            },
        },
        lostCreate:
            "keyfleet does not repeat it: BeyondTrust cannot list or revoke session keys, so a second request could make a second key. " +
            "At worst the appliance made a key nobody received, which expires by itself at its ttl; run `pulumi up` again to make the key. " +
            "(An up killed mid-create leaves the same: an unused key until its ttl ends; the next up makes the entry's key.)",
    },
    backend: {
        connect,
        async create(c, { inputs }) {
            return c.client().generateSessionKey({
                queue: inputs.targetQueue,
                externalKey: inputs.externalKey,
                custom: inputs.custom,
                priority: inputs.priority,
                skills: inputs.skills,
                ttl: inputs.ttl,
                urlHostname: inputs.urlHostname,
            });
        },
        async read(_c, { state }) {
            const expires = Date.parse(state.expires);
            // The appliance has no read action: a key past its expiry is gone, any other is as made.
            if (Number.isNaN(expires) || expires <= clock.now() || !state.keyUrl) return undefined;
            return fromState(state);
        },
        async update() {
            // Unreachable: no field is mutable, so the core replaces instead.
            throw new Error("BeyondTrust cannot change a session key; keyfleet replaces it");
        },
        async delete() {
            // The appliance cannot revoke a session key: forgetting it is all there is (it expires by itself).
        },
    },
    expiry: {
        renewal(state, inputs, now) {
            if (!state.expires) return undefined;
            const expires = Date.parse(state.expires);
            if (Number.isNaN(expires)) return undefined;
            if (expires <= now) return `session key expired at ${state.expires}`;
            const created = Date.parse(state.created ?? "");
            const lifetime = Number.isNaN(created) ? (inputs.ttl ?? 86_400) * 1000 : Math.max(expires - created, 1000);
            const margin = renewalMargin(inputs.renewBefore ?? null, lifetime);
            if (expires - now > margin.ms) return undefined;
            return `session key expires at ${state.expires}, within ${margin.why}`;
        },
    },
};

export const provider = keyProvider(sessionKeyLifecycle);
