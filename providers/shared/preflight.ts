// The program's check of every vendor's settings before any resource is declared: the endpoints
// and credentials of the keys in use must be there and usable (a URL with its scheme), and every
// credential keyfleet knows, in use or not, must be encrypted if it is in the stack config, because
// the engine hands the whole stack config to dynamic providers and keeps it in state.
import { createRequire } from "node:module";
import type { VendorDescriptor } from "./descriptor.ts";
import { configKey, invalid, missing, Settings, type SettingSpec } from "./settings.ts";

// Internal to @pulumi/pulumi but stable for years: whether a config key was set with --secret.
const { isConfigSecret, getConfig, allConfig } = createRequire(import.meta.url)("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(key: string): boolean;
    getConfig(key: string): string | undefined;
    allConfig(): Record<string, string>;
};

/** Names that say "credential": such a value must never sit in the stack file in plain text. */
const LOOKS_SECRET = /pass(word|wd)?|secret|token|credential|private|api.?key/i;

/**
 * Keys in the `keyfleet:` namespace that no setting declares. A misspelt or invented key is ignored
 * by every reader, so without this check `keyfleet:supportsystem.password` would sit in plain text in
 * the stack file while the run silently used something else. Values are never quoted.
 */
export function unknownSettings(vendors: readonly VendorDescriptor<any>[], config: Record<string, string>, programKeys: readonly string[], secret: (key: string) => boolean): string[] {
    const top = new Set(programKeys.map((k) => `keyfleet:${k}`));
    const fields = new Map<string, Set<string>>();
    for (const vendor of vendors) {
        for (const spec of vendor.settings) {
            const dot = spec.key.indexOf(".");
            if (dot < 0) top.add(configKey(spec));
            else {
                const name = `keyfleet:${spec.key.slice(0, dot)}`;
                if (!fields.has(name)) fields.set(name, new Set());
                fields.get(name)!.add(spec.key.slice(dot + 1));
            }
        }
    }
    const problems: string[] = [];
    const credential = (key: string, plain: boolean) =>
        LOOKS_SECRET.test(key) && plain ? `; its name says credential and it is in plain text in the stack file: remove it with \`pulumi config rm ${key.includes(".") ? "--path " : ""}${key}\`` : `; remove it with \`pulumi config rm ${key.includes(".") ? "--path " : ""}${key}\``;
    for (const key of Object.keys(config).sort()) {
        if (!key.startsWith("keyfleet:")) continue;
        const known = fields.get(key);
        if (known) {
            let value: unknown;
            try {
                value = JSON.parse(config[key]!);
            } catch {
                value = undefined;
            }
            if (!value || typeof value !== "object" || Array.isArray(value)) {
                problems.push(`${key} must be an object of settings (${[...known].sort().join(", ")}); set its fields with \`pulumi config set --path ${key}.<field> <value>\``);
                continue;
            }
            for (const field of Object.keys(value).sort()) {
                if (known.has(field)) continue;
                problems.push(`${key}.${field} is not a setting keyfleet knows (${key} takes ${[...known].sort().join(", ")})${credential(`${key}.${field}`, !secret(key))}`);
            }
        } else if (!top.has(key)) {
            problems.push(`${key} is not a setting keyfleet knows${credential(key, !secret(key))}`);
        }
    }
    return problems;
}

/**
 * Where the stack config comes from: the engine's (secrets decrypted) during a run, or a stack file
 * read as YAML by `npm run validate`, where a secret is only known to be there (`opaque`).
 */
export interface ConfigSource {
    all(): Record<string, string>;
    get(key: string): string | undefined;
    isSecret(key: string): boolean;
    /** A value that is set but cannot be read here (not decrypted): its shape is not checked. */
    opaque?(key: string): boolean;
}

const runtimeConfig: ConfigSource = { all: allConfig, get: getConfig, isSecret: isConfigSecret };

export interface SettingsOptions {
    /**
     * Called instead of reporting a setting that neither the config nor this process's environment
     * holds; validate passes it, since the run's environment (a pipeline's secrets, the database
     * `npm run up` starts) is not the one validate runs in.
     */
    onMissing?(problem: string, spec: SettingSpec): void;
}

/** Every problem with the settings of `vendors` for the environment `env`; empty when all is well. */
export function checkSettings(
    vendors: readonly VendorDescriptor<any>[],
    env: Record<string, unknown>,
    programKeys: readonly string[] = ["keysFile"],
    source: ConfigSource = runtimeConfig,
    options: SettingsOptions = {},
): string[] {
    const settings = new Settings();
    settings.configure({ get: source.get });
    const isConfigSecret = source.isSecret;
    const problems: string[] = unknownSettings(vendors, source.all(), programKeys, isConfigSecret);
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
                if (options.onMissing) options.onMissing(missing(spec), spec);
                else problems.push(missing(spec));
                continue;
            }
            if (settings.inConfig(spec) && source.opaque?.(key)) continue;
            const bad = invalid(spec, value);
            if (bad) problems.push(bad);
            else if (spec.checkAgainst) problems.push(...spec.checkAgainst(value, section));
        }
    }
    return problems;
}
