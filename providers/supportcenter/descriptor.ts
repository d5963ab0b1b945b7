// ManageEngine SupportCenter Plus as keyfleet sees it: the `supportcenter:` section of an
// environment's YAML (integration keys), its rules and expiry warnings, its stack settings (the
// instance URL and the secret map of owners keyfleet acts as), how its keys are declared, and its sandbox.
import { clock } from "../shared/clock.ts";
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { dynamicType } from "../shared/hygiene.ts";
import { SCP_SETTINGS, declaresKeys, expiryWarning, keyInputs, rolesProblem, scpExpiry, SupportCenterSection, SCP_KEY_OUTPUTS } from "./schema.ts";

export * from "./schema.ts";

export const supportcenter: VendorDescriptor<SupportCenterSection> = {
    section: "supportcenter",
    title: "ManageEngine SupportCenter Plus",
    keyOutputs: SCP_KEY_OUTPUTS,
    hygiene: {
        types: [dynamicType("supportcenter", "IntegrationKey")],
        // protect is Pulumi's resource option, which declare() lifts for the one run that rotates the
        // key (rotationDue set): in that run the engine cannot tell what the YAML says, so the fact is
        // left out (the rule then has nothing to judge; validate reads the YAML, and the next run the option).
        facts: (inputs, options) => ({
            expires: typeof inputs.expires === "string" ? inputs.expires : null,
            roles: Array.isArray(inputs.roles) ? inputs.roles.map(String) : [],
            ...(typeof inputs.rotationDue === "string" ? {} : { protect: options.protect === true }),
            verifiable: true,
        }),
        keys: (section) =>
            (section.integrationKeys ?? []).map((e, i) => ({
                resourceName: `supportcenter/${e.name}`,
                path: ["integrationKeys", i],
                entry: e,
                inputs: keyInputs(e),
                options: { protect: e.protect ?? false },
                at: (fact) => {
                    const field = { expires: "expires", roles: "roles", protect: "protect", rotation: "rotation" }[fact as string];
                    return field && (e as Record<string, unknown>)[field] !== undefined ? ["integrationKeys", i, field] : undefined;
                },
            })),
    },
    schema: SupportCenterSection,
    settings: SCP_SETTINGS,

    declares: declaresKeys,

    rules(raw) {
        const problems: SectionProblem[] = [];
        const list = Array.isArray(raw.integrationKeys) ? (raw.integrationKeys as unknown[]) : [];
        // Names are unique across the instance, compared in any case.
        const seen = new Map<string, (string | number)[]>();
        list.forEach((entry, i) => {
            const name = (entry as { name?: unknown })?.name;
            if (typeof name !== "string") return;
            const first = seen.get(name.trim().toLowerCase());
            if (first) problems.push({ path: ["integrationKeys", i, "name"], message: `duplicate key name "${name}" (SupportCenter Plus names are unique in any case)`, firstAt: first });
            else seen.set(name.trim().toLowerCase(), ["integrationKeys", i, "name"]);
        });
        const n = raw.notifications as { enabled?: unknown; days?: unknown; technicians?: unknown; owner?: unknown } | undefined;
        // The product's form requires a recipient while notifications are on (the owner counts).
        if (n && n.enabled === true && n.owner !== true && Array.isArray(n.technicians) && n.technicians.length === 0) {
            problems.push({ path: ["notifications", "technicians"], message: "notifications that are enabled need a recipient: name an SDAdmin here or set owner: true" });
        }
        if (n && n.enabled === true && n.technicians === undefined && n.owner === false) {
            problems.push({ path: ["notifications", "owner"], message: "notifications that are enabled need a recipient: set technicians: or owner: true" });
        }
        list.forEach((entry, i) => {
            const roles = (entry as { roles?: unknown })?.roles;
            if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string")) return;
            const problem = rolesProblem(roles);
            if (problem) problems.push({ path: ["integrationKeys", i, "roles"], message: problem });
        });
        list.forEach((entry, i) => {
            const from = (entry as { renamedFrom?: unknown })?.renamedFrom;
            if (typeof from === "string" && seen.has(from.trim().toLowerCase())) {
                problems.push({ path: ["integrationKeys", i, "renamedFrom"], message: `"${from}" is the name of another entry; renamedFrom names this key's previous name` });
            }
        });
        return problems;
    },

    warnings(section) {
        // From the YAML's expiry and the run's clock (KEYFLEET_CLOCK_OFFSET_MS), in the engine's
        // warning output, before any vendor call: the program runs before the engine. While the
        // YAML's expiry is ahead it is the key's own (a rotation renews a key only past it); once
        // it has passed, the key's actual expiry is the last run's record, and declare() warns.
        const out: SectionProblem[] = [];
        const now = clock.now();
        (section.integrationKeys ?? []).forEach((e, i) => {
            if (!e.expires || e.expires === "never") return;
            const at = Date.parse(scpExpiry(e.expires));
            if (at <= now) return;
            const message = expiryWarning(e, e.expires, at, e.rotation?.every ? e.rotation : null, now);
            if (message) out.push({ path: ["integrationKeys", i, "expires"], message });
        });
        return out;
    },

    newKeyRules(section, isNew) {
        const out: SectionProblem[] = [];
        (section.integrationKeys ?? []).forEach((e, i) => {
            if (!e.expires || e.expires === "never" || e.adopt || Date.parse(scpExpiry(e.expires)) > clock.now()) return;
            if (!isNew(`supportcenter/${e.name}`, e.renamedFrom ? [`supportcenter/${e.renamedFrom}`] : [])) return;
            out.push({ path: ["integrationKeys", i, "expires"], message: `key "${e.name}" is new and its expiry ${e.expires} has passed: an integration key cannot be created expired; move expires forward or set it to never` });
        });
        return out;
    },

    async declare(section, ctx) {
        const { SupportCenterIntegrationKey } = await import("./resource.ts");
        const pulumi = await import("@pulumi/pulumi");
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        if (section.notifications) {
            // One setting per instance, its own resource (not a key: no rotation, no value).
            const { SupportCenterNotificationSettings } = await import("./notifications.ts");
            const n = section.notifications;
            new SupportCenterNotificationSettings("supportcenter/notifications", { enabled: n.enabled, days: n.days, technicians: n.technicians, owner: n.owner }, ctx.options);
        }
        for (const [i, e] of (section.integrationKeys ?? []).entries()) {
            const resourceName = `supportcenter/${e.name}`;
            const previous = e.renamedFrom ? [`supportcenter/${e.renamedFrom}`] : [];
            const core = ctx.core(resourceName, e, previous);
            const k = new SupportCenterIntegrationKey(
                resourceName,
                {
                    ...keyInputs(e),
                    rotation: core.rotation,
                    predecessor: core.predecessor,
                    rotationDue: core.rotationDue,
                    holdPrevious: core.holdPrevious,
                    interrupted: core.interrupted,
                },
                // Pulumi's own protect: the engine refuses to delete the key, in up and destroy alike.
                { ...ctx.options, protect: core.protect(e.protect ?? false), aliases: previous.map((name) => ({ name })) },
            );
            // Past the YAML's expiry, the key's own is the one the last run recorded (a rotation
            // renews a key for one period); warned here, where that record is known.
            if (e.expires && e.expires !== "never" && Date.parse(scpExpiry(e.expires)) <= clock.now()) {
                const actual = core.lastExpires ?? scpExpiry(e.expires);
                const message = expiryWarning(e, core.lastExpires ?? e.expires, Date.parse(actual), core.rotation, clock.now());
                // At the YAML's place, as the loader's warnings are (file:line:col path: message).
                const where = ctx.at?.(["supportcenter", "integrationKeys", i, "expires"]) ?? `supportcenter.integrationKeys[${i}].expires`;
                if (message) void pulumi.log.warn(`${where}: ${message}`, k);
            }
            exports[resourceName] = {
                id: k.id,
                kind: pulumi.output("integration"),
                name: k.name,
                roles: k.roles,
                status: k.status,
                enabled: k.status.apply((s) => s === "active"),
                revoked: pulumi.output(false),
                // When the key stops working: the YAML's expiry, or a renewed key's own (validUntil).
                expires: k.validUntil,
                description: k.description,
                owner: k.owner,
                deletedRoles: k.deletedRoles,
                created: k.created,
                rotation: k.rotation,
                fingerprint: k.fingerprint,
                apiKey: k.apiKey,
                note: k.note,
            };
        }
        return exports;
    },

    async provider() {
        const { withNotifications } = await import("./notifications.ts");
        return withNotifications((await import("./lifecycle.ts")).provider);
    },
};
