// The keyfleet program: declares, for the selected stack, every API key that config/<stack>.yaml
// lists. The YAML is validated in full before any resource is declared, so bad input stops the
// run with every error at once and nothing reaches a vendor or state.
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { NexusClusterKey, NexusDesignerKey, NexusTenantKey } from "@keyfleet/providers/nexus/resource";
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

/** Endpoints and credentials must be there before the first vendor call, not discovered by it. */
function checkNexusSettings(config: pulumi.Config) {
    const missing: string[] = [];
    const nexus = config.getObject<Record<string, unknown>>("nexus") ?? {};
    for (const field of ["authUrl", "nexusUrl"]) if (!nexus[field]) missing.push(`keyfleet:nexus.${field}`);
    const secrets: [string, string][] = [
        ["nexusClientSecret", "KEYFLEET_NEXUS_CLIENT_SECRET"],
        ["nexusTenantPassword", "KEYFLEET_NEXUS_TENANT_PASSWORD"],
        ["nexusOpsPassword", "KEYFLEET_NEXUS_OPS_PASSWORD"],
    ];
    for (const [key, env] of secrets) if (!config.getSecret(key) && !process.env[env]) missing.push(`keyfleet:${key} (secret, or ${env})`);
    if (missing.length > 0) {
        throw new pulumi.RunError(`stack ${pulumi.getStack()} lacks Nexus settings; nothing was changed:\n  ${missing.join("\n  ")}\nset them with \`pulumi config set [--secret] <key> <value>\``);
    }
}

export default async function keyfleet() {
    const config = new pulumi.Config("keyfleet");
    const env = loadDesired(config);
    const keys: Record<string, KeyOutput> = {};
    const nexus = env.nexus;
    if (nexus && (nexus.tenantKeys?.length || nexus.clusterKeys?.length || nexus.designerKeys?.length)) {
        checkNexusSettings(config);
        const args = (entry: NexusKeyEntry) => ({
            name: entry.name,
            permissions: entry.permissions,
            enabled: entry.enabled,
            revoked: entry.revoked,
            expires: entry.expires ?? null,
            rotation: entry.rotation ?? env.defaults?.rotation ?? null,
            adopt: entry.adopt ?? null,
        });
        const contactCenter = nexus.contactCenter ?? "";
        const declare = (resourceName: string, key: NexusTenantKey | NexusClusterKey | NexusDesignerKey) => {
            const { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey } = key;
            keys[resourceName] = { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey };
        };
        for (const e of nexus.tenantKeys ?? []) declare(`nexus/tenant/${e.name}`, new NexusTenantKey(`nexus/tenant/${e.name}`, { contactCenter, ...args(e) }));
        for (const e of nexus.clusterKeys ?? []) declare(`nexus/cluster/${e.name}`, new NexusClusterKey(`nexus/cluster/${e.name}`, args(e)));
        for (const e of nexus.designerKeys ?? []) declare(`nexus/designer/${e.name}`, new NexusDesignerKey(`nexus/designer/${e.name}`, { contactCenter, ...args(e) }));
    }
    return { keys };
}
