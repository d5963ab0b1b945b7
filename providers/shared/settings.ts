import { createHash } from "node:crypto";

// Provider settings are read when the dynamic provider is configured (from the stack's config,
// secrets already decrypted by the engine) or from the environment at call time; they are never
// inputs or captured values, so they never reach the serialized provider or state.

/** The stack config the engine hands the dynamic provider: every key, namespaced (`keyfleet:…`). */
export type RawConfig = { get(key: string): string | undefined };

export class Settings {
    private raw: RawConfig = { get: () => undefined };

    configure(config: RawConfig) {
        this.raw = config;
    }

    /** A structured config value (`keyfleet:nexus`), or {} when unset. */
    object(key: string): Record<string, unknown> {
        const text = this.raw.get(key);
        if (!text) return {};
        try {
            const value = JSON.parse(text);
            return value && typeof value === "object" ? value : {};
        } catch {
            return {};
        }
    }

    /** A secret from config, else from the environment; the error says how to set it when both are missing. */
    require(configKey: string, envName: string): string {
        const value = this.raw.get(configKey) ?? process.env[envName];
        if (value === undefined || value === "") {
            throw new Error(`${configKey} is not set: run \`pulumi config set --secret ${configKey}\` (or set ${envName})`);
        }
        return value;
    }
}

/** A short, non-reversible name for a secret value, safe to show and to use as a resource id. */
export function fingerprint(prefix: string, value: string): string {
    return `${prefix}${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;
}
