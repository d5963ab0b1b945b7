// The keyfleet program: declares, for the selected stack, every API key that config/<stack>.yaml
// lists. The YAML is validated in full before any resource is declared, so bad input stops the
// run with every error at once and nothing reaches a vendor or state.
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { createRequire } from "node:module";
import { NEXUS_KEY_TYPES, NexusClusterKey, NexusDesignerKey, NexusTenantKey } from "@keyfleet/providers/nexus/resource";
import type { NexusKeyKind } from "@keyfleet/providers/nexus/provider";
import { formatError, loadEnvironment } from "../config/load.ts";
import type { Environment, NexusKeyEntry } from "../config/schema.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** What the stack exports per key; `apiKey` stays secret (`pulumi stack output --show-secrets`). */
interface KeyOutput {
    kind: pulumi.Output<string>;
    name: pulumi.Output<string>;
    tenant: pulumi.Output<string>;
    enabled: pulumi.Output<boolean>;
    revoked: pulumi.Output<boolean>;
    expires: pulumi.Output<string | null>;
    created: pulumi.Output<string>;
    fingerprint: pulumi.Output<string>;
    apiKey: pulumi.Output<string>;
}

function loadDesired(config: pulumi.Config): Environment {
    const file = path.resolve(ROOT, config.get("keysFile") ?? path.join("config", `${pulumi.getStack()}.yaml`));
    const shown = file.startsWith(ROOT + path.sep) ? path.relative(ROOT, file) : file;
    const result = loadEnvironment(file, shown);
    if (!result.ok) {
        const n = result.errors.length;
        throw new pulumi.RunError(`${n} error${n === 1 ? "" : "s"} in ${shown}; nothing was changed:\n${result.errors.map(formatError).join("\n")}`);
    }
    return result.env;
}

// Internal to @pulumi/pulumi but stable for years: whether a config key was set with --secret.
const { isConfigSecret, getConfig } = createRequire(import.meta.url)("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(key: string): boolean;
    getConfig(key: string): string | undefined;
};

/**
 * Endpoints and the credentials of the key kinds in use must be there before the first vendor
 * call, not discovered by it; and a credential kept in the stack file must be encrypted there,
 * since Pulumi hands the whole stack config to dynamic providers and keeps it in state.
 */
function checkNexusSettings(config: pulumi.Config, kinds: Set<NexusKeyKind>) {
    const problems: string[] = [];
    const nexus = config.getObject<Record<string, unknown>>("nexus") ?? {};
    for (const [field, env] of [["authUrl", "KEYFLEET_NEXUS_AUTH_URL"], ["nexusUrl", "KEYFLEET_NEXUS_URL"]]) {
        if (!nexus[field] && !process.env[env]) problems.push(`keyfleet:nexus.${field} is not set (nor ${env})`);
    }
    const secrets: [string, string][] = [["nexusClientSecret", "KEYFLEET_NEXUS_CLIENT_SECRET"]];
    if (kinds.has("tenant") || kinds.has("designer")) secrets.push(["nexusTenantPassword", "KEYFLEET_NEXUS_TENANT_PASSWORD"]);
    if (kinds.has("cluster")) secrets.push(["nexusOpsPassword", "KEYFLEET_NEXUS_OPS_PASSWORD"]);
    for (const [key, env] of secrets) {
        const full = `keyfleet:${key}`;
        if (getConfig(full) === undefined) {
            if (!process.env[env]) problems.push(`${full} is not set (nor ${env}); set it with \`pulumi config set --secret ${full}\``);
        } else if (!isConfigSecret(full)) {
            problems.push(`${full} is stored in plain text; set it again with \`pulumi config set --secret ${full}\``);
        }
    }
    if (problems.length > 0) {
        throw new pulumi.RunError(`stack ${pulumi.getStack()}: Nexus settings are not usable; nothing was changed:\n  ${problems.join("\n  ")}`);
    }
}

export default async function keyfleet() {
    const config = new pulumi.Config("keyfleet");
    const env = loadDesired(config);
    const keys: Record<string, KeyOutput> = {};
    const nexus = env.nexus;
    const lists = { tenant: nexus?.tenantKeys ?? [], cluster: nexus?.clusterKeys ?? [], designer: nexus?.designerKeys ?? [] };
    const kinds = new Set((Object.keys(lists) as NexusKeyKind[]).filter((kind) => lists[kind].length > 0));
    if (kinds.size > 0) {
        checkNexusSettings(config, kinds);
        const args = (entry: NexusKeyEntry) => ({
            name: entry.name,
            permissions: entry.permissions,
            enabled: entry.enabled,
            revoked: entry.revoked,
            expires: entry.expires ?? null,
            rotation: entry.rotation ?? env.defaults?.rotation ?? null,
            adopt: entry.adopt ?? null,
        });
        const contactCenter = nexus?.contactCenter ?? "";
        const declare = (resourceName: string, key: NexusTenantKey | NexusClusterKey | NexusDesignerKey) => {
            const { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey } = key;
            keys[resourceName] = { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey };
        };
        // Tenant and Designer keys share their tenant's names, so an entry that moves from one list
        // to the other is the same resource (an alias) and gets replaced, not created beside itself.
        const moved = (name: string, from: "tenant" | "designer") => ({ aliases: [{ name: `nexus/${from}/${name}`, type: NEXUS_KEY_TYPES[from] }] });
        for (const e of lists.tenant) declare(`nexus/tenant/${e.name}`, new NexusTenantKey(`nexus/tenant/${e.name}`, { contactCenter, ...args(e) }, moved(e.name, "designer")));
        for (const e of lists.cluster) declare(`nexus/cluster/${e.name}`, new NexusClusterKey(`nexus/cluster/${e.name}`, args(e)));
        for (const e of lists.designer) declare(`nexus/designer/${e.name}`, new NexusDesignerKey(`nexus/designer/${e.name}`, { contactCenter, ...args(e) }, moved(e.name, "tenant")));
    }
    return { keys };
}
