// SupportCenter Plus: the folder's leaf module. The fields of its YAML section with their schema and
// defaults, its stack settings, its resource type names and output names are declared here once;
// descriptor, lifecycle, resource and client import them from here and this file imports nothing
// of the folder, so the imports run one way and the program process, which reads only an output
// list, never loads a wire client or a database driver.
import type { KeyOutputs } from "../shared/descriptor.ts";
import { z } from "zod";
import { ExpiryDate, expiryInstant, ExpiryInstant, keyField, keyFields, keyName } from "../shared/fields.ts";
import { probeSettings } from "../shared/probe.ts";
import { Duration, durationMs, Rotation, type RotationPolicy } from "../shared/rotation.ts";

/** The product's limits (the UI's form; the sandbox enforces the same). */
export const NAME_MAX = 50;
export const DESCRIPTION_MAX = 250;
export const DEFAULT_WARN_BEFORE = "3d";
/** The reassignment comment's limit (the web client refuses more, common.comments.maxlength). */
export const COMMENT_MAX = 250;
/** Inferred: the notification form's days field shows no bound in any source; the sandbox takes 1 to this. */
export const NOTIFY_DAYS_MAX = 365;

/**
 * The product's role rules, as its web client checks them before a create or an edit (evidence:
 * validateIntegKeyConfig): SDAdmin and SDSiteAdmin not together, and not only roles that grant no
 * module (SDReport, AERemoteControl). Undefined when `roles` passes.
 */
export function rolesProblem(roles: readonly string[]): string | undefined {
    if (roles.includes("SDAdmin") && roles.includes("SDSiteAdmin")) return "SDAdmin and SDSiteAdmin cannot be given together (SupportCenter Plus refuses it): keep one";
    if (roles.length > 0 && roles.every((r) => r === "SDReport" || r === "AERemoteControl")) {
        return "SDReport and AERemoteControl depend on a module role (SupportCenter Plus refuses a key with only these): add a role such as SDAdmin or Technician";
    }
    return undefined;
}

/**
 * A bare date as the product keeps it: 23:59 of that day (the web client sends
 * getLongDate(date, 23, 59), to the minute); UTC here, since the product's zone is the browser's
 * (inferred). A date and time is kept as written.
 */
