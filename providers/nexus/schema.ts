// Genesys Digital Channels ("Nexus"): the folder's leaf module. The fields of its YAML section with their schema and
// defaults, its stack settings, its resource type names and output names are declared here once;
// descriptor, lifecycle, resource and client import them from here and this file imports nothing
// of the folder, so the imports run one way and the program process, which reads only an output
// list, never loads a wire client or a database driver.
import type { KeyOutputs } from "../shared/descriptor.ts";
import { z } from "zod";
import { ExpiryDate, expiryInstant, ExpiryInstant, keyField, keyFields, keyName } from "../shared/fields.ts";
import { Rotation } from "../shared/rotation.ts";
import { probeSettings } from "../shared/probe.ts";
import type { Settings, SettingSpec } from "../shared/settings.ts";
import { dynamicType } from "../shared/hygiene.ts";

export type NexusKeyKind = "tenant" | "cluster" | "designer";

/**
 * Permissions each kind may hold, from the sources: the Provision API keys guide (chat, designer,
 * cluster) and Genesys's own provisioning scripts, which create tenant keys with `nexus:consumer:*`
 * (genesys/multicloud-services, services/iwdem/README.md). The first is the kind's default. Keys
 * of a tenant may also have Secure Mail (Administrator's Guide, "Manage API keys"), whose wire
 * string no source shows: the stack setting nexus.permissions adds it (NEXUS_EXTRA_PERMISSIONS).
 */
export const NEXUS_KIND_PERMISSIONS: Record<NexusKeyKind, readonly string[]> = {
    tenant: ["nexus:consumer:chat", "nexus:consumer:*", "nexus:designer:chat"],
    cluster: ["nexus:cluster:*"],
    designer: ["nexus:designer:chat"],
};

/** What a Nexus permission looks like; the schema takes any of this form for a tenant key and the rules check it. */
export const NEXUS_PERMISSION_FORM = /^nexus:[A-Za-z0-9_-]+(:[A-Za-z0-9_*-]+)+$/;

/** Tenant-key permissions a deployment adds (comma-separated), e.g. the Secure Mail permission. */
export const NEXUS_EXTRA_PERMISSIONS: SettingSpec & { needed(): boolean } = {
    key: "nexus.permissions",
    env: "KEYFLEET_NEXUS_PERMISSIONS",
    default: "",
    // A deployment's tuning, not asked by bootstrap; the YAML's rules read it.
    needed: () => false,
    check: (v) => {
        const bad = splitPermissions(v).filter((p) => !NEXUS_PERMISSION_FORM.test(p));
        return bad.length === 0 ? undefined : `must be a comma-separated list of permissions like nexus:consumer:chat; ${bad.map((p) => JSON.stringify(p)).join(", ")} ${bad.length === 1 ? "is" : "are"} not`;
    },
    about: "permissions tenant keys may hold beyond the documented ones, comma-separated (the Secure Mail permission, whose wire string is not documented)",
};

export function splitPermissions(value: string | undefined): string[] {
    return (value ?? "").split(",").map((p) => p.trim()).filter(Boolean);
}

/** The permissions a key of `kind` may hold, with a deployment's extras for tenant keys. */
export function allowedPermissions(kind: NexusKeyKind, settings?: Settings): string[] {
    const extra = kind === "tenant" && settings ? splitPermissions(settings.get(NEXUS_EXTRA_PERMISSIONS)) : [];
    return [...new Set([...NEXUS_KIND_PERMISSIONS[kind], ...extra])];
}

export const NexusName = keyName(255, "The key's name in Nexus, unique within its tenant.");

export const ADOPT_ERROR = "adopt takes true (adopt the existing key with this name) or a key fingerprint nxk_…; never write a key value here";
export const ADOPT = z
    .union([z.literal(true), z.string().regex(/^nxk_[0-9a-f]{16}$/, { error: ADOPT_ERROR })], { error: ADOPT_ERROR })
    .describe("Take over an existing key once, instead of creating one: true for the key with this name, or its fingerprint.");

export function permission(kind: NexusKeyKind) {
    const allowed = NEXUS_KIND_PERMISSIONS[kind];
    // A tenant key's list is open to the deployment's extras: the form here, membership in the rules.
    if (kind === "tenant") {
        return z
            .string()
            .regex(NEXUS_PERMISSION_FORM, { error: (issue) => `unknown permission ${JSON.stringify(issue.input)}; ${takes(kind)}` })
            .describe(`A Nexus permission, nexus:<service>:<scope>: ${allowed.join(", ")}, or one the stack setting keyfleet:nexus.permissions adds.`)
            .meta({ examples: allowed });
    }
    return z.enum(allowed as [string, ...string[]], {
        error: (issue) => `unknown permission ${JSON.stringify(issue.input)}; a ${kind} key takes ${allowed.join(" or ")}`,
    });
}

