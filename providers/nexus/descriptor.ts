// Genesys Digital Channels ("Nexus") as keyfleet sees it: the `nexus:` section of an environment's
// YAML, its rules, its stack settings, how its keys are declared, and its sandbox.
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { expiryInstant } from "../shared/fields.ts";
import { clock } from "../shared/clock.ts";
import type { KeyHygieneEntry } from "../shared/hygiene.ts";
import { LISTS, NEXUS_KEY_TYPES, NEXUS_PERMISSION_FORM, NEXUS_PROBE_URL, NEXUS_SETTINGS, allowedPermissions, keyInputs, takes, type NexusKeyEntry, type NexusKeyKind, NexusSection, NEXUS_KEY_OUTPUTS } from "./schema.ts";
import { askedToVerify } from "../shared/rotation.ts";

export * from "./schema.ts";

export const nexus: VendorDescriptor<NexusSection> = {
    section: "nexus",
    title: "Genesys Digital Channels (Nexus)",
    keyOutputs: NEXUS_KEY_OUTPUTS,
    hygiene: {
        types: Object.values(NEXUS_KEY_TYPES),
        // Expiry is the key's own `expires` (null: never); every kind can be probed (probeUrl).
        facts: (inputs) => ({ expires: typeof inputs.expires === "string" ? inputs.expires : null, verifiable: true }),
        keys(section) {
            const contactCenter = (section.contactCenter ?? "").toLowerCase();
            return (Object.entries(LISTS) as [NexusKeyKind, (typeof LISTS)[NexusKeyKind]][]).flatMap(([kind, list]) =>
                (section[list] ?? []).map((e, i): KeyHygieneEntry => ({
                    resourceName: `nexus/${kind}/${e.name}`,
                    path: [list, i],
                    entry: e,
                    inputs: keyInputs(kind, e, contactCenter),
                    options: {},
                    at: (fact) => (fact === "expires" && e.expires !== undefined ? [list, i, "expires"] : fact === "rotation" && e.rotation ? [list, i, "rotation"] : undefined),
                })),
            );
        },
    },
    schema: NexusSection,
    settings: NEXUS_SETTINGS,

    declares: (s) => Object.values(LISTS).some((list) => (s[list]?.length ?? 0) > 0),

    rules(raw, settings, root) {
        const problems: SectionProblem[] = [];
        const list = (name: string): unknown[] => (Array.isArray(raw[name]) ? (raw[name] as unknown[]) : []);
        // verify: true probes a new key on probeUrl, which has no default (see NEXUS_SETTINGS).
        if (!settings.get(NEXUS_PROBE_URL)) {
            for (const name of Object.values(LISTS)) {
                for (const asked of askedToVerify(list(name), root)) {
                    problems.push({
                        path: [name, asked.index, ...asked.path],
                        message:
                            `${asked.said} needs the stack setting keyfleet:nexus.probeUrl: ` +
                            "Nexus has no side-effect-free call every key may make, so name a read-only call this key's permission allows " +
                            "(for a Secure Mail key, GET <nexusUrl>/nexus/v3/securemail?address=<a mailbox address>, sent with x-api-key), or set verify: false",
                    });
                }
            }
        }
        // A tenant key's permission of the right form must still be documented or added by the stack.
        const allowed = allowedPermissions("tenant", settings);
        list("tenantKeys").forEach((entry, i) => {
            const permissions = (entry as { permissions?: unknown })?.permissions;
            if (!Array.isArray(permissions)) return;
            permissions.forEach((p, j) => {
                if (typeof p === "string" && NEXUS_PERMISSION_FORM.test(p) && !allowed.includes(p)) {
                    problems.push({ path: ["tenantKeys", i, "permissions", j], message: `unknown permission ${JSON.stringify(p)}; ${takes("tenant", settings)}` });
                }
            });
        });
        const scoped = ["tenantKeys", "designerKeys"].filter((name) => list(name).length > 0);
        if (scoped.length > 0 && !raw.contactCenter) problems.push({ path: ["contactCenter"], message: `is required for ${scoped.join(" and ")}` });
        // Nexus names are unique per tenant: tenant and Designer keys share the contact center's.
        const tenant = typeof raw.contactCenter === "string" ? `tenant ${raw.contactCenter.toLowerCase()}` : "the contact center";
        for (const scope of [{ lists: ["tenantKeys", "designerKeys"], tenant }, { lists: ["clusterKeys"], tenant: "the cluster" }]) {
            const seen = new Map<string, (string | number)[]>();
            for (const name of scope.lists) {
                list(name).forEach((entry, i) => {
                    const keyName = (entry as { name?: unknown })?.name;
                    if (typeof keyName !== "string") return;
                    const first = seen.get(keyName);
                    if (first !== undefined) problems.push({ path: [name, i, "name"], message: `duplicate key name "${keyName}" in ${scope.tenant}`, firstAt: first });
                    else seen.set(keyName, [name, i, "name"]);
                });
            }
        }
        return problems;
    },

    warnings(section) {
        const out: { path: (string | number)[]; message: string }[] = [];
        for (const list of Object.values(LISTS)) {
            (section[list] ?? []).forEach((e, i) => {
                if (e.expires && Date.parse(expiryInstant(e.expires)) <= clock.now()) {
                    out.push({ path: [list, i, "expires"], message: `key "${e.name}" expired on ${e.expires}; an existing key stays expired, a new one is refused` });
                }
            });
        }
        return out;
    },

    newKeyRules(section, isNew) {
        const out: SectionProblem[] = [];
        const other = { tenant: "designer", designer: "tenant", cluster: undefined } as const;
        for (const [kind, list] of Object.entries(LISTS) as [NexusKeyKind, (typeof LISTS)[NexusKeyKind]][]) {
            (section[list] ?? []).forEach((e, i) => {
                if (!e.expires || e.adopt || Date.parse(expiryInstant(e.expires)) > clock.now()) return;
                // The same names declare() gives the resource (an entry moved between tenant and Designer keeps its key).
                if (!isNew(`nexus/${kind}/${e.name}`, other[kind] ? [`nexus/${other[kind]}/${e.name}`] : [])) return;
                out.push({ path: [list, i, "expires"], message: `key "${e.name}" is new and its expiry ${e.expires} has passed: Nexus cannot create a key expired; move expires forward or remove it` });
            });
        }
        return out;
    },

    async declare(section, ctx) {
        const { NexusTenantKey, NexusClusterKey, NexusDesignerKey } = await import("./resource.ts");
        const contactCenter = (section.contactCenter ?? "").toLowerCase();
        // Tenant and Designer keys share their tenant's names, so an entry that moves from one list to
        // the other is the same resource (an alias) and gets replaced, not created beside itself.
        const other = { tenant: "designer", designer: "tenant", cluster: undefined } as const;
        const args = (kind: NexusKeyKind, e: NexusKeyEntry) => ({
            ...(keyInputs(kind, e, contactCenter) as { name: string; contactCenter: string }),
            ...ctx.core(`nexus/${kind}/${e.name}`, e, other[kind] ? [`nexus/${other[kind]}/${e.name}`] : []),
        });
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        const keep = (id: string, k: InstanceType<typeof NexusTenantKey | typeof NexusClusterKey | typeof NexusDesignerKey>) => {
            const { kind, name, tenant, enabled, revoked, expires, created, fingerprint, apiKey, note, rotation, currentId } = k;
            exports[id] = { id: k.id, currentId, kind, name, tenant, enabled, revoked, expires, created, rotation, fingerprint, apiKey, note };
        };
        const moved = (name: string, from: "tenant" | "designer") => ({ ...ctx.options, aliases: [{ name: `nexus/${from}/${name}`, type: NEXUS_KEY_TYPES[from] }] });
        for (const e of section.tenantKeys ?? []) keep(`nexus/tenant/${e.name}`, new NexusTenantKey(`nexus/tenant/${e.name}`, args("tenant", e), moved(e.name, "designer")));
        for (const e of section.clusterKeys ?? []) keep(`nexus/cluster/${e.name}`, new NexusClusterKey(`nexus/cluster/${e.name}`, args("cluster", e), ctx.options));
        for (const e of section.designerKeys ?? []) keep(`nexus/designer/${e.name}`, new NexusDesignerKey(`nexus/designer/${e.name}`, args("designer", e), moved(e.name, "tenant")));
        return exports;
    },

    async provider() {
        return (await import("./lifecycle.ts")).provider;
    },
};