export function scpExpiry(value: string): string {
    return /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T23:59:00.000Z` : expiryInstant(value);
}

export const NAME_ABOUT = "The key's name, unique across the instance (in any case).";
// The product trims names: a name with a leading or trailing space would be stored without it and
// differ from the YAML at every run. (A blank name is keyName's error alone.)
export const ScpName = keyName(NAME_MAX, NAME_ABOUT)
    .regex(/^(?:\S(?:[\s\S]*\S)?|\s*)$/, { error: "must not start or end with a space (SupportCenter Plus trims names)" })
    .describe(NAME_ABOUT);
export const RoleName = z.string().regex(/\S/, { error: "must not be blank" }).describe("A role's name as SupportCenter Plus shows it (exact).");
export const Login = z
    .string()
    .regex(/^\S+$/, { error: "must be a login name (no spaces)" })
    .describe("Login name of the support rep (an SDAdmin) who owns the key; keyfleet acts as that user.");
export const Status = z.enum(["active", "inactive"], { error: "must be active or inactive" });
export const Description = z.string().max(DESCRIPTION_MAX, { error: `must be at most ${DESCRIPTION_MAX} characters` });

export const ADOPT_ERROR = "adopt takes true (the existing key with this name) or the key's record id (digits, as in the product's URL)";
export const ADOPT = z
    .union([z.literal(true), z.string().regex(/^\d{1,20}$/, { error: ADOPT_ERROR })], { error: ADOPT_ERROR })
    .describe("Take over an existing key once, instead of creating one: true for the key with this name, or its record id.");

/**
 * The vendor fields of an integration key, each declared once: what the YAML takes, the input it
 * becomes, how a change is applied. The lifecycle's inputs, check and diff, the resource's
 * arguments and the program's inputs are derived from this table (providers/shared/fields.ts).
 */
export const SCP_FIELDS = keyFields({
    roles: keyField({
        yaml: z.array(RoleName).min(1, { error: "a key needs at least one role" }).describe("Roles the key acts with, by name; changed in place."),
        input: z
            .array(RoleName)
            .min(1, { error: "a key needs at least one role" })
            .superRefine((roles, ctx) => {
                const problem = rolesProblem(roles);
                if (problem) ctx.addIssue({ code: "custom", message: problem });
            }),
        kind: "mutable",
        required: true,
        fallback: [] as string[],
        normalize: (v) => [...new Set((v as string[] | undefined) ?? [])].sort(),
    }),
    expires: keyField({
        yaml: z
            .union([z.literal("never"), ExpiryDate], { error: "must be never, a date (2027-06-30) or a date and time (2027-06-30T12:00:00Z)" })
            .describe("never (the default), or when the key stops working; a date means 23:59 of that day, UTC, as the product keeps it. Changed in place."),
        input: ExpiryInstant,
        kind: "mutable",
        required: false,
        fallback: null as string | null,
        fromEntry: (v) => (typeof v === "string" && v !== "never" ? scpExpiry(v) : null),
        normalize: (v) => (v ? new Date(String(v)).toISOString() : null),
    }),
    description: keyField({
        yaml: Description.describe(`Notes on the key, at most ${DESCRIPTION_MAX} characters.`),
        input: Description,
        kind: "mutable",
        required: false,
        fallback: null as string | null,
    }),
    status: keyField({
        yaml: Status.describe("active (default) or inactive; an inactive key is refused by the product but kept."),
        input: Status,
        kind: "mutable",
        required: false,
        fallback: "active" as "active" | "inactive",
    }),
    owner: keyField({ yaml: Login, input: Login, kind: "mutable", required: true, fallback: "", normalize: (v) => String(v ?? "") }),
    reassignComment: keyField({
        yaml: z
            .string()
            .max(COMMENT_MAX, { error: `must be at most ${COMMENT_MAX} characters (SupportCenter Plus refuses longer comments)` })
            .describe("The comment SupportCenter Plus records when keyfleet reassigns the key to a new owner: (default: one naming the YAML)."),
        input: z.string().max(COMMENT_MAX, { error: `must be at most ${COMMENT_MAX} characters` }),
        // Not a vendor field of the key: said once, at a reassignment; never diffed.
        kind: "local",
        required: false,
        fallback: null as string | null,
    }),
});

export const IntegrationKey = z
    .strictObject({
        name: ScpName,
        renamedFrom: ScpName.optional().describe("The key's previous name in this file: the key is renamed in place and keeps its value."),
        ...SCP_FIELDS.yamlShape,
        warnBefore: Duration.optional().describe(`Warn this long before the key expires (default ${DEFAULT_WARN_BEFORE}, as the product's own reminder).`),
        rotation: Rotation.optional().describe("Overrides defaults.rotation for this key, field by field; with rotation an expired key is replaced too."),
        protect: z
            .boolean()
            .optional()
            .describe("true makes Pulumi refuse to delete the key (default false); a rotation still replaces it (the key is unprotected for that run only)."),
        adopt: ADOPT.optional(),
    })
    .describe("A SupportCenter Plus integration key.");

export const Notifications = z
    .strictObject({
        enabled: z.boolean().describe("Whether SupportCenter Plus mails before an integration key expires."),
        days: z
            .number()
            .int({ error: "must be a whole number of days" })
            .min(1, { error: "must be at least 1" })
            .max(NOTIFY_DAYS_MAX, { error: `must be at most ${NOTIFY_DAYS_MAX}` })
            .optional()
            .describe("How many days before the expiry; left out, as the product has it."),
        technicians: z.array(Login).optional().describe("SDAdmins to notify, by login (they need an email address); left out, as the product has them."),
        owner: z.boolean().optional().describe("Notify each key's owner too ($IntegrationKeyOwner in the product); left out, as the product has it."),
    })
    .describe("The instance's expiry-notification setting (one resource; `pulumi destroy` or removing the block restores the setting as keyfleet found it).");

export const SupportCenterSection = z
    .strictObject({
        integrationKeys: z.array(IntegrationKey).optional().describe("Integration keys (technician API keys), each owned by a technician."),
        notifications: Notifications.optional(),
    })
    .describe("ManageEngine SupportCenter Plus integration keys (Admin > Developer Space > Integration Key).");

export type SupportCenterSection = z.infer<typeof SupportCenterSection>;
export type IntegrationKeyEntry = z.infer<typeof IntegrationKey>;

/** keyfleet:supportcenterOwners: login → the owner's technician key and login password. */
export type OwnerCredentials = Map<string, { technicianKey: string; password: string }>;

/** Parses the owners map; errors never quote a value (they are secrets). */
export function parseOwners(text: string): { owners: OwnerCredentials; problems: string[] } {
    const owners: OwnerCredentials = new Map();
    const problems: string[] = [];
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch {
        return { owners, problems: ["keyfleet:supportcenterOwners must be a JSON object"] };
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) return { owners, problems: ["keyfleet:supportcenterOwners must be a JSON object"] };
    for (const [login, v] of Object.entries(raw as Record<string, unknown>)) {
        const c = v as { technicianKey?: unknown; password?: unknown } | null;
        if (!c || typeof c !== "object" || typeof c.technicianKey !== "string" || !c.technicianKey || typeof c.password !== "string" || !c.password) {
            problems.push(`keyfleet:supportcenterOwners["${login}"] must be {"technicianKey": "…", "password": "…"} (both non-empty)`);
            continue;
        }
        owners.set(login, { technicianKey: c.technicianKey, password: c.password });
    }
    return { owners, problems };
}

