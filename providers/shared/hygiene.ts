// What the key-hygiene policy (policy/rules.ts) reads of a key, said by each vendor about its own
// keys (VendorDescriptor.hygiene). The rules are vendor-neutral: a vendor whose keys have no expiry
// leaves `expires` out and the expiry rule does not apply to it; only a vendor with roles says
// `roles`; and so on. The same facts come from two places, so that the policy pack (run by the
// engine on a resource's inputs) and `npm run validate` (run offline on the YAML) judge alike:
// `facts` reads a key resource's inputs, and `keys` builds those very inputs from the YAML.
import type { RotationPolicy } from "./rotation.ts";

/** A fact a rule reads; where validate points when the rule fails (KeyHygieneEntry.at). */
export type HygieneFact = "expires" | "ttl" | "roles" | "address" | "rights" | "protect" | "rotation" | "deliver";

export interface KeyFacts {
    /** When the key stops working (ISO 8601), or null for never; absent where the vendor's keys have no expiry. */
    expires?: string | null;
    /** The lifetime asked for in seconds, or null for the vendor's maximum; absent where the vendor has none. */
    ttlSeconds?: number | null;
    /** The roles the key acts with, where the vendor's keys have roles. */
    roles?: string[];
    /** The one client address the key is bound to, where the vendor binds keys to one. */
    address?: string;
    /** The rights the key grants, by the vendor's names, where its keys have separate rights. */
    rights?: string[];
    /** Whether the engine refuses to delete the key, where the YAML can ask for it. */
    protect?: boolean;
    /** Whether `rotation.verify` can probe this vendor's keys (false: the rule asking for it does not apply). */
    verifiable: boolean;
}

/** One key resource as the YAML declares it, for validate. */
export interface KeyHygieneEntry {
    resourceName: string;
    /** The entry's path within the section, e.g. ["apiKeys", 0]. */
    path: (string | number)[];
    /** The entry's own rotation and deliveries, which the core merges with the defaults. */
    entry: { rotation?: RotationPolicy | null; deliver?: unknown[] };
    /** The resource's inputs, as declare() gives them (without the core's). */
    inputs: Record<string, unknown>;
    /** The resource options the YAML asks for (protect), as declare() gives them. */
    options: { protect?: boolean };
    /** Where in the section a fact is written, or undefined (validate then points at the entry). */
    at(fact: HygieneFact): (string | number)[] | undefined;
}

export interface VendorHygiene<S> {
    /** The type tokens of the vendor's key resources (pulumi-nodejs:dynamic/<vendor>:<Type>). */
    types: readonly string[];
    /** The facts of one key from its resource inputs and options (what the engine's analyzer is given). */
    facts(inputs: Record<string, unknown>, options: { protect?: boolean }): KeyFacts;
    /** Every key resource the section declares. */
    keys(section: S): KeyHygieneEntry[];
}

/** The type token dynamic.Resource gives a resource of `module` and `type` (KeyResource's vendor and type). */
export function dynamicType(module: string, type: string): string {
    return `pulumi-nodejs:dynamic/${module}:${type}`;
}
