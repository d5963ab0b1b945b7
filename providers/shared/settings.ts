// Provider settings: endpoints and credentials, declared by each vendor as one table (SettingSpec)
// that both the program's pre-flight check and the provider's connection read, so the two never
// disagree. Values come from the stack's config (secrets decrypted by the engine) or from the
// environment at call time; they are never resource inputs or captured values, so they never reach
// the serialized provider or state.
import { createHash } from "node:crypto";
import { rememberSecret } from "./redact.ts";

/** The stack config as the engine hands it to dynamic providers: every key, namespaced (`keyfleet:…`). */
export type RawConfig = { get(key: string): string | undefined };

export interface SettingSpec {
    /**
     * Where it lives in the stack config: `vendor.url` is the field url of the structured value
     * `keyfleet:vendor`; `vendorSecret` is the value `keyfleet:vendorSecret`. Credentials are
     * top-level keys (see preflight.ts).
     */
    key: string;
    /** The environment variable read when the config has no value. */
    env: string;
    /** A credential: must be set with `pulumi config set --secret` when it is in the stack config. */
    secret?: boolean;
    /** An http(s) URL, checked before any call. */
    url?: boolean;
    /** A JSON object (a secret map, say). */
    json?: boolean;
    /** Why a value is unusable (a port that is not a number, say), or undefined; never quotes a secret. */
    check?(value: string): string | undefined;
    /** Used when neither config nor environment has a value. */
    default?: string;
    /** What it is, for the vendor pages' settings tables (docs/vendors/) and error messages. */
    about: string;
}

export function configKey(spec: Pick<SettingSpec, "key">): string {
    return `keyfleet:${spec.key}`;
}

/** Reads settings from a config source; used by the provider (engine config) and the program (pulumi.Config). */
export class Settings {
    private raw: RawConfig = { get: () => undefined };

    configure(config: RawConfig) {
        this.raw = config;
    }

    private structured(name: string): Record<string, unknown> {
        const text = this.raw.get(`keyfleet:${name}`);
        if (!text) return {};
        try {
            const value = JSON.parse(text);
            return value && typeof value === "object" ? value : {};
        } catch {
            return {};
        }
    }

    /** Whether the stack config itself (not the environment) holds the setting. */
    inConfig(spec: SettingSpec): boolean {
        const dot = spec.key.indexOf(".");
        if (dot < 0) return this.raw.get(configKey(spec)) !== undefined;
        return this.structured(spec.key.slice(0, dot))[spec.key.slice(dot + 1)] !== undefined;
    }

    /** The value from config, else the environment, else the default. */
    get(spec: SettingSpec): string | undefined {
        const dot = spec.key.indexOf(".");
        const fromConfig = dot < 0 ? this.raw.get(configKey(spec)) : this.structured(spec.key.slice(0, dot))[spec.key.slice(dot + 1)];
        const value = fromConfig !== undefined && fromConfig !== null && fromConfig !== "" ? (typeof fromConfig === "string" ? fromConfig : JSON.stringify(fromConfig)) : process.env[spec.env];
        // A credential read here may later be in text the process prints (redact.ts).
        if (spec.secret) rememberSecret(value);
        return value === undefined || value === "" ? spec.default : value;
    }

    /** The value, or an error that says how to set it. */
    require(spec: SettingSpec): string {
        const value = this.get(spec);
        if (value === undefined) throw new Error(missing(spec));
        const problem = invalid(spec, value);
        if (problem) throw new Error(problem);
        return value;
    }

    /** A JSON-object setting, parsed. */
    requireObject(spec: SettingSpec): Record<string, unknown> {
        const value = JSON.parse(this.require(spec));
        return value as Record<string, unknown>;
    }
}

export function missing(spec: SettingSpec): string {
    const key = configKey(spec);
    const path = spec.key.includes(".") ? "--path " : "";
    const how = `\`pulumi config set ${path}${spec.secret ? "--secret " : ""}${key}\``;
    return `${key} is not set (nor ${spec.env}); set it with ${how}`;
}

/** Why a value is unusable, or undefined; never quotes a secret. */
export function invalid(spec: SettingSpec, value: string): string | undefined {
    if (spec.url) {
        let url: URL | undefined;
        try {
            url = new URL(value);
        } catch {
            url = undefined;
        }
        if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
            return `${configKey(spec)} must be an http(s) URL with its scheme, like https://host.example.com; it is "${value}"`;
        }
    }
    if (spec.json) {
        try {
            const v = JSON.parse(value);
            if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error();
        } catch {
            return `${configKey(spec)} must be a JSON object${spec.secret ? "" : `; it is "${value}"`}`;
        }
    }
    if (spec.check) {
        const problem = spec.check(value);
        if (problem) return `${configKey(spec)} ${problem}`;
    }
    return undefined;
}

/** A short, non-reversible name for a secret value, safe to show and to use as a resource id. */
export function fingerprint(prefix: string, value: string): string {
    return `${prefix}${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;
}
