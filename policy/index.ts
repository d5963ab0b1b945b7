// The policy pack: each rule of rules.ts as a CrossGuard policy, judged on the inputs the engine
// hands it. Every rule is disabled unless the environment's policy/config/<env>.json (given with
// --policy-pack-config, as keyfleet.sh does) sets it to advisory or mandatory.
import { createRequire } from "node:module";
import type * as policyTypes from "@pulumi/policy";
import { keyOfResource, PACK_NAME, RULES, vendorOfType, type Key } from "./rules.ts";

// @pulumi/policy is CommonJS; required so that its exports need no static analysis by Node's ESM loader.
const { PolicyPack } = createRequire(import.meta.url)("@pulumi/policy") as typeof policyTypes;

/** Commands that deliver a key depend on it (providers/shared/delivery.ts): its consumers, by key URN. */
function deliveriesByKey(resources: policyTypes.PolicyResource[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of resources) {
        if (r.type !== "command:local:Command") continue;
        for (const d of r.dependencies) counts.set(d.urn, (counts.get(d.urn) ?? 0) + 1);
    }
    return counts;
}

const policies: policyTypes.Policy[] = RULES.map((rule) => {
    const base = {
        name: rule.name,
        description: rule.description,
        // The config file opts an environment in (rules.ts, ruleConfig).
        enforcementLevel: "disabled" as const,
        // No `required`: the engine checks the schema of every rule, disabled ones too, and a rule an
        // environment leaves off needs no settings there. An enabled rule without them says so (below).
        configSchema: { properties: rule.properties },
    };
    // The engine has read the config file: it skips a disabled rule and applies the level; the
    // settings the file leaves out are the rule's defaults, as validate takes them (ruleConfig).
    const settings = (getConfig: () => Record<string, unknown>) => ({ ...rule.defaults, ...getConfig() });
    /** The finding of an enabled rule whose settings are missing, in validate's words (configProblems). */
    const unset = (given: Record<string, unknown>) => {
        const missing = (rule.required ?? []).filter((f) => given[f] === undefined);
        return missing.length > 0 ? `${rule.name}: needs ${missing.map((f) => `"${f}" (${String(rule.properties[f]?.description ?? "")})`).join(", ")} in the policy config` : undefined;
    };
    if (rule.scope === "key") {
        return {
            ...base,
            validateResource: (args, report) => {
                const key = keyOfResource(args.type, args.name, args.props, { protect: args.opts.protect });
                if (!key) return;
                const given = settings(args.getConfig);
                const problem = unset(given);
                if (problem) return report(problem);
                for (const finding of rule.check(key, given)) report(finding.message);
            },
        } satisfies policyTypes.ResourceValidationPolicy;
    }
    return {
        ...base,
        validateStack: (args, report) => {
            const given = settings(args.getConfig);
            const problem = unset(given);
            if (problem) return report(problem);
            const delivered = deliveriesByKey(args.resources);
            for (const r of args.resources) {
                const vendor = vendorOfType(r.type);
                if (!vendor) continue;
                // Only what a stack rule reads: a key's other outputs may be unknown in a preview.
                const key: Key = { resourceName: r.name, vendor: vendor.title, facts: { verifiable: false }, rotation: r.props.rotation ?? null, deliveries: delivered.get(r.urn) ?? 0 };
                for (const finding of rule.check(key, given)) report(finding.message, r.urn);
            }
        },
    } satisfies policyTypes.StackValidationPolicy;
});

new PolicyPack(PACK_NAME, { enforcementLevel: "disabled", policies });
