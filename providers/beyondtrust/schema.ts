// BeyondTrust Remote Support: the folder's leaf module. The fields of its YAML section with their schema and
// defaults, its stack settings, its resource type names and output names are declared here once;
// descriptor, lifecycle, resource and client import them from here and this file imports nothing
// of the folder, so the imports run one way and the program process, which reads only an output
// list, never loads a wire client or a database driver.
import type { KeyOutputs } from "../shared/descriptor.ts";
import type { Limits } from "../shared/calls.ts";
import { z } from "zod";
import type { SectionProblem } from "../shared/descriptor.ts";
import { keyField, keyFields, keyName } from "../shared/fields.ts";
import { Duration, durationMs, Rotation } from "../shared/rotation.ts";

/** The seed's limits: each custom field and the external key, and all of them together (UTF-8 bytes). */
export const FIELD_MAX_CHARS = 1024;
export const CUSTOM_MAX_BYTES = 10 * 1024;

/** Inferred: BeyondTrust code names (custom fields, skills, issues) are letters, digits and underscores. */
export const CODE_NAME = /^[A-Za-z0-9_]+$/;
export const CODE_NAME_ERROR = "must be a code name (letters, digits and underscores)";

export const QUEUE_PATTERN = /^(general|rep:[1-9][0-9]*|team:[1-9][0-9]*|rep_username:\S(.*\S)?|issue:[A-Za-z0-9_]+)$/;
export const QUEUE_ERROR = "must be general, rep:<id>, team:<id>, rep_username:<name> or issue:<code_name>";

export const SessionKeyName = keyName(255, "keyfleet's name for the session key (the appliance has none); unique in the environment.");

export const Queue = z
    .string({ error: QUEUE_ERROR })
    .regex(QUEUE_PATTERN, { error: (i) => `${JSON.stringify(i.input)} ${QUEUE_ERROR}` })
    .describe("Where the session is placed: general, rep:<id>, team:<id>, rep_username:<name> (exactly one user) or issue:<code_name>.")
    .meta({ examples: ["general", "team:1", "rep_username:jdoe", "issue:printer_help"] });

export const Ttl = z.int({ error: "must be a whole number of seconds" }).positive({ error: "must be a positive number of seconds" }).describe("Seconds the key is valid; omitted = the appliance's maximum.");

/** Length in characters, as the appliance counts them (code points). */
export const chars = (s: string) => [...s].length;

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

const num = (v: unknown) => (typeof v === "number" ? v : null);
const str = (v: unknown) => (typeof v === "string" ? v : null);
const sortedObject = (o: unknown): Record<string, string> =>
    Object.fromEntries(Object.entries(o && typeof o === "object" ? (o as Record<string, unknown>) : {}).map(([k, v]) => [k, String(v)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * The vendor fields of a session key, each declared once: what the YAML takes, the input it
 * becomes, its canonical form. The lifecycle's inputs, check and diff, the resource's arguments and
 * the program's inputs are derived from this table (providers/shared/fields.ts). The appliance
 * cannot change a key: every field it is sent is immutable (a change makes a new key).
 */
export const BT_FIELDS = keyFields({
    targetQueue: keyField({
        // The YAML's `queue` (the seed's queue_id): general, rep:<id>, team:<id>, rep_username:<name>, issue:<code_name>.
        // The input has another name: the appliance answers its own `queue` (general, rep or team), an output.
        entry: "queue",
        yaml: Queue,
        input: Queue,
        kind: "immutable",
        required: true,
        fallback: "",
        normalize: (v) => String(v ?? ""),
    }),
    // Seconds requested, or null for the appliance's maximum.
    ttl: keyField({ yaml: Ttl, input: Ttl, kind: "immutable", required: false, fallback: null as number | null, normalize: num }),
    externalKey: keyField({
        yaml: FieldValue.describe("session.custom.external_key: links the session to an external system (a ticket id); at most 1,024 characters."),
        input: FieldValue,
        kind: "immutable",
        required: false,
        fallback: null as string | null,
        normalize: str,
    }),
    // Custom field code name → value, keys sorted.
    custom: keyField({ yaml: Custom, input: Custom, kind: "immutable", required: false, fallback: {} as Record<string, string>, normalize: sortedObject }),
    priority: keyField({ yaml: Priority.describe("1 high, 2 medium, 3 low."), input: Priority, kind: "immutable", required: false, fallback: null as number | null, normalize: num }),
    // Skill code names, sorted, without repeats.
    skills: keyField({
        yaml: Skills,
        input: Skills,
        kind: "immutable",
        required: false,
        fallback: [] as string[],
        normalize: (v) => [...new Set(Array.isArray(v) ? v.map(String) : [])].sort(),
    }),
    urlHostname: keyField({ yaml: UrlHostname, input: UrlHostname, kind: "immutable", required: false, fallback: null as string | null, normalize: (v) => str(v)?.toLowerCase() ?? null }),
    // When keyfleet replaces the key before it expires (12h, 1d, 2w); null = a tenth of its lifetime. keyfleet's own: never sent.
    renewBefore: keyField({ yaml: RenewBefore, input: RenewBefore, kind: "local", required: false, fallback: null as string | null, normalize: str }),
});

export const SessionKeyEntry = z
    .strictObject({
        name: SessionKeyName,
        ...BT_FIELDS.yamlShape,
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

export const PREFIX = "beyondtrust/sessionKey/";

/** The resource inputs of one entry besides the core's: one function for declare() and the policy's offline check. */
export function keyInputs(e: SessionKeyEntry) {
    return { name: e.name, ...BT_FIELDS.fromEntry(e) };
}

export const SESSION_KEY_SECRET_OUTPUTS = ["shortKey", "keyUrl", "mailBody"] as const;

export const SESSION_KEY_OUTPUTS = [...SESSION_KEY_SECRET_OUTPUTS, "mailSubject", "expires", "queue", "queueId", "available", "fingerprint"] as const;

/**
 * What the report, the summary and the core read of this vendor's key outputs: expiry, standing
 * (the rotation decision and the schedule use the same rule), what a delete leaves.
 */
// A session key has no standing at the appliance beyond its expiry (no disable or revoke action).
export const BEYONDTRUST_KEY_OUTPUTS: KeyOutputs = {
    fieldNames: BT_FIELDS.yamlNames,
    expires: "expires",
    standing: () => "active",
    // The appliance has no revoke (lifecycle.ts): delete only forgets the key.
    keptOnDelete: (o) => `the key itself: BeyondTrust cannot revoke a session key, it stays usable until it expires${typeof o.expires === "string" ? ` at ${o.expires}` : ""}`,
};

/**
 * Per API account, as the vendor documents it; paced at 90% of the per-second rate, because the
 * appliance counts arrivals and a request on a fresh connection arrives later than the next ones.
 */
export const BEYONDTRUST_LIMITS: Limits = { perSecond: 20, perHour: 15000, headroom: 0.1 };
