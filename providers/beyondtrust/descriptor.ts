// BeyondTrust Remote Support as keyfleet sees it: the `beyondtrust:` section of an environment's
// YAML (session keys), its rules, its stack settings, how its keys are declared, and its sandbox.
import { z } from "zod";
import { clock } from "../shared/clock.ts";
import type { Limits } from "../shared/calls.ts";
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { keyName } from "../shared/fields.ts";
import { Duration, durationMs, Rotation } from "../shared/rotation.ts";
import { dynamicType } from "../shared/hygiene.ts";

/** The seed's limits: each custom field and the external key, and all of them together (UTF-8 bytes). */
export const FIELD_MAX_CHARS = 1024;
export const CUSTOM_MAX_BYTES = 10 * 1024;

/** Inferred: BeyondTrust code names (custom fields, skills, issues) are letters, digits and underscores. */
const CODE_NAME = /^[A-Za-z0-9_]+$/;
const CODE_NAME_ERROR = "must be a code name (letters, digits and underscores)";

export const QUEUE_PATTERN = /^(general|rep:[1-9][0-9]*|team:[1-9][0-9]*|rep_username:\S(.*\S)?|issue:[A-Za-z0-9_]+)$/;
const QUEUE_ERROR = "must be general, rep:<id>, team:<id>, rep_username:<name> or issue:<code_name>";

export const SessionKeyName = keyName(255, "keyfleet's name for the session key (the appliance has none); unique in the environment.");

export const Queue = z
    .string({ error: QUEUE_ERROR })
    .regex(QUEUE_PATTERN, { error: (i) => `${JSON.stringify(i.input)} ${QUEUE_ERROR}` })
    .describe("Where the session is placed: general, rep:<id>, team:<id>, rep_username:<name> (exactly one user) or issue:<code_name>.")
    .meta({ examples: ["general", "team:1", "rep_username:jdoe", "issue:printer_help"] });

export const Ttl = z.int({ error: "must be a whole number of seconds" }).positive({ error: "must be a positive number of seconds" }).describe("Seconds the key is valid; omitted = the appliance's maximum.");

/** Length in characters, as the appliance counts them (code points). */
const chars = (s: string) => [...s].length;

export const FieldValue = z.string().refine((v) => chars(v) <= FIELD_MAX_CHARS, { error: `must be at most ${FIELD_MAX_CHARS} characters` });

export const CodeName = z.string().regex(CODE_NAME, { error: CODE_NAME_ERROR }).describe("A code name: letters, digits and underscores.");

export const CustomFieldName = CodeName.refine((v) => v !== "external_key", { error: "is not a custom field here: set the external key with externalKey" });

export const Custom = z
    .record(CustomFieldName, FieldValue, {
        error: (i) => (i.code === "invalid_key" ? `custom field name ${JSON.stringify(i.input)}: ${(i.issues?.[0]?.message as string | undefined) ?? CODE_NAME_ERROR}` : undefined),
    })
    .describe("Custom fields by code name (configured under /login > Management > API Configuration), each at most 1,024 characters.");

export const Priority = z.int({ error: "must be 1 (high), 2 (medium) or 3 (low)" }).min(1, { error: "must be 1 (high), 2 (medium) or 3 (low)" }).max(3, { error: "must be 1 (high), 2 (medium) or 3 (low)" });

export const Skills = z.array(CodeName).describe("Code names of the skills to assign to the session.");

export const UrlHostname = z
    .string()
    .regex(/^(?=.{1,253}(:\d{1,5})?$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:\d{1,5})?$/, { error: "must be a hostname, like support.example.com" })
    .describe("Hostname of the key URL (a public site of the appliance), optionally with :port; default its primary hostname.")
    .meta({ examples: ["support.example.com", "support.example.com:8443"] });

export const RenewBefore = Duration.describe("Replace the key when it expires within this long (default: a tenth of its lifetime).");