/**
 * The vendor fields of a key of `kind`, each declared once: what the YAML takes, the input it
 * becomes, how a change is applied. The lifecycle's inputs, check and diff, the resources'
 * arguments and the program's inputs are derived from this table (providers/shared/fields.ts).
 * Only the YAML's permissions and their default differ by kind; the provider reads the fields of
 * every kind through NEXUS_FIELDS.
 */
function nexusFields(kind: NexusKeyKind) {
    return keyFields({
        kind: keyField({
            input: z.enum(["tenant", "cluster", "designer"]),
            // Which Nexus key this is: its list in the YAML, its resource type.
            from: "program",
            kind: "immutable",
            required: true,
            fallback: kind as NexusKeyKind,
            normalize: (v) => v as NexusKeyKind,
        }),
        tenant: keyField({
            input: z.string(),
            // The contact center id the key belongs to (lower case), or `*` for a cluster key: the section's contactCenter.
            from: "program",
            kind: "immutable",
            required: true,
            fallback: "",
            normalize: (v, inputs) => (inputs.kind === "cluster" ? "*" : String(v ?? "").toLowerCase()),
        }),
        permissions: keyField({
            yaml: z
                .array(permission(kind))
                .min(1)
                .describe(
                    `What the key may do; immutable (a change replaces the key). ${NEXUS_KIND_PERMISSIONS[kind].join(", ")}` +
                        `${kind === "tenant" ? ", or one the stack setting nexus.permissions adds" : ""}. Default: ${NEXUS_KIND_PERMISSIONS[kind][0]}.`,
                ),
            // The kind's rules (which permissions, and the deployment's extras) are check's, across fields.
            input: z.array(z.string()).min(1, { error: "at least one permission is needed" }),
            kind: "immutable",
            required: false,
            inputRequired: true,
            // The first permission a kind may hold is its default, as the YAML schema documents.
            fallback: [NEXUS_KIND_PERMISSIONS[kind][0]] as string[],
            normalize: (v) => [...new Set((v as string[] | undefined) ?? [])].sort(),
        }),
        enabled: keyField({
            yaml: z.boolean().describe("false disables the key (default true)."),
            input: z.boolean(),
            kind: "mutable",
            required: false,
            fallback: true as boolean,
        }),
        revoked: keyField({
            yaml: z.boolean().describe("true revokes the key for good (default false)."),
            input: z.boolean(),
            kind: "mutable",
            // A revoked key is refused for good; clearing the flag replaces the key with a new one.
            oneWay: true,
            required: false,
            fallback: false as boolean,
        }),
        expires: keyField({
            yaml: ExpiryDate,
            input: ExpiryInstant,
            kind: "mutable",
            required: false,
            fallback: null as string | null,
            fromEntry: (v) => (typeof v === "string" && v ? expiryInstant(v) : null),
            normalize: (v) => (v ? new Date(String(v)).toISOString() : null),
        }),
    });
}

/** Each kind's table, made once. */
export const NEXUS_KIND_FIELDS = { tenant: nexusFields("tenant"), cluster: nexusFields("cluster"), designer: nexusFields("designer") };

/** The fields as the provider reads them: the same for every kind (see nexusFields). */
export const NEXUS_FIELDS = NEXUS_KIND_FIELDS.tenant;

export function nexusKey(kind: NexusKeyKind, description: string) {
    return z
        .strictObject({
            name: NexusName,
            ...NEXUS_KIND_FIELDS[kind].yamlShape,
            rotation: Rotation.optional().describe("Overrides defaults.rotation for this key, field by field."),
            adopt: ADOPT.optional(),
        })
        .describe(description);
}

export const NexusSection = z
    .strictObject({
        contactCenter: z
            .uuid({ error: "must be a contact center id: a UUID like 578ec98e-f07c-46ad-9675-f36c22f3ba9f" })
            .meta({ examples: ["578ec98e-f07c-46ad-9675-f36c22f3ba9f"] })
            .optional()
            .describe("Contact center id (the tenant) of tenant and Designer keys: a UUID, any case."),
        tenantKeys: z.array(nexusKey("tenant", "A tenant API key.")).optional().describe("API keys of the contact center (tenant): consumer permissions such as chat."),
        clusterKeys: z.array(nexusKey("cluster", "A cluster (multi-tenant) API key, tenant *.")).optional().describe("Cluster API keys (every tenant, tenant *), made by the ops admin."),
        designerKeys: z.array(nexusKey("designer", "A Designer API key.")).optional().describe("Designer API keys of the contact center."),
    })
    .describe("Genesys Digital Channels (Nexus) API keys.");

export type NexusSection = z.infer<typeof NexusSection>;
export type NexusKeyEntry = z.infer<ReturnType<typeof nexusKey>>;

export function takes(kind: NexusKeyKind, settings?: Settings): string {
    const extra = kind === "tenant" ? allowedPermissions(kind, settings).filter((p) => !NEXUS_KIND_PERMISSIONS.tenant.includes(p)) : [];
    const all = [...NEXUS_KIND_PERMISSIONS[kind], ...extra];
    const list = all.length === 1 ? all[0] : `${all.slice(0, -1).join(", ")} or ${all[all.length - 1]}`;
    return `a ${kind} key takes ${list}${kind === "tenant" ? " (more with the stack setting keyfleet:nexus.permissions, e.g. the Secure Mail permission)" : ""}`;
}

