// Acceptance test of SupportCenter Plus integration keys through the real Pulumi engine against the
// sandbox. Each labelled step changes the YAML as a user would, runs the engine, and asks the
// vendor side (the sandbox's records and its consumer API) whether it matches; the step runner
// (test/helpers/step-runner.ts) then asks for a refreshed plan, which must be empty.
import fs from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { backendFiles, captured, createTestStack, type TestStack } from "./helpers/stack.ts";
import { lifecycle, noOpStep } from "./helpers/step-runner.ts";

const DAY = 86_400_000;
const J = "supportcenter/jira sync";
const CI = "supportcenter/ci";

interface Entry {
    roles?: string;
    expires?: string;
    description?: string;
    status?: string;
    owner?: string;
    extra?: string;
}
const yaml = (jira: Entry, ci: string | null = "      protect: true") =>
    `# yaml-language-server: $schema=./schema.json
supportcenter:
  integrationKeys:
    - name: jira sync
      roles: ${jira.roles ?? "[Technician, Integration Auditor]"}
      expires: ${jira.expires ?? "2099-06-30"}
      description: ${jira.description ?? "Jira integration"}
      status: ${jira.status ?? "active"}
      owner: ${jira.owner ?? "admin"}
${jira.extra ?? ""}
${ci === null ? "" : `    - name: ci\n      roles: [Technician]\n      owner: admin\n${ci}\n`}`;

let t: ScpTestSandbox;
let s: TestStack;
const states: string[] = [];

async function outputs(): Promise<Record<string, Record<string, unknown>>> {
    return ((await s.stack.outputs()).keys?.value ?? {}) as Record<string, Record<string, unknown>>;
}
const record = (id: string) => t.sandbox.keys.get(id);

