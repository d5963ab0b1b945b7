// The schema of config/<environment>.yaml: the desired set of API keys of one environment.
// It is the single source of both the validation keyfleet runs (zod) and config/schema.json, the
// JSON Schema editors use (generated from this file by `npm run schema`). Rules JSON Schema cannot
// say (unique names per tenant, a contact center for tenant keys) live in config/load.ts.
import { z } from "zod";
import { NEXUS_KIND_PERMISSIONS, type NexusKeyKind } from "@keyfleet/providers/nexus/provider";

const duration = z
    .string()
    .regex(/^[1-9][0-9]*[hdw]$/, { error: "must be a duration like 12h, 90d or 2w" })
    .describe("A whole number of hours, days or weeks: 12h, 90d, 2w.");

export const Rotation = z
    .strictObject({
        every: duration.optional().describe("Replace the key once it is older than this."),
        generation: z.int().min(0).optional().describe("Raise to rotate the key now."),
    })
    .describe("When keyfleet replaces a key: the new key is created before the old one is deleted.");

const isoDate = z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
    error: "must be a date (2027-01-31) or a date and time (2027-01-31T12:00:00Z)",
});

const ADOPT_ERROR = "adopt takes true (adopt the existing key with this name) or a key fingerprint nxk_…; never write a key value here";

function permission(kind: NexusKeyKind) {
    const allowed = NEXUS_KIND_PERMISSIONS[kind];
    return z.enum(allowed as [string, ...string[]], {
        error: (issue) => `unknown permission ${JSON.stringify(issue.input)}; a ${kind} key takes ${allowed.join(" or ")}`,
    });
}

function nexusKey(kind: NexusKeyKind, description: string) {
    return z
        .strictObject({
            name: z.string().min(1).max(255).describe("The key's name in Nexus, unique within its tenant."),
            permissions: z
                .array(permission(kind))
                .min(1)
                .optional()
                .describe(`What the key may do; immutable (a change replaces the key). Default: ${NEXUS_KIND_PERMISSIONS[kind][0]}.`),
            enabled: z.boolean().optional().describe("false disables the key (default true)."),
            revoked: z.boolean().optional().describe("true revokes the key for good (default false)."),
            expires: isoDate.optional().describe("When the key stops working."),
            rotation: Rotation.optional().describe("Overrides defaults.rotation for this key."),
            adopt: z
                .union([z.literal(true), z.string().regex(/^nxk_[0-9a-f]{16}$/, { error: ADOPT_ERROR })], { error: ADOPT_ERROR })
                .optional()
                .describe("Take over an existing key instead of creating one: true for the key with this name, or its fingerprint."),
        })
        .describe(description);
}

export const NexusConfig = z
    .strictObject({
        contactCenter: z.uuid().optional().describe("Contact center id (the tenant) of tenant and Designer keys."),
        tenantKeys: z.array(nexusKey("tenant", "A tenant API key.")).optional(),
        clusterKeys: z.array(nexusKey("cluster", "A cluster (multi-tenant) API key, tenant *.")).optional(),
        designerKeys: z.array(nexusKey("designer", "A Designer API key.")).optional(),
    })
    .describe("Genesys Digital Channels (Nexus) API keys.");

export const Environment = z
    .strictObject({
        defaults: z
            .strictObject({ rotation: Rotation.optional().describe("Rotation of every key that sets none.") })
            .optional()
            .describe("Settings every key inherits."),
        nexus: NexusConfig.optional(),
    })
    .describe("keyfleet: the API keys of one environment. The stack's Pulumi.<stack>.yaml holds endpoints and credentials.");

export type Environment = z.infer<typeof Environment>;
export type NexusKeyEntry = z.infer<ReturnType<typeof nexusKey>>;