const SessionKeyEntry = z
    .strictObject({
        name: SessionKeyName,
        queue: Queue,
        ttl: Ttl.optional(),
        externalKey: FieldValue.optional().describe("session.custom.external_key: links the session to an external system (a ticket id); at most 1,024 characters."),
        custom: Custom.optional(),
        priority: Priority.optional().describe("1 high, 2 medium, 3 low."),
        skills: Skills.optional(),
        urlHostname: UrlHostname.optional(),
        renewBefore: RenewBefore.optional(),
        rotation: Rotation.optional().describe("Overrides defaults.rotation for this key, field by field."),
    })
    .describe("A session key: a customer enters its short key or opens its URL to start a support session. Every change replaces it.");

export const BeyondTrustSection = z
    .strictObject({
        sessionKeys: z.array(SessionKeyEntry).optional().describe("Session keys of the appliance, each a generated session key (Command API generate_session_key)."),
    })
    .describe("BeyondTrust Remote Support session keys.");

export type BeyondTrustSection = z.infer<typeof BeyondTrustSection>;
export type SessionKeyEntry = z.infer<typeof SessionKeyEntry>;

/**
 * Rules across the fields of one key, shared by the YAML's rules and the provider's check: the
 * custom data (external key included) at most 10 KB together, renewBefore shorter than ttl.
 */
export function keyProblems(k: { ttl?: unknown; externalKey?: unknown; custom?: unknown; renewBefore?: unknown }): SectionProblem[] {
    const problems: SectionProblem[] = [];
    const values = [k.externalKey, ...(k.custom && typeof k.custom === "object" ? Object.values(k.custom) : [])].filter((v): v is string => typeof v === "string");
    const bytes = values.reduce((n, v) => n + Buffer.byteLength(v, "utf8"), 0);
    if (bytes > CUSTOM_MAX_BYTES) {
        problems.push({ path: [k.custom !== undefined && k.custom !== null ? "custom" : "externalKey"], message: `custom fields and the external key together are ${bytes} bytes; the appliance takes at most 10 KB (${CUSTOM_MAX_BYTES} bytes)` });
    }
    if (typeof k.ttl === "number" && Number.isInteger(k.ttl) && k.ttl > 0 && typeof k.renewBefore === "string") {
        let ms: number | undefined;
        try {
            ms = durationMs(k.renewBefore);
        } catch {
            ms = undefined;
        }
        if (ms !== undefined && ms >= k.ttl * 1000) problems.push({ path: ["renewBefore"], message: `${k.renewBefore} is not shorter than ttl (${k.ttl} s): every up would replace the key` });
    }
    return problems;
}

export const BEYONDTRUST_SETTINGS = [
    { key: "beyondtrust.url", env: "KEYFLEET_BEYONDTRUST_URL", url: true, about: "the appliance's base URL, e.g. https://support.example.com" },
    { key: "beyondtrust.clientId", env: "KEYFLEET_BEYONDTRUST_CLIENT_ID", about: "OAuth client id of the API account (full access to the command API)" },
    { key: "beyondtrustClientSecret", env: "KEYFLEET_BEYONDTRUST_CLIENT_SECRET", secret: true, about: "OAuth client secret of the API account" },
] as const;

const PREFIX = "beyondtrust/sessionKey/";

/** The resource inputs of one entry besides the core's: one function for declare() and the policy's offline check. */
function keyInputs(e: SessionKeyEntry) {
    return {
        name: e.name,
        targetQueue: e.queue,
        ttl: e.ttl ?? null,
        externalKey: e.externalKey ?? null,
        custom: e.custom ?? {},
        priority: e.priority ?? null,
        skills: e.skills ?? [],
        urlHostname: e.urlHostname ?? null,
        renewBefore: e.renewBefore ?? null,
    };
}

/**
 * Per API account, as the vendor documents it; paced at 90% of the per-second rate, because the
 * appliance counts arrivals and a request on a fresh connection arrives later than the next ones.
 */
export const BEYONDTRUST_LIMITS: Limits = { perSecond: 20, perHour: 15000, headroom: 0.1 };