/** The message for an owner the stack has no credentials for; both the pre-flight and the provider say it. */
export function ownerMissing(login: string): string {
    return (
        `keyfleet:supportcenterOwners has no credentials for owner "${login}"; keyfleet acts as a key's owner (only the owner may edit, view, reassign or delete it): ` +
        `add "${login}": {"technicianKey": …, "password": …} to the JSON map and set it from a file, \`pulumi config set --secret keyfleet:supportcenterOwners < owners.json\` (or KEYFLEET_SUPPORTCENTER_OWNERS)`
    );
}

/**
 * The warning for a key expired or expiring within its warnBefore at `at` (shown as `shown`), or
 * undefined. `rotation` is the key's policy: with one, an expired key is replaced by this run.
 */
export function expiryWarning(e: IntegrationKeyEntry, shown: string, at: number, rotation: RotationPolicy | null, now: number): string | undefined {
    const rotates = rotation
        ? `; rotation replaces it with a new key${rotation.every ? ` valid for ${rotation.every}` : ""}`
        : "; move expires forward (an edit revives the key and keeps its value) or add rotation";
    if (at <= now) return `key "${e.name}" expired on ${shown}${rotates}`;
    const warnBefore = e.warnBefore ?? DEFAULT_WARN_BEFORE;
    if (at - now > durationMs(warnBefore)) return undefined;
    const hours = Math.max(1, Math.round((at - now) / 3_600_000));
    return `key "${e.name}" expires on ${shown}, in ${hours < 48 ? `${hours}h` : `${Math.round(hours / 24)}d`} (within warnBefore ${warnBefore})${rotates}`;
}

export const declaresKeys = (s: SupportCenterSection) => (s.integrationKeys?.length ?? 0) > 0 || s.notifications !== undefined;

/** The order is the order lifecycle.ts's connect() reads them in. */
export const SCP_SETTINGS = [
    { key: "supportcenter.url", env: "KEYFLEET_SUPPORTCENTER_URL", url: true, about: "SupportCenter Plus URL, e.g. https://support.example.com" },
    {
        key: "supportcenterOwners",
        env: "KEYFLEET_SUPPORTCENTER_OWNERS",
        secret: true,
        json: true,
        about: 'JSON map of each key owner\'s login to {"technicianKey", "password"} (the login password opens the key value once)',
        // Every owner the YAML names must be there, so a change never starts and stops half way.
        checkAgainst(value: string, section: SupportCenterSection): string[] {
            const { owners, problems } = parseOwners(value);
            const named = new Set((section.integrationKeys ?? []).map((e) => e.owner));
            for (const login of named) if (!owners.has(login)) problems.push(ownerMissing(login));
            if (section.notifications && owners.size === 0) problems.push("keyfleet:supportcenterOwners names no owner: supportcenter.notifications needs an SDAdmin's technician key to act as");
            return problems;
        },
    },
    // verify: listing requests with the key only reads (the product's own read-only consumer call).
    ...probeSettings("supportcenter", "KEYFLEET_SUPPORTCENTER", { url: "<url>/api/v3/requests", expect: "200" }),
] as const;

/** The resource inputs of one entry besides the core's: one function for declare() and the policy's offline check. */
export function keyInputs(e: IntegrationKeyEntry) {
    return { name: e.name, ...SCP_FIELDS.fromEntry(e), adopt: e.adopt ?? null };
}

export const SCP_SECRET_OUTPUTS = ["apiKey"] as const;

export const SCP_OUTPUT_NAMES = ["keyId", "apiKey", "fingerprint", "ownerId", "validUntil", "isExpired", "deletedRoles"] as const;

/**
 * What the report, the summary and the core read of this vendor's key outputs: expiry, standing
 * (the rotation decision and the schedule use the same rule), what a delete leaves.
 */
// validUntil is the key's actual validity (an overlap may shorten it below the YAML's expires).
export const SCP_KEY_OUTPUTS: KeyOutputs = {
    fieldNames: SCP_FIELDS.yamlNames,
    expires: "validUntil",
    standing: (o) => (o.isExpired === true ? "expired" : o.status === "inactive" ? "disabled" : "active"),
    // The product lists deleted keys as evidence and may keep their names taken (lifecycle.ts).
    keptOnDelete: () => "the key in its list, marked deleted and unusable; its name may stay taken",
};