beforeAll(async () => {
    t = await startScp();
    s = await createTestStack(t, yaml({}));
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

describe("SupportCenter Plus integration keys through pulumi up", () => {
    let first: Record<string, string>;
    let ids: Record<string, string>;
    let calls = 0;

    const soon = new Date(Date.now() + 2 * DAY).toISOString().replace(/\.\d+Z$/, "Z");
    const rotating = { roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2", expires: soon, extra: "      rotation: { every: 30d }" };
    /** The YAML of step 9 on: the ci entry removed. */
    const withoutCi = yaml({ ...rotating, owner: "jane", description: "Jira, v3" }, null);

    lifecycle({
        stack: () => s,
        afterApply: async () => void states.push(await s.exportState()),
        steps: [
            {
                name: "step 1 create: keys with roles and an expiry exist, owned by admin, and work",
                yaml: yaml({}),
                changes: { create: 3 },
                check: async () => {
                    first = await s.apiKeys();
                    const outs = await outputs();
                    ids = { [J]: String(outs[J].id), [CI]: String(outs[CI].id) };
                    expect(record(ids[J])).toMatchObject({
                        name: "jira sync",
                        roles: expect.arrayContaining([expect.objectContaining({ name: "Technician" }), expect.objectContaining({ name: "Integration Auditor" })]),
                        validity: Date.parse("2099-06-30T23:59:00Z"), // a bare date is 23:59 of that day (UTC), as the product keeps it
                        description: "Jira integration",
                        status: "active",
                        ownerId: t.users.admin.id,
                    });
                    // The id is the record id; the value came in the create answer (no decrypt).
                    expect(first[J]).toBe(record(ids[J])!.value);
                    expect(t.sandbox.stats.byRoute["POST /api/v3/integration_keys/{id}/decrypt"] ?? 0).toBe(0);
                    for (const k of Object.values(first)) expect(await useScpKey(t.url, k)).toBe(200);
                    const resources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/supportcenter:IntegrationKey");
                    expect(resources.map((r: { id: string }) => r.id).sort()).toEqual(Object.values(ids).sort());
                    expect(resources.find((r: { urn: string }) => r.urn.endsWith("::supportcenter/ci")).protect).toBe(true);
                },
            },
            noOpStep("step 2 no-op: an up and a preview change nothing and call no vendor", { same: 3 }, () => t.sandbox.stats.total),
            {
                name: "step 3 edit roles and description in place: the key value is unchanged and still accepted",
                yaml: yaml({ roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2" }),
                changes: { update: 1, same: 2 },
                check: async () => {
                    expect((await s.apiKeys())[J]).toBe(first[J]);
                    expect(record(ids[J])!.roles.map((r) => r.name).sort()).toEqual(["Integration Auditor", "SDAdmin"]);
                    expect(record(ids[J])).toMatchObject({ description: "Jira, v2", value: first[J] });
                    expect(await useScpKey(t.url, first[J])).toBe(200);
                },
            },
            {
                name: "step 4 deactivate: the key is kept, and the product refuses it",
                yaml: yaml({ roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2", status: "inactive" }),
                changes: { update: 1, same: 2 },
                check: async () => {
                    expect(record(ids[J])).toMatchObject({ status: "inactive", value: first[J] });
                    expect(await useScpKey(t.url, first[J])).toBe(401);
                },
            },
            {
                name: "step 5 an expiry within warnBefore (3d) is warned about in preview and up",
                yaml: yaml(rotating),
                plan: { printed: /warning: .*supportcenter\.integrationKeys\[0\]\.expires: key "jira sync" expires on \S+, in \S+ \(within warnBefore 3d\); rotation replaces it/ },
                changes: { update: 1, same: 2 },
                check: async () => {
                    expect(record(ids[J])).toMatchObject({ status: "active", validity: Date.parse(soon) });
                    expect(await useScpKey(t.url, first[J])).toBe(200);
                },
            },
            {
                name: "step 6 the expiry passes: warned, and rotation replaces the key, new key first",
                before: async () => {
                    t.sandbox.advance(3 * DAY);
                    expect(await useScpKey(t.url, first[J])).toBe(401);
                    // The run's clock moves with the product's for the rest of the test.
                    s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(3 * DAY);
                    calls = t.sandbox.stats.byRoute["PUT /api/v3/integration_keys/{id}"] ?? 0;
                },
                changes: { replace: 1, same: 2 },
                check: async ({ printed }) => {
                    // At the YAML's place, as every warning of the loader is (issue 18, finding 4).
                    expect(printed).toMatch(/warning: .*keys\.yaml:\d+:\d+ supportcenter\.integrationKeys\[0\]\.expires: key "jira sync" expired on .*; rotation replaces it with a new key valid for 30d/);
                    const now = await s.apiKeys();
                    expect(now[J]).not.toBe(first[J]);
                    const outs = await outputs();
                    expect(outs[J].id).not.toBe(ids[J]);
                    // The old key was renamed aside while the new one took its name, then deleted.
                    expect(t.sandbox.stats.byRoute["PUT /api/v3/integration_keys/{id}"]).toBe(calls + 1);
                    expect(record(ids[J])).toBeUndefined();
                    ids[J] = String(outs[J].id);
                    // Past the YAML's expiry, the new key is valid for one rotation period.
                    expect(record(ids[J])).toMatchObject({ name: "jira sync", validity: expect.any(Number) });
                    expect(Math.abs(record(ids[J])!.validity - (t.sandbox.now() + 30 * DAY))).toBeLessThan(120_000);
                    expect(await useScpKey(t.url, now[J])).toBe(200);
                    first = now;
                },
            },
            {
                name: "step 7 reassign: owner jane takes the key; admin can no longer act on it",
                yaml: yaml({ ...rotating, owner: "jane" }),
                changes: { update: 1, same: 2 },
                check: async () => {
                    expect(record(ids[J])).toMatchObject({ ownerId: t.users.jane.id, value: first[J] });
                    const refused = await t.client.update(t.as("admin"), ids[J], { description: "admin?" }).catch((e: { kind: string }) => e);
                    expect(refused).toMatchObject({ kind: "forbidden", code: "4002" });
                },
            },
            {
                name: "step 8 later changes act as the new owner",
                yaml: yaml({ ...rotating, owner: "jane", description: "Jira, v3" }),
                changes: { update: 1, same: 2 },
                check: async () => expect(record(ids[J])!.description).toBe("Jira, v3"),
            },
            {
                name: "step 8 without the owner's credentials the run fails before any call",
                before: async () => {
                    await s.stack.setConfig("keyfleet:supportcenterOwners", { value: t.owners(["admin"]), secret: true });
                    calls = t.sandbox.stats.total;
                },
                yaml: yaml({ ...rotating, owner: "jane", description: "Jira, v4" }),
                expectError: /keyfleet:supportcenterOwners has no credentials for owner "jane"/,
                check: async () => {
                    expect(t.sandbox.stats.total).toBe(calls);
                    expect(record(ids[J])!.description).toBe("Jira, v3");
                },
                after: () => s.stack.setConfig("keyfleet:supportcenterOwners", { value: t.owners(), secret: true }),
            },
            {
                name: "step 9 a protected key removed from the YAML is not deleted",
                yaml: withoutCi,
                expectError: /protect/,
                check: async () => {
                    expect(record(ids[CI])).toBeDefined();
                    expect(await useScpKey(t.url, first[CI])).toBe(200);
                },
            },
            {
                name: "step 9 lifting the protection is a state change only",
                before: async () => void (calls = t.sandbox.stats.total),
                yaml: yaml({ ...rotating, owner: "jane", description: "Jira, v3" }, "      protect: false"),
                check: async () => expect(t.sandbox.stats.total).toBe(calls),
            },
            {
                name: "step 9 unprotected, a key removed from the YAML is deleted",
                yaml: withoutCi,
                changes: { delete: 1, same: 2 },
                check: async () => {
                    expect(record(ids[CI])).toBeUndefined();
                    expect(await useScpKey(t.url, first[CI])).toBe(401);
                },
            },
            {
                name: "step 10 refresh finds out-of-band edits, a deleted role and the keys of a deleted user; up converges",
                before: async () => {
                    t.sandbox.editKey(ids[J], { status: "inactive", description: "edited in the UI" });
                    t.sandbox.deleteRole("Integration Auditor");
                    t.sandbox.deleteUser("jane", "admin");
                    await s.stack.refresh(captured(s));
                    // Refresh rewrites the resources' state (stack outputs change at the next up).
                    const state = JSON.parse(await s.exportState());
                    states.push(JSON.stringify(state));
                    const outs = state.checkpoint.latest.resources.find((r: { urn: string }) => r.urn.endsWith("::supportcenter/jira sync")).outputs;
                    expect(outs).toMatchObject({ status: "inactive", description: "edited in the UI", owner: "admin", roles: ["SDAdmin"], deletedRoles: ["Integration Auditor"] });
                },
                // The YAML follows the product: the role is gone and the key is admin's now.
                yaml: yaml({ ...rotating, roles: "[SDAdmin]", owner: "admin", description: "Jira, v3" }, null),
                changes: { update: 1 },
                check: async () => {
                    expect(record(ids[J])).toMatchObject({ status: "active", description: "Jira, v3", ownerId: t.users.admin.id, value: first[J] });
                    expect(await useScpKey(t.url, first[J])).toBe(200);
                },
            },
        ],
        destroy: {
            name: "step 11 destroy: no key is left",
            // The product's list, as an SDAdmin sees it (every owner's keys).
            remaining: async () => (await t.client.listKeys(t.as("admin"))).map((k) => `${k.id} ${k.name}`),
            check: async () => {
                expect(t.sandbox.keys.size).toBe(0);
                expect(await useScpKey(t.url, first[J])).toBe(401);
            },
        },
    });

    it("no key value or credential appears in state, its history, CLI output or stack config", async () => {
        const backend = backendFiles(path.join(s.dir, "state"));
        expect(backend.length).toBeGreaterThan(5);
        const haystack = [...states, ...backend, ...s.output, fs.readFileSync(`${s.dir}/Pulumi.e2e.yaml`, "utf8")].join("\n");
        const secrets = t.secrets();
        expect(secrets.length).toBeGreaterThanOrEqual(9);
        expect(secrets.filter((secret) => haystack.includes(secret))).toEqual([]);
        const keyResources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/supportcenter:IntegrationKey");
        expect(keyResources).toHaveLength(2);
        for (const r of keyResources) expect(r.outputs.apiKey.ciphertext).toMatch(/^v1:/);
    });
});


describe("SupportCenter Plus expiry notifications through pulumi up (one resource of its own)", () => {
    let n: ScpTestSandbox;
    let ns: TestStack;
    const settingsYaml = (days: number) =>
        `supportcenter:\n  notifications:\n    enabled: true\n    days: ${days}\n    technicians: [jane]\n    owner: true\n`;
    const setting = () => n.sandbox.notificationSettings;
    /** The setting as the product's API answered before the stack existed: what destroy restores. */
    let asFound: unknown;
    beforeAll(async () => {
        n = await startScp();
        n.sandbox.setNotificationSettings({ isEnabled: false, days: 5, technicians: ["admin"], notifyOwner: false });
        asFound = await n.client.getNotificationSettings(n.as("admin"));
        ns = await createTestStack(n, settingsYaml(7));
    });
    afterAll(async () => {
        await ns?.cleanup();
        await n?.close();
    });

    lifecycle({
        stack: () => ns,
        steps: [
            {
                name: "create: the setting is the YAML's",
                yaml: settingsYaml(7),
                changes: { create: 2 },
                check: async () => expect(setting()).toEqual({ isEnabled: true, days: 7, technicians: [n.users.jane.id], notifyOwner: true }),
            },
            {
                name: "an out-of-band change is seen as drift on refresh, the plan names its fields, and up puts the YAML's back",
                before: async () => {
                    // Out of band, in the product's form: fewer days, another technician, no owner.
                    n.sandbox.setNotificationSettings({ days: 2, technicians: ["admin"], notifyOwner: false });
                    await ns.stack.refresh(captured(ns));
                    const state = JSON.parse(await ns.exportState());
                    const outs = state.checkpoint.latest.resources.find((r: { urn: string }) => r.urn.endsWith("::supportcenter/notifications")).outputs;
                    expect(outs).toMatchObject({ enabled: true, days: 2, technicians: ["admin"], owner: false });
                },
                // The plan names the fields, the product's value against the YAML's.
                plan: { diff: true, changes: { update: 1 }, printed: [/~\s*days\s*: 2 => 7/, /~\s*owner\s*: false => true/] },
                changes: { update: 1 },
                check: async () => expect(setting()).toEqual({ isEnabled: true, days: 7, technicians: [n.users.jane.id], notifyOwner: true }),
            },
            {
                name: "an update of the YAML's days",
                yaml: settingsYaml(10),
                changes: { update: 1 },
                check: async () => expect(setting().days).toBe(10),
            },
        ],
        destroy: {
            name: "destroy restores the setting as found",
            // What is left of the stack is a setting other than the one found, as the product's API answers it.
            remaining: async () => {
                const now = await n.client.getNotificationSettings(n.as("admin"));
                return isDeepStrictEqual(now, asFound) ? [] : [JSON.stringify(now)];
            },
            check: async () => expect(setting()).toEqual({ isEnabled: false, days: 5, technicians: [n.users.admin.id], notifyOwner: false }),
        },
    });
});