export const beyondtrust: VendorDescriptor<BeyondTrustSection> = {
    section: "beyondtrust",
    title: "BeyondTrust Remote Support",
    limits: BEYONDTRUST_LIMITS,
    // A session key has no standing at the appliance beyond its expiry (no disable or revoke action).
    keyOutputs: {
        expires: "expires",
        standing: () => "active",
        // The appliance has no revoke (lifecycle.ts): delete only forgets the key.
        keptOnDelete: (o) => `the key itself: BeyondTrust cannot revoke a session key, it stays usable until it expires${typeof o.expires === "string" ? ` at ${o.expires}` : ""}`,
    },
    hygiene: {
        types: [dynamicType("beyondtrust", "SessionKey")],
        // Every session key expires (its ttl, or the appliance's maximum when null), so the rule
        // against keys that never expire has nothing to say here; a key cannot be probed.
        facts: (inputs) => ({ ttlSeconds: typeof inputs.ttl === "number" ? inputs.ttl : null, verifiable: false }),
        keys: (section) =>
            (section.sessionKeys ?? []).map((e, i) => ({
                resourceName: `${PREFIX}${e.name}`,
                path: ["sessionKeys", i],
                entry: e,
                inputs: keyInputs(e),
                options: {},
                at: (fact) => (fact === "ttl" && e.ttl !== undefined ? ["sessionKeys", i, "ttl"] : fact === "rotation" && e.rotation ? ["sessionKeys", i, "rotation"] : undefined),
            })),
    },
    schema: BeyondTrustSection,
    settings: BEYONDTRUST_SETTINGS,

    declares: (s) => (s.sessionKeys?.length ?? 0) > 0,

    rules(raw) {
        const problems: SectionProblem[] = [];
        const list = Array.isArray(raw.sessionKeys) ? (raw.sessionKeys as unknown[]) : [];
        const seen = new Map<string, (string | number)[]>();
        list.forEach((entry, i) => {
            if (!entry || typeof entry !== "object") return;
            const e = entry as Record<string, unknown>;
            if (typeof e.name === "string") {
                const first = seen.get(e.name);
                if (first) problems.push({ path: ["sessionKeys", i, "name"], message: `duplicate session key name "${e.name}" in this environment`, firstAt: first });
                else seen.set(e.name, ["sessionKeys", i, "name"]);
            }
            for (const p of keyProblems(e)) problems.push({ ...p, path: ["sessionKeys", i, ...p.path] });
        });
        return problems;
    },

    async declare(section, ctx) {
        const { BeyondTrustSessionKey } = await import("./resource.ts");
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        for (const e of section.sessionKeys ?? []) {
            const id = `${PREFIX}${e.name}`;
            const k = new BeyondTrustSessionKey(
                id,
                {
                    ...keyInputs(e),
                    ...ctx.core(id, e),
                },
                ctx.options,
            );
            const { name, targetQueue, queue, queueId, available, expires, created, rotation, fingerprint, shortKey, keyUrl, mailSubject, mailBody, note } = k;
            exports[id] = { id: k.id, name, targetQueue, queue, queueId, available, expires, created, rotation, fingerprint, shortKey, keyUrl, mailSubject, mailBody, note };
        }
        return exports;
    },

    removed(resourceName, last) {
        if (!resourceName.startsWith(PREFIX)) return undefined;
        if (last.expires && Date.parse(last.expires) <= clock.now()) {
            return `session key "${resourceName.slice(PREFIX.length)}" (${last.id}) is no longer managed; it expired at ${last.expires}`;
        }
        const until = last.expires ? `until it expires at ${last.expires}` : "until it expires";
        return (
            `session key "${resourceName.slice(PREFIX.length)}" (${last.id}) is no longer managed: keyfleet forgets it, but BeyondTrust ` +
            `cannot revoke a session key, so it stays usable ${until}`
        );
    },

    async health(settings) {
        // check_health (Command API guide): one read-only call that needs the appliance, the login and
        // the command API, where a live read of a session key only looks at state.
        const { BeyondTrustClient } = await import("./client.ts");
        const [url, clientId, clientSecret] = BEYONDTRUST_SETTINGS;
        try {
            const h = await new BeyondTrustClient({ url: settings.require(url), clientId: settings.require(clientId), clientSecret: settings.require(clientSecret) }).checkHealth();
            return h.healthy ? undefined : `check_health: the appliance ${h.hostname ?? ""} reports a problem: ${h.error ?? "no details"}`.replace("  ", " ");
        } catch (err) {
            return `check_health failed: ${(err as Error).message.split("\n")[0]}`;
        }
    },

    async provider() {
        return (await import("./lifecycle.ts")).provider;
    },
};
