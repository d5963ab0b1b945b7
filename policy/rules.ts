// keyfleet's key-hygiene rules: pure functions over what a key declares (its vendor's facts, its
// rotation and its deliveries), so that one piece of code judges in two places. The policy pack
// (policy/index.ts) runs them on the inputs the engine hands it, in every preview and up run with
// `--policy-pack policy`; `npm run validate` runs them offline on the YAML and places each finding
// at its line and column. What a vendor's key has (an expiry, roles, an address) the vendor says in
// its descriptor (VendorDescriptor.hygiene); the rules never name a vendor.
//
// Each environment says which rules apply and how hard in policy/config/<env>.json, in the format
// `pulumi preview --policy-pack-config` reads: { "<rule>": "mandatory" | "advisory" | "disabled" }
// or { "<rule>": { "enforcementLevel": …, <the rule's settings> } }, plus "all" for every rule not
// named. A rule the file does not name is disabled: the file says what the environment allows.
import net from "node:net";
import { vendors } from "@keyfleet/providers/vendors";
import type { VendorDescriptor } from "@keyfleet/providers/shared/descriptor";
import type { HygieneFact, KeyFacts, KeyHygieneEntry } from "@keyfleet/providers/shared/hygiene";
import { DURATION_PATTERN, durationMs, mergeRotation, overlapMs, type RotationPolicy } from "@keyfleet/providers/shared/rotation";

/** The pack's name, as the engine prints it beside each violation. */
export const PACK_NAME = "keyfleet-key-hygiene";

export type Level = "mandatory" | "advisory" | "disabled";
const LEVELS: readonly Level[] = ["mandatory", "advisory", "disabled"];

/** One key as the rules see it. */
export interface Key {
    /** The resource name (nexus/tenant/web chat): how violations name the key. */
    resourceName: string;
    /** The product's name (VendorDescriptor.title). */
    vendor: string;
    facts: KeyFacts;
    /** The key's rotation, the environment's defaults merged in (the core's `rotation` input). */
    rotation: RotationPolicy | null;
    /** How many consumers the key is delivered to; undefined where that is not known (one resource alone). */
    deliveries?: number;
}

export interface Finding {
    /** What the finding is about: where validate points (the vendor's KeyHygieneEntry.at). */
    fact: HygieneFact;
    message: string;
}

type JsonSchema = Record<string, unknown>;

export interface Rule<C extends Record<string, unknown> = Record<string, unknown>> {
    name: string;
    description: string;
    /** The rule's settings, as the engine validates the config file's (JSON schema properties). */
    properties: Record<string, JsonSchema>;
    /** Settings an enabled rule needs (checked by validate and the pack, not by the schema: see policy/index.ts). */
    required?: (keyof C & string)[];
    /** Settings a config file leaves out. */
    defaults: Partial<C>;
    /** "key": judged on each key resource alone; "stack": needs every resource (deliveries). */
    scope: "key" | "stack";
    check(key: Key, config: C): Finding[];
}

const DURATION: JsonSchema = { type: "string", pattern: DURATION_PATTERN.source };
const STRINGS: JsonSchema = { type: "array", items: { type: "string" } };

/** Whether the key is ever replaced by keyfleet: by age (not paused), or by a generation to raise. */
export function rotates(rotation: RotationPolicy | null): boolean {
    return !!rotation && ((!!rotation.every && !rotation.paused) || rotation.generation !== undefined);
}

const name = (k: Key) => `key "${k.resourceName}" (${k.vendor})`;

const rule = <C extends Record<string, unknown>>(r: Rule<C>): Rule => r as unknown as Rule;

