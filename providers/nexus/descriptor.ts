// Genesys Digital Channels ("Nexus") as keyfleet sees it: the `nexus:` section of an environment's
// YAML, its rules, its stack settings, how its keys are declared, and its sandbox.
import { z } from "zod";
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { ExpiryDate, expiryInstant, keyName } from "../shared/fields.ts";
import { Rotation } from "../shared/rotation.ts";
import { clock } from "../shared/clock.ts";
import { probeSettings } from "../shared/probe.ts";
import type { Settings, SettingSpec } from "../shared/settings.ts";
import { dynamicType, type KeyHygieneEntry } from "../shared/hygiene.ts";

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

const ADOPT_ERROR = "adopt takes true (adopt the existing key with this name) or a key fingerprint nxk_…; never write a key value here";
export const ADOPT = z
    .union([z.literal(true), z.string().regex(/^nxk_[0-9a-f]{16}$/, { error: ADOPT_ERROR })], { error: ADOPT_ERROR })
    .describe("Take over an existing key once, instead of creating one: true for the key with this name, or its fingerprint.");

function permission(kind: NexusKeyKind) {
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

function nexusKey(kind: NexusKeyKind, description: string) {
    return z
        .strictObject({
            name: NexusName,
            permissions: z
                .array(permission(kind))
                .min(1)
                .optional()
                .describe(
                    `What the key may do; immutable (a change replaces the key). ${NEXUS_KIND_PERMISSIONS[kind].join(", ")}` +
                        `${kind === "tenant" ? ", or one the stack setting nexus.permissions adds" : ""}. Default: ${NEXUS_KIND_PERMISSIONS[kind][0]}.`,
                ),
            enabled: z.boolean().optional().describe("false disables the key (default true)."),
            revoked: z.boolean().optional().describe("true revokes the key for good (default false)."),
            expires: ExpiryDate.optional(),
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

function takes(kind: NexusKeyKind, settings?: Settings): string {
    const extra = kind === "tenant" ? allowedPermissions(kind, settings).filter((p) => !NEXUS_KIND_PERMISSIONS.tenant.includes(p)) : [];
    const all = [...NEXUS_KIND_PERMISSIONS[kind], ...extra];
    const list = all.length === 1 ? all[0] : `${all.slice(0, -1).join(", ")} or ${all[all.length - 1]}`;
    return `a ${kind} key takes ${list}${kind === "tenant" ? " (more with the stack setting keyfleet:nexus.permissions, e.g. the Secure Mail permission)" : ""}`;
}

const LISTS = { tenant: "tenantKeys", cluster: "clusterKeys", designer: "designerKeys" } as const;

const TYPE_NAMES = { tenant: "TenantKey", cluster: "ClusterKey", designer: "DesignerKey" } as const;

/** The type tokens of the three resources (for aliases between them, and the policy), as dynamic.Resource forms them. */
export const NEXUS_KEY_TYPES = {
    tenant: dynamicType("nexus", TYPE_NAMES.tenant),
    cluster: dynamicType("nexus", TYPE_NAMES.cluster),
    designer: dynamicType("nexus", TYPE_NAMES.designer),
} as const;
export { TYPE_NAMES as NEXUS_TYPE_NAMES };

/** The resource inputs of one entry besides the core's: one function for declare() and the policy's offline check. */
function keyInputs(kind: NexusKeyKind, e: NexusKeyEntry, contactCenter: string): Record<string, unknown> {
    return {
        ...(kind === "cluster" ? {} : { contactCenter }),
        name: e.name,
        permissions: e.permissions,
        enabled: e.enabled,
        revoked: e.revoked,
        expires: e.expires ? expiryInstant(e.expires) : null,
        adopt: e.adopt ?? null,
    };
}

const tenantScoped = (s: NexusSection) => (s.tenantKeys?.length ?? 0) + (s.designerKeys?.length ?? 0) > 0;

/** The order is the order lifecycle.ts's connect() reads them in. */
/** rotation.verify's value in a raw rotation block: true, false, or undefined when it says nothing. */
function verifies(rotation: unknown): boolean | undefined {
    const v = rotation && typeof rotation === "object" ? (rotation as { verify?: unknown }).verify : undefined;
    return typeof v === "boolean" ? v : undefined;
}

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

const NEXUS_PROBE_URL = NEXUS_SETTINGS[NEXUS_SETTINGS.length - 2];

export const nexus: VendorDescriptor<NexusSection> = {
    section: "nexus",
    title: "Genesys Digital Channels (Nexus)",
    keyOutputs: {
        expires: "expires",
        standing: (o) => (o.revoked === true ? "revoked" : o.enabled === false ? "disabled" : "active"),
        keptOnDelete: () => "nothing (the key is deleted at Nexus)",
    },
    hygiene: {
        types: Object.values(NEXUS_KEY_TYPES),
        // Expiry is the key's own `expires` (null: never); every kind can be probed (probeUrl).
        facts: (inputs) => ({ expires: typeof inputs.expires === "string" ? inputs.expires : null, verifiable: true }),
        keys(section) {
            const contactCenter = (section.contactCenter ?? "").toLowerCase();
            return (Object.entries(LISTS) as [NexusKeyKind, (typeof LISTS)[NexusKeyKind]][]).flatMap(([kind, list]) =>
                (section[list] ?? []).map((e, i): KeyHygieneEntry => ({
                    resourceName: `nexus/${kind}/${e.name}`,
                    path: [list, i],
                    entry: e,
                    inputs: keyInputs(kind, e, contactCenter),
                    options: {},
                    at: (fact) => (fact === "expires" && e.expires !== undefined ? [list, i, "expires"] : fact === "rotation" && e.rotation ? [list, i, "rotation"] : undefined),
                })),
            );
        },
    },
    schema: NexusSection,
    settings: NEXUS_SETTINGS,

    declares: (s) => Object.values(LISTS).some((list) => (s[list]?.length ?? 0) > 0),

    rules(raw, settings, root) {
        const problems: SectionProblem[] = [];
        const list = (name: string): unknown[] => (Array.isArray(raw[name]) ? (raw[name] as unknown[]) : []);
        // verify: true probes a new key on probeUrl, which has no default (see NEXUS_SETTINGS).
        if (!settings.get(NEXUS_PROBE_URL)) {
            const byDefault = verifies((root?.defaults as { rotation?: unknown } | undefined)?.rotation);
            for (const name of Object.values(LISTS)) {
                list(name).forEach((entry, i) => {
                    const own = verifies((entry as { rotation?: unknown })?.rotation);
                    if (!(own ?? byDefault)) return;
                    problems.push({
                        path: own === undefined ? [name, i] : [name, i, "rotation", "verify"],
                        message:
                            `${own === undefined ? "verify: true (from defaults.rotation)" : "verify: true"} needs the stack setting keyfleet:nexus.probeUrl: ` +
                            "Nexus has no side-effect-free call every key may make, so name a read-only call this key's permission allows " +
                            "(for a Secure Mail key, GET <nexusUrl>/nexus/v3/securemail?address=<a mailbox address>, sent with x-api-key), or set verify: false",
                    });
                });
            }
        }
        // A tenant key's permission of the right form must still be documented or added by the stack.
        const allowed = allowedPermissions("tenant", settings);
        list("tenantKeys").forEach((entry, i) => {
            const permissions = (entry as { permissions?: unknown })?.permissions;
            if (!Array.isArray(permissions)) return;
            permissions.forEach((p, j) => {
                if (typeof p === "string" && NEXUS_PERMISSION_FORM.test(p) && !allowed.includes(p)) {
                    problems.push({ path: ["tenantKeys", i, "permissions", j], message: `unknown permission ${JSON.stringify(p)}; ${takes("tenant", settings)}` });
                }
            });
        });
        const scoped = ["tenantKeys", "designerKeys"].filter((name) => list(name).length > 0);
        if (scoped.length > 0 && !raw.contactCenter) problems.push({ path: ["contactCenter"], message: `is required for ${scoped.join(" and ")}` });
        // Nexus names are unique per tenant: tenant and Designer keys share the contact center's.
        const tenant = typeof raw.contactCenter === "string" ? `tenant ${raw.contactCenter.toLowerCase()}` : "the contact center";
        for (const scope of [{ lists: ["tenantKeys", "designerKeys"], tenant }, { lists: ["clusterKeys"], tenant: "the cluster" }]) {
            const seen = new Map<string, (string | number)[]>();
            for (const name of scope.lists) {
                list(name).forEach((entry, i) => {
                    const keyName = (entry as { name?: unknown })?.name;
                    if (typeof keyName !== "string") return;
                    const first = seen.get(keyName);
                    if (first !== undefined) problems.push({ path: [name, i, "name"], message: `duplicate key name "${keyName}" in ${scope.tenant}`, firstAt: first });
                    else seen.set(keyName, [name, i, "name"]);
                });
            }
        }
        return problems;
    },

    warnings(section) {
        const out: { path: (string | number)[]; message: string }[] = [];
        for (const list of Object.values(LISTS)) {
            (section[list] ?? []).forEach((e, i) => {
                if (e.expires && Date.parse(expiryInstant(e.expires)) <= clock.now()) {
                    out.push({ path: [list, i, "expires"], message: `key "${e.name}" expired on ${e.expires}; an existing key stays expired, a new one is refused` });
                }
            });
        }
        return out;
    },

    newKeyRules(section, isNew) {
        const out: SectionProblem[] = [];
        const other = { tenant: "designer", designer: "tenant", cluster: undefined } as const;
        for (const [kind, list] of Object.entries(LISTS) as [NexusKeyKind, (typeof LISTS)[NexusKeyKind]][]) {
            (section[list] ?? []).forEach((e, i) => {
                if (!e.expires || e.adopt || Date.parse(expiryInstant(e.expires)) > clock.now()) return;
                // The same names declare() gives the resource (an entry moved between tenant and Designer keeps its key).
                if (!isNew(`nexus/${kind}/${e.name}`, other[kind] ? [`nexus/${other[kind]}/${e.name}`] : [])) return;
                out.push({ path: [list, i, "expires"], message: `key "${e.name}" is new and its expiry ${e.expires} has passed: Nexus cannot create a key expired; move expires forward or remove it` });
            });
        }
        return out;
    },

    async declare(section, ctx) {
        const { NexusTenantKey, NexusClusterKey, NexusDesignerKey } = await import("./resource.ts");
        const contactCenter = (section.contactCenter ?? "").toLowerCase();
        // Tenant and Designer keys share their tenant's names, so an entry that moves from one list to
        // the other is the same resource (an alias) and gets replaced, not created beside itself.
        const other = { tenant: "designer", designer: "tenant", cluster: undefined } as const;
        const args = (kind: NexusKeyKind, e: NexusKeyEntry) => ({
            ...(keyInputs(kind, e, contactCenter) as { name: string; contactCenter: string }),
            ...ctx.core(`nexus/${kind}/${e.name}`, e, other[kind] ? [`nexus/${other[kind]}/${e.name}`] : []),
        });
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        const keep = (id: string, k: InstanceType<typeof NexusTenantKey | typeof NexusClusterKey | typeof NexusDesignerKey>) => {
            const { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey, note, rotation, currentId } = k;
            exports[id] = { id: k.id, currentId, kind, name, tenant, enabled, revoked, expires, created, rotation, fingerprint, apiKey, note };
        };
        const moved = (name: string, from: "tenant" | "designer") => ({ ...ctx.options, aliases: [{ name: `nexus/${from}/${name}`, type: NEXUS_KEY_TYPES[from] }] });
        for (const e of section.tenantKeys ?? []) keep(`nexus/tenant/${e.name}`, new NexusTenantKey(`nexus/tenant/${e.name}`, args("tenant", e), moved(e.name, "designer")));
        for (const e of section.clusterKeys ?? []) keep(`nexus/cluster/${e.name}`, new NexusClusterKey(`nexus/cluster/${e.name}`, args("cluster", e), ctx.options));
        for (const e of section.designerKeys ?? []) keep(`nexus/designer/${e.name}`, new NexusDesignerKey(`nexus/designer/${e.name}`, args("designer", e), moved(e.name, "tenant")));
        return exports;
    },

    async provider() {
        return (await import("./lifecycle.ts")).provider;
    },
};
