// SupportSystem (an osTicket-style help desk) as keyfleet sees it: the `supportsystem:` section of
// an environment's YAML, its rules, its stack settings (the help desk's MySQL/MariaDB database), how
// its keys are declared, and its sandbox.
import { createRequire } from "node:module";
import type { SectionProblem, VendorDescriptor } from "../shared/descriptor.ts";
import { dynamicType } from "../shared/hygiene.ts";
import { ADOPT, RIGHTS, SUPPORTSYSTEM_SETTINGS, addressProblem, canonicalAddress, configuredTransport, keyInputs, resourceName, type Path, SupportSystemSection, SUPPORTSYSTEM_KEY_OUTPUTS } from "./schema.ts";

export * from "./schema.ts";

export const supportsystem: VendorDescriptor<SupportSystemSection> = {
    section: "supportsystem",
    title: "SupportSystem",
    keyOutputs: SUPPORTSYSTEM_KEY_OUTPUTS,
    hygiene: {
        types: [dynamicType("supportsystem", "ApiKey")],
        // No expiry; each key is bound to one address; a right left out is granted (the table's default).
        facts: (inputs) => ({
            address: String(inputs.ip),
            rights: RIGHTS.filter(([input]) => inputs[input] !== false).map(([, right]) => right),
            verifiable: true,
        }),
        keys: (section) =>
            (section.apiKeys ?? []).flatMap((e, i) =>
                (e.ip !== undefined ? [e.ip] : (e.ips ?? [])).map((written, j) => ({
                    resourceName: resourceName(e, canonicalAddress(written)),
                    path: ["apiKeys", i],
                    entry: e,
                    inputs: keyInputs(e, canonicalAddress(written)),
                    options: {},
                    at: (fact) => {
                        if (fact === "address") return e.ip !== undefined ? ["apiKeys", i, "ip"] : ["apiKeys", i, "ips", j];
                        if (fact === "rights") {
                            const given = RIGHTS.find(([input]) => e[input] !== undefined);
                            return given ? ["apiKeys", i, given[0]] : undefined;
                        }
                        return fact === "rotation" && e.rotation ? ["apiKeys", i, "rotation"] : undefined;
                    },
                })),
            ),
    },
    schema: SupportSystemSection,
    settings: SUPPORTSYSTEM_SETTINGS,

    declares: (s) => (s.apiKeys?.length ?? 0) > 0,

    // Names and notes go into the `notes` column, whose character set (utf8mb3 in osTicket's schema)
    // only the database knows. Asked only when some text is not ASCII, which every charset holds.
    async preflight(section, at) {
        if (configuredTransport() === "admin") return [];
        const texts: { column: "notes"; text: string; field: string }[] = [];
        for (const [i, e] of (section.apiKeys ?? []).entries()) {
            for (const [field, text] of [["name", e.name], ["note", e.note ?? ""]] as const) {
                if (/[^\x00-\x7f]/.test(text)) texts.push({ column: "notes", text, field: at(["supportsystem", "apiKeys", i, field]) });
            }
        }
        if (texts.length === 0) return [];
        const { unstorable } = await import("./lifecycle.ts");
        const { getConfig } = createRequire(import.meta.url)("@pulumi/pulumi/runtime/config") as { getConfig(k: string): string | undefined };
        return unstorable(texts, { get: getConfig });
    },

    rules(raw) {
        const problems: SectionProblem[] = [];
        const entries = Array.isArray(raw.apiKeys) ? (raw.apiKeys as unknown[]) : [];
        const keys = new Map<string, Path>();
        const resources = new Map<string, Path>();
        const adopted = new Map<string, Path>();
        entries.forEach((value, i) => {
            if (!value || typeof value !== "object") return;
            const e = value as Record<string, unknown>;
            const hasIp = e.ip !== undefined;
            const hasIps = e.ips !== undefined;
            if (hasIp && hasIps) problems.push({ path: ["apiKeys", i, "ips"], message: "give ip (one address) or ips (one key per address), not both" });
            if (!hasIp && !hasIps) problems.push({ path: ["apiKeys", i], message: "needs ip (one address) or ips (one key per address): the help desk binds each key to one address" });
            const ips = Array.isArray(e.ips) ? e.ips : [];
            if (hasIps && !hasIp && ips.length > 1 && e.adopt !== undefined && e.adopt !== true) {
                problems.push({ path: ["apiKeys", i, "adopt"], message: "a row id takes over one row, and ips makes one key per address: use adopt: true (by marker) or an entry with ip: for the adopted row" });
            }
            // One row can be taken over by one key only: a second would share its key value and delete it on its own destroy.
            if ((typeof e.adopt === "number" || typeof e.adopt === "string") && ADOPT.safeParse(e.adopt).success) {
                const id = String(e.adopt);
                const first = adopted.get(id);
                if (first) problems.push({ path: ["apiKeys", i, "adopt"], message: `row ${id} is adopted by another entry already: a row becomes one key; remove one of the adopt: ${id}`, firstAt: first });
                else adopted.set(id, ["apiKeys", i, "adopt"]);
            }
            if (typeof e.name !== "string") return;
            const name = e.name;
            const addresses: [unknown, Path][] = hasIp ? [[e.ip, ["apiKeys", i, "ip"]]] : ips.map((ip, j) => [ip, ["apiKeys", i, "ips", j]]);
            for (const [ip, path] of addresses) {
                if (typeof ip !== "string" || addressProblem(ip)) continue;
                const address = canonicalAddress(ip);
                const key = `${name}\0${address}`;
                const first = keys.get(key);
                if (first) {
                    problems.push({ path, message: `duplicate key "${name}" for ${address}`, firstAt: first });
                    continue;
                }
                keys.set(key, path);
                const resource = resourceName({ name, ip: hasIp ? address : undefined }, address);
                const taken = resources.get(resource);
                if (taken) {
                    problems.push({
                        path: ["apiKeys", i, "name"],
                        message: `duplicate key name "${name}": an entry with ip: is known by its name alone; list both addresses under one entry's ips:`,
                        firstAt: taken,
                    });
                } else resources.set(resource, ["apiKeys", i, "name"]);
            }
        });
        return problems;
    },

    async declare(section, ctx) {
        const { SupportSystemApiKey } = await import("./resource.ts");
        const exports: Awaited<ReturnType<VendorDescriptor["declare"]>> = {};
        for (const [i, e] of (section.apiKeys ?? []).entries()) {
            const at = (field: string) => ctx.at?.(["supportsystem", "apiKeys", i, field]);
            const yamlAt = ctx.at ? { name: at("name"), ...(e.note !== undefined ? { note: at("note") } : {}) } : null;
            for (const written of e.ip !== undefined ? [e.ip] : (e.ips ?? [])) {
                const ip = canonicalAddress(written);
                const resource = resourceName(e, ip);
                const k = new SupportSystemApiKey(
                    resource,
                    {
                        ...keyInputs(e, ip),
                        yamlAt,
                        ...ctx.core(resource, e),
                    },
                    ctx.options,
                );
                const { name, active, canCreateTickets, canExecCron, keyId, created, updated, rotation, apiKey, note } = k;
                exports[resource] = { id: k.id, name, ip: k.ip, active, canCreateTickets, canExecCron, keyId, created, updated, rotation, apiKey, note };
            }
        }
        return exports;
    },

    async provider() {
        return (await import("./lifecycle.ts")).provider;
    },
};