export const RULES: readonly Rule[] = [
    rule({
        name: "key-expires",
        description: "Every key whose vendor has an expiry expires: a key that never expires is valid for as long as it leaks.",
        properties: {},
        defaults: {},
        scope: "key",
        check: (k) => (k.facts.expires === null ? [{ fact: "expires", message: `${name(k)} never expires; give it an expiry date (expires)` }] : []),
    }),
    rule<{ maxEvery: string }>({
        name: "rotation-max-every",
        description: "Every key rotates by age, at least as often as maxEvery.",
        properties: { maxEvery: { ...DURATION, description: "The longest rotation.every allowed (90d, 12w)." } },
        required: ["maxEvery"],
        defaults: {},
        scope: "key",
        check(k, c) {
            const every = k.rotation?.every;
            if (!every || k.rotation?.paused) {
                const why = !every ? "has no rotation.every" : "has its rotation paused";
                return [{ fact: "rotation", message: `${name(k)} ${why}; this environment rotates every key at least every ${c.maxEvery}` }];
            }
            if (durationMs(every) > durationMs(c.maxEvery)) return [{ fact: "rotation", message: `${name(k)} rotates every ${every}, longer than this environment's maximum ${c.maxEvery}` }];
            return [];
        },
    }),
    rule({
        name: "rotation-verify",
        description: "A new key is probed (rotation.verify: true) before it replaces the current one, where the vendor can probe keys.",
        properties: {},
        defaults: {},
        scope: "key",
        check: (k) =>
            k.facts.verifiable && k.rotation?.verify !== true
                ? [{ fact: "rotation", message: `${name(k)} does not set rotation.verify: true; a new key must be probed before it replaces the current one` }]
                : [],
    }),
    rule({
        name: "protect",
        description: "Keys that can be protected are (protect: true): the engine then refuses to delete them.",
        properties: {},
        defaults: {},
        scope: "key",
        check: (k) => (k.facts.protect === false ? [{ fact: "protect", message: `${name(k)} is not protected; set protect: true so that removing it from the YAML cannot delete it` }] : []),
    }),
    rule<{ forbidden: string[]; required: string[] }>({
        name: "key-roles",
        description: "Keys with roles hold none of the forbidden roles and every required one (names compared in any case).",
        properties: { forbidden: { ...STRINGS, description: "Roles no key may act with (SDAdmin)." }, required: { ...STRINGS, description: "Roles every key must act with." } },
        defaults: { forbidden: [], required: [] },
        scope: "key",
        check(k, c) {
            const roles = k.facts.roles;
            if (!roles) return [];
            const has = (r: string) => roles.some((x) => x.toLowerCase() === r.toLowerCase());
            return [
                ...c.forbidden.filter(has).map((r) => ({ fact: "roles" as const, message: `${name(k)} acts with role ${r}, excluded in this environment` })),
                ...c.required.filter((r) => !has(r)).map((r) => ({ fact: "roles" as const, message: `${name(k)} lacks role ${r}, which this environment requires` })),
            ];
        },
    }),
    rule<{ allowed: string[] }>({
        name: "key-address",
        description: "Keys bound to a client address are bound to one inside the allowed ranges.",
        properties: { allowed: { ...STRINGS, description: "Addresses and CIDR ranges (10.0.0.0/8, 2001:db8::/32) keys may be bound to." } },
        required: ["allowed"],
        defaults: {},
        scope: "key",
        check(k, c) {
            const address = k.facts.address;
            if (address === undefined) return [];
            // The engine checks only that allowed is a list of strings (validate refuses these first).
            const bad = badRanges(c.allowed);
            if (bad.length > 0) {
                const what = bad.length === 1 ? "which is not an address or CIDR range" : "which are not addresses or CIDR ranges";
                return [{ fact: "address", message: `${name(k)} cannot be judged: this environment's allowed ranges hold ${bad.map((r) => JSON.stringify(r)).join(", ")}, ${what}; fix key-address in the policy config` }];
            }
            if (inRanges(address, c.allowed)) return [];
            return [{ fact: "address", message: `${name(k)} is bound to ${address}, outside this environment's allowed ranges (${c.allowed.join(", ") || "none"})` }];
        },
    }),
    rule({
        name: "key-single-right",
        description: "Keys with separate rights grant one of them, not several.",
        properties: {},
        defaults: {},
        scope: "key",
        check: (k) =>
            (k.facts.rights?.length ?? 0) > 1
                ? [{ fact: "rights", message: `${name(k)} grants ${k.facts.rights!.join(" and ")}; give each use its own key with one right (a right left out is granted)` }]
                : [],
    }),
    rule<{ maxSeconds: number }>({
        name: "key-ttl",
        description: "Keys asked for a lifetime (ttl) get one no longer than maxSeconds.",
        properties: { maxSeconds: { type: "integer", minimum: 1, description: "The longest ttl allowed, in seconds." } },
        required: ["maxSeconds"],
        defaults: {},
        scope: "key",
        check(k, c) {
            const ttl = k.facts.ttlSeconds;
            if (ttl === undefined || (ttl !== null && ttl <= c.maxSeconds)) return [];
            const what = ttl === null ? "has no ttl (the appliance's maximum applies)" : `has ttl ${ttl} s`;
            return [{ fact: "ttl", message: `${name(k)} ${what}, above this environment's maximum of ${c.maxSeconds} s; set ttl to at most ${c.maxSeconds}` }];
        },
    }),
    rule({
        name: "rotation-delivery",
        description: "A key that rotates is delivered to its consumers (deliver): otherwise each rotation breaks whoever uses it.",
        properties: {},
        defaults: {},
        scope: "stack",
        check: (k) =>
            rotates(k.rotation) && k.deliveries === 0
                ? [{ fact: "deliver", message: `${name(k)} rotates but is delivered to no consumer; add deliver: (a file or a command) so that each new key reaches its users` }]
                : [],
    }),
    rule<{ minOverlap: string }>({
        name: "rotation-min-overlap",
        description: "A key that rotates keeps the old key valid for at least minOverlap, so consumers can move over.",
        properties: { minOverlap: { ...DURATION, description: "The shortest rotation.overlap allowed (1d)." } },
        required: ["minOverlap"],
        defaults: {},
        scope: "key",
        check(k, c) {
            if (!rotates(k.rotation) || overlapMs(k.rotation) >= durationMs(c.minOverlap)) return [];
            const has = k.rotation?.overlap ? `an overlap of ${k.rotation.overlap}` : "no overlap (the old key is deleted at once)";
            return [{ fact: "rotation", message: `${name(k)} rotates with ${has}, shorter than this environment's minimum ${c.minOverlap}` }];
        },
    }),
];

