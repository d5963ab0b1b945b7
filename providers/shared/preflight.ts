// The program's check of every vendor's settings before any resource is declared: the endpoints
// and credentials of the keys in use must be there and usable (a URL with its scheme), and every
// credential keyfleet knows, in use or not, must be encrypted if it is in the stack config, because
// the engine hands the whole stack config to dynamic providers and keeps it in state.
import { createRequire } from "node:module";
import type { VendorDescriptor } from "./descriptor.ts";
import { configKey, invalid, missing, Settings } from "./settings.ts";

// Internal to @pulumi/pulumi but stable for years: whether a config key was set with --secret.
const { isConfigSecret, getConfig } = createRequire(import.meta.url)("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(key: string): boolean;
    getConfig(key: string): string | undefined;
};

/** Every problem with the settings of `vendors` for the environment `env`; empty when all is well. */
export function checkSettings(vendors: readonly VendorDescriptor<any>[], env: Record<string, unknown>): string[] {
    const settings = new Settings();
    settings.configure({ get: getConfig });
    const problems: string[] = [];
    for (const vendor of vendors) {
        const section = env[vendor.section];
        const used = section !== undefined && vendor.declares(section);
        for (const spec of vendor.settings) {
            const key = configKey(spec);
            // A secret inside a structured value cannot be told apart from its plain siblings (the
            // runtime marks the whole object secret when any leaf is), so credentials are top-level keys.
            if (spec.secret && spec.key.includes(".")) throw new Error(`keyfleet: the credential setting ${key} must be a top-level config key (${vendor.section}'s descriptor)`);
            if (spec.secret && settings.inConfig(spec) && !isConfigSecret(key)) {
                problems.push(`${key} is stored in plain text; set it again with \`pulumi config set --secret ${key}\``);
            }
            if (!used || (spec.needed && !spec.needed(section))) continue;
            const value = settings.get(spec);
            if (value === undefined) {
                problems.push(missing(spec));
                continue;
            }
            const bad = invalid(spec, value);
            if (bad) problems.push(bad);
            else if (spec.checkAgainst) problems.push(...spec.checkAgainst(value, section));
        }
    }
    return problems;
}
