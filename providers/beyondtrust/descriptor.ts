// BeyondTrust Remote Support as keyfleet sees it: the `beyondtrust:` section of an environment's
// YAML (session keys), its rules, its stack settings, how its keys are declared, and its sandbox.
import { clock } from "../shared/clock.ts";
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { dynamicType } from "../shared/hygiene.ts";
import { askedToVerify } from "../shared/rotation.ts";
import { BEYONDTRUST_SETTINGS, PREFIX, keyInputs, keyProblems, BeyondTrustSection, BEYONDTRUST_KEY_OUTPUTS, BEYONDTRUST_LIMITS } from "./schema.ts";

export * from "./schema.ts";

export const beyondtrust: VendorDescriptor<BeyondTrustSection> = {
    section: "beyondtrust",
    title: "BeyondTrust Remote Support",
    limits: BEYONDTRUST_LIMITS,
    // A session key has no standing at the appliance beyond its expiry (no disable or revoke action).
    keyOutputs: BEYONDTRUST_KEY_OUTPUTS,
    hygiene: {
        types: [dynamicType("beyondtrust", "SessionKey")],
        // Every session key expires (its ttl, or the appliance's maximum when null), so the rule
        // against keys that never expire has nothing to say here; a key cannot be probed.
        facts: (inputs) => ({ ttlSeconds: typeof inputs.ttl === "number" ? inputs.ttl : null, verifiable: false }),
        keys: (section) =>
            (section.sessionKeys ?? []).map((e, i) => ({
                resourceName: `${PREFIX}${e.name}`,
                path: ["sessionKeys", i],
                entry: e,
                inputs: keyInputs(e),
                options: {},
                at: (fact) => (fact === "ttl" && e.ttl !== undefined ? ["sessionKeys", i, "ttl"] : fact === "rotation" && e.rotation ? ["sessionKeys", i, "rotation"] : undefined),
            })),
    },
    schema: BeyondTrustSection,
    settings: BEYONDTRUST_SETTINGS,

    declares: (s) => (s.sessionKeys?.length ?? 0) > 0,

    rules(raw, _settings, root) {
        const problems: SectionProblem[] = [];
        const list = Array.isArray(raw.sessionKeys) ? (raw.sessionKeys as unknown[]) : [];
        const seen = new Map<string, (string | number)[]>();
        list.forEach((entry, i) => {
            if (!entry || typeof entry !== "object") return;
            const e = entry as Record<string, unknown>;
            if (typeof e.name === "string") {
                const first = seen.get(e.name);
                if (first) problems.push({ path: ["sessionKeys", i, "name"], message: `duplicate session key name "${e.name}" in this environment`, firstAt: first });
                else seen.set(e.name, ["sessionKeys", i, "name"]);
            }
            for (const p of keyProblems(e)) problems.push({ ...p, path: ["sessionKeys", i, ...p.path] });
        });
        // The appliance has no call a session key can make without starting a session: verify: true
        // cannot be met, said here at its place rather than by the provider's check in the middle of a run.
        for (const asked of askedToVerify(list, root)) {
            problems.push({
                path: ["sessionKeys", asked.index, ...asked.path],
                message: `${asked.said}: BeyondTrust session keys cannot be verified (the appliance has no call a key can make without starting a support session); set rotation.verify: false for this key`,
            });
        }
        return problems;
    },

    async declare(section, ctx) {
        const { BeyondTrustSessionKey } = await import("./resource.ts");
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        for (const e of section.sessionKeys ?? []) {
            const id = `${PREFIX}${e.name}`;
            const k = new BeyondTrustSessionKey(
                id,
                {
                    ...keyInputs(e),
                    ...ctx.core(id, e),
                },
                ctx.options,
            );
            const { name, targetQueue, queue, queueId, available, expires, created, rotation, fingerprint, shortKey, keyUrl, mailSubject, mailBody, note } = k;
            exports[id] = { id: k.id, name, targetQueue, queue, queueId, available, expires, created, rotation, fingerprint, shortKey, keyUrl, mailSubject, mailBody, note };
        }
        return exports;
    },

    removed(resourceName, last) {
        if (!resourceName.startsWith(PREFIX)) return undefined;
        if (last.expires && Date.parse(last.expires) <= clock.now()) {
            return `session key "${resourceName.slice(PREFIX.length)}" (${last.id}) is no longer managed; it expired at ${last.expires}`;
        }
        const until = last.expires ? `until it expires at ${last.expires}` : "until it expires";
        return (
            `session key "${resourceName.slice(PREFIX.length)}" (${last.id}) is no longer managed: keyfleet forgets it, but BeyondTrust ` +
            `cannot revoke a session key, so it stays usable ${until}`
        );
    },

    async health(settings) {
        // check_health (Command API guide): one read-only call that needs the appliance, the login and
        // the command API, where a live read of a session key only looks at state.
        const { BeyondTrustClient } = await import("./client.ts");
        const [url, clientId, clientSecret] = BEYONDTRUST_SETTINGS;
        try {
            const h = await new BeyondTrustClient({ url: settings.require(url), clientId: settings.require(clientId), clientSecret: settings.require(clientSecret) }).checkHealth();
            return h.healthy ? undefined : `check_health: the appliance ${h.hostname ?? ""} reports a problem: ${h.error ?? "no details"}`.replace("  ", " ");
        } catch (err) {
            return `check_health failed: ${(err as Error).message.split("\n")[0]}`;
        }
    },

    async provider() {
        return (await import("./lifecycle.ts")).provider;
    },
};