/** The entries of `ranges` that are neither an address nor a CIDR range (a prefix within the family's bits). */
export function badRanges(ranges: readonly string[]): string[] {
    return ranges.filter((r) => {
        const [base, bits, ...rest] = r.split("/");
        const f = net.isIP(base!);
        if (f === 0 || rest.length > 0) return true;
        return bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (f === 4 ? 32 : 128));
    });
}

/** Whether `address` is one of `ranges` (addresses or CIDR ranges, IPv4 or IPv6); entries badRanges names match nothing. */
export function inRanges(address: string, ranges: readonly string[]): boolean {
    const family = net.isIP(address);
    if (family === 0) return false;
    const list = new net.BlockList();
    const bad = new Set(badRanges(ranges));
    for (const r of ranges) {
        if (bad.has(r)) continue;
        const [base, bits] = r.split("/");
        const f = net.isIP(base!);
        const type = f === 4 ? "ipv4" : "ipv6";
        if (bits === undefined) list.addAddress(base!, type);
        else list.addSubnet(base!, Number(bits), type);
    }
    return list.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** A policy config file's content: rule name (or "all") → a level, or an object with enforcementLevel and settings. */
export type PackConfig = Record<string, unknown>;

/** A rule's level and settings under `config`, as the engine resolves them (a named rule wins over "all"). */
export function ruleConfig(r: Rule, config: PackConfig): { level: Level; settings: Record<string, unknown> } {
    const own = config[r.name];
    const all = config.all;
    const levelOf = (v: unknown): Level | undefined =>
        typeof v === "string" ? (v as Level) : v && typeof v === "object" ? ((v as { enforcementLevel?: Level }).enforcementLevel ?? undefined) : undefined;
    const level = levelOf(own) ?? levelOf(all) ?? "disabled";
    const given = own && typeof own === "object" ? Object.fromEntries(Object.entries(own).filter(([k]) => k !== "enforcementLevel")) : {};
    return { level, settings: { ...r.defaults, ...given } };
}

/**
 * What is wrong with a config file, in the words a preview would use: an unknown rule, a bad level,
 * a missing or misspelt setting. Checked by validate; the engine checks the same against the schema.
 */
export function configProblems(config: PackConfig): string[] {
    const problems: string[] = [];
    for (const [key, value] of Object.entries(config)) {
        const r = RULES.find((x) => x.name === key);
        if (!r && key !== "all") {
            problems.push(`"${key}" is not a rule of ${PACK_NAME}; the rules are ${RULES.map((x) => x.name).join(", ")}`);
            continue;
        }
        const level = typeof value === "string" ? value : (value as { enforcementLevel?: unknown } | null)?.enforcementLevel;
        if (level !== undefined && !LEVELS.includes(level as Level)) problems.push(`${key}: enforcementLevel "${String(level)}" is not one of ${LEVELS.join(", ")}`);
        if (!r || typeof value !== "object" || value === null) continue;
        for (const field of Object.keys(value)) if (field !== "enforcementLevel" && !(field in r.properties)) problems.push(`${key}: "${field}" is not a setting of the rule (it takes ${Object.keys(r.properties).join(", ") || "none"})`);
    }
    for (const r of RULES) {
        const { level, settings } = ruleConfig(r, config);
        if (level === "disabled") continue;
        for (const field of r.required ?? []) if (settings[field] === undefined) problems.push(`${r.name}: needs "${field}" (${String(r.properties[field]?.description ?? "")})`);
        for (const [field, schema] of Object.entries(r.properties)) {
            const v = settings[field];
            if (v === undefined) continue;
            if (schema.pattern && (typeof v !== "string" || !new RegExp(schema.pattern as string).test(v))) problems.push(`${r.name}: ${field} must be a duration like 12h, 90d or 2w; it is ${JSON.stringify(v)}`);
            if (schema.type === "array" && (!Array.isArray(v) || v.some((x) => typeof x !== "string"))) problems.push(`${r.name}: ${field} must be a list of strings`);
            else if (r.name === "key-address" && field === "allowed") {
                const bad = badRanges(v as string[]);
                if (bad.length > 0) problems.push(`${r.name}: allowed holds ${bad.map((x) => JSON.stringify(x)).join(", ")}, ${bad.length === 1 ? "which is not an address or CIDR range" : "which are not addresses or CIDR ranges"} (10.0.0.0/8, 2001:db8::/32, 127.0.0.1)`);
            }
            if (schema.type === "integer" && (!Number.isInteger(v) || (v as number) < 1)) problems.push(`${r.name}: ${field} must be a whole number of at least 1`);
        }
    }
    return problems;
}

/** The findings of every rule that applies, with their levels, for one key. */
export function judge(key: Key, config: PackConfig, scope?: Rule["scope"]): { rule: Rule; level: Exclude<Level, "disabled">; finding: Finding }[] {
    const out: { rule: Rule; level: Exclude<Level, "disabled">; finding: Finding }[] = [];
    for (const r of RULES) {
        if (scope && r.scope !== scope) continue;
        const { level, settings } = ruleConfig(r, config);
        if (level === "disabled") continue;
        for (const finding of r.check(key, settings)) out.push({ rule: r, level, finding });
    }
    return out;
}

/** The vendor whose key resources have type token `type`, if any. */
export function vendorOfType(type: string): VendorDescriptor | undefined {
    return vendors.find((v) => v.hygiene.types.includes(type));
}

/** A key resource as the engine hands it to the pack (its type, inputs and options), or undefined for another resource. */
export function keyOfResource(type: string, resourceName: string, inputs: Record<string, unknown>, options: { protect?: boolean }): Key | undefined {
    const vendor = vendorOfType(type);
    if (!vendor) return undefined;
    return { resourceName, vendor: vendor.title, facts: vendor.hygiene.facts(inputs, options), rotation: (inputs.rotation as RotationPolicy | null | undefined) ?? null };
}

/** Every key an environment's YAML declares, as the program would declare it, with where it is written. */
export function keysOfEnvironment(env: Record<string, unknown> & { defaults?: { rotation?: RotationPolicy } }): { key: Key; section: string; entry: KeyHygieneEntry }[] {
    const out: { key: Key; section: string; entry: KeyHygieneEntry }[] = [];
    for (const vendor of vendors) {
        const section = env[vendor.section];
        if (section === undefined || !vendor.declares(section)) continue;
        for (const entry of vendor.hygiene.keys(section)) {
            out.push({
                section: vendor.section,
                entry,
                key: {
                    resourceName: entry.resourceName,
                    vendor: vendor.title,
                    facts: vendor.hygiene.facts(entry.inputs, entry.options),
                    // As the core merges them (DeclareContext.core).
                    rotation: mergeRotation(env.defaults?.rotation, entry.entry.rotation),
                    deliveries: entry.entry.deliver?.length ?? 0,
                },
            });
        }
    }
    return out;
}