export const LISTS = { tenant: "tenantKeys", cluster: "clusterKeys", designer: "designerKeys" } as const;

export const TYPE_NAMES = { tenant: "TenantKey", cluster: "ClusterKey", designer: "DesignerKey" } as const;

/** The type tokens of the three resources (for aliases between them, and the policy), as dynamic.Resource forms them. */
export const NEXUS_KEY_TYPES = {
    tenant: dynamicType("nexus", TYPE_NAMES.tenant),
    cluster: dynamicType("nexus", TYPE_NAMES.cluster),
    designer: dynamicType("nexus", TYPE_NAMES.designer),
} as const;
export { TYPE_NAMES as NEXUS_TYPE_NAMES };

/** The resource inputs of one entry besides the core's: one function for declare() and the policy's offline check. */
export function keyInputs(kind: NexusKeyKind, e: NexusKeyEntry, contactCenter: string) {
    return { ...(kind === "cluster" ? {} : { contactCenter }), name: e.name, ...NEXUS_KIND_FIELDS[kind].fromEntry(e), adopt: e.adopt ?? null };
}

export const tenantScoped = (s: NexusSection) => (s.tenantKeys?.length ?? 0) + (s.designerKeys?.length ?? 0) > 0;

/** The order is the order lifecycle.ts's connect() reads them in. */

export const NEXUS_SETTINGS = [
    { key: "nexus.authUrl", env: "KEYFLEET_NEXUS_AUTH_URL", url: true, about: "GWS Auth Services URL, e.g. https://gauth.example.com" },
    { key: "nexus.nexusUrl", env: "KEYFLEET_NEXUS_URL", url: true, about: "Digital Channels URL, e.g. https://nexus.example.com" },
    { key: "nexus.clientId", env: "KEYFLEET_NEXUS_CLIENT_ID", default: "nexus_client", about: "OAuth client of the password grant" },
    { key: "nexus.tenantUser", env: "KEYFLEET_NEXUS_TENANT_USER", default: "nexus", about: "GWS user of the contact center (tenant and Designer keys)", needed: tenantScoped },
    { key: "nexus.opsUser", env: "KEYFLEET_NEXUS_OPS_USER", default: "ops", about: "GWS ops admin (cluster keys)", needed: (s: NexusSection) => (s.clusterKeys?.length ?? 0) > 0 },
    { key: "nexusClientSecret", env: "KEYFLEET_NEXUS_CLIENT_SECRET", secret: true, about: "secret of the OAuth client" },
    { key: "nexusTenantPassword", env: "KEYFLEET_NEXUS_TENANT_PASSWORD", secret: true, about: "password of the tenant user", needed: tenantScoped },
    { key: "nexusOpsPassword", env: "KEYFLEET_NEXUS_OPS_PASSWORD", secret: true, about: "password of the ops admin", needed: (s: NexusSection) => (s.clusterKeys?.length ?? 0) > 0 },
    {
        key: "nexus.requestStyle",
        env: "KEYFLEET_NEXUS_REQUEST_STYLE",
        default: "seed",
        // A deployment's tuning, not asked by bootstrap; a bad value is refused when the provider connects, before any request.
        needed: () => false,
        check: (v: string) => (v === "seed" || v === "scripts" ? undefined : `must be seed (Authorization: <token>, bare body: the Provision API keys guide) or scripts (Authorization: Bearer <token>, body {"data": …}: Genesys's provisioning scripts); it is "${v}"`),
        about: "how key-API requests are written: seed (bare token and body, the guide's) or scripts (Bearer token, body in {\"data\": …}, Genesys's provisioning scripts)",
    },
    NEXUS_EXTRA_PERMISSIONS,
    // verify: no Genesys source has a side-effect-free call every key may make (there is no whoami),
    // so the probe has no default: verify: true needs probeUrl (the rules refuse the YAML without it).
    ...probeSettings("nexus", "KEYFLEET_NEXUS", { url: "none: required by verify: true", expect: "200" }),
] as const;

export const NEXUS_PROBE_URL = NEXUS_SETTINGS[NEXUS_SETTINGS.length - 2];

export const NEXUS_SECRET_OUTPUTS = ["apiKey"] as const;

export const FINGERPRINT_PREFIX = "nxk_";

/**
 * What the report, the summary and the core read of this vendor's key outputs: expiry, standing
 * (the rotation decision and the schedule use the same rule), what a delete leaves.
 */
export const NEXUS_KEY_OUTPUTS: KeyOutputs = {
    fieldNames: NEXUS_FIELDS.yamlNames,
    expires: "expires",
    standing: (o) => (o.revoked === true ? "revoked" : o.enabled === false ? "disabled" : "active"),
    keptOnDelete: () => "nothing (the key is deleted at Nexus)",
};
