// Acceptance test of SupportCenter Plus integration keys through the real Pulumi engine against the
// sandbox. Each labelled step changes the YAML as a user would, runs the engine, and asks the
// vendor side (the sandbox's records and its consumer API) whether it matches.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { backendFiles, captured, createTestStack, expectNoChanges, type TestStack } from "./helpers/stack.ts";

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

async function up(opts: { refresh?: boolean } = {}) {
    const result = await s.stack.up({ ...captured(s), ...opts });
    states.push(await s.exportState());
    return result.summary.resourceChanges ?? {};
}
async function outputs(): Promise<Record<string, Record<string, unknown>>> {
    return ((await s.stack.outputs()).keys?.value ?? {}) as Record<string, Record<string, unknown>>;
}
/** Runs `work` and returns what the engine printed meanwhile. */
async function printed(work: (onOutput: (l: string) => void) => Promise<unknown>): Promise<string> {
    const lines: string[] = [];
    await work((l) => (lines.push(l), s.output.push(l)));
    return lines.join("");
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

    it("step 1 create: keys with roles and an expiry exist, owned by admin, and work", async () => {
        expect(await up()).toMatchObject({ create: 3 });
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
    });

    it("step 2 no-op: a preview and an up change nothing and call no vendor", async () => {
        const calls = t.sandbox.stats.total;
        expectNoChanges((await s.stack.preview({ ...captured(s), expectNoChanges: true })).changeSummary);
        expect(await up()).toEqual({ same: 3, read: 1 });
        expect(t.sandbox.stats.total).toBe(calls);
    });

    it("step 3 edit roles and description in place: the key value is unchanged and still accepted", async () => {
        s.writeKeys(yaml({ roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2" }));
        expect(await up()).toMatchObject({ update: 1, same: 2 });
        expect((await s.apiKeys())[J]).toBe(first[J]);
        expect(record(ids[J])!.roles.map((r) => r.name).sort()).toEqual(["Integration Auditor", "SDAdmin"]);
        expect(record(ids[J])).toMatchObject({ description: "Jira, v2", value: first[J] });
        expect(await useScpKey(t.url, first[J])).toBe(200);
    });

    it("step 4 deactivate: the key is kept, and the product refuses it", async () => {
        s.writeKeys(yaml({ roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2", status: "inactive" }));
        expect(await up()).toMatchObject({ update: 1, same: 2 });
        expect(record(ids[J])).toMatchObject({ status: "inactive", value: first[J] });
        expect(await useScpKey(t.url, first[J])).toBe(401);
    });

    const soon = new Date(Date.now() + 2 * DAY).toISOString().replace(/\.\d+Z$/, "Z");
    const rotating = { roles: "[SDAdmin, Integration Auditor]", description: "Jira, v2", expires: soon, extra: "      rotation: { every: 30d }" };

    it("step 5 an expiry within warnBefore (3d) is warned about in preview and up", async () => {
        s.writeKeys(yaml(rotating));
        const out = await printed((onOutput) => s.stack.preview({ ...captured(s), onOutput }));
        expect(out).toMatch(/warning: .*supportcenter\.integrationKeys\[0\]\.expires: key "jira sync" expires on \S+, in \S+ \(within warnBefore 3d\); rotation replaces it/);
        expect(await up()).toMatchObject({ update: 1, same: 2 });
        expect(record(ids[J])).toMatchObject({ status: "active", validity: Date.parse(soon) });
        expect(await useScpKey(t.url, first[J])).toBe(200);
    });

    it("step 6 the expiry passes: warned, and rotation replaces the key, new key first", async () => {
        t.sandbox.advance(3 * DAY);
        expect(await useScpKey(t.url, first[J])).toBe(401);
        // The run's clock moves with the product's for the rest of the test.
        s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(3 * DAY);
        const calls = t.sandbox.stats.byRoute["PUT /api/v3/integration_keys/{id}"] ?? 0;
        let changes: Record<string, number> | undefined;
        const out = await printed(async (onOutput) => (changes = (await s.stack.up({ ...captured(s), onOutput })).summary.resourceChanges));
        states.push(await s.exportState());
        expect(changes).toMatchObject({ replace: 1, same: 2 });
        // At the YAML's place, as every warning of the loader is (issue 18, finding 4).
        expect(out).toMatch(/warning: .*keys\.yaml:\d+:\d+ supportcenter\.integrationKeys\[0\]\.expires: key "jira sync" expired on .*; rotation replaces it with a new key valid for 30d/);
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
        expectNoChanges((await s.stack.preview({ ...captured(s), refresh: true })).changeSummary);
        first = now;
    });

    it("step 7 reassign: owner jane takes the key; admin can no longer act on it", async () => {
        s.writeKeys(yaml({ ...rotating, owner: "jane" }));
        expect(await up()).toMatchObject({ update: 1, same: 2 });
        expect(record(ids[J])).toMatchObject({ ownerId: t.users.jane.id, value: first[J] });
        const refused = await t.client.update(t.as("admin"), ids[J], { description: "admin?" }).catch((e: { kind: string }) => e);
        expect(refused).toMatchObject({ kind: "forbidden", code: "4002" });
    });

    it("step 8 later changes act as the new owner; without the owner's credentials the run fails before any call", async () => {
        s.writeKeys(yaml({ ...rotating, owner: "jane", description: "Jira, v3" }));
        expect(await up()).toMatchObject({ update: 1, same: 2 });
        expect(record(ids[J])!.description).toBe("Jira, v3");

        await s.stack.setConfig("keyfleet:supportcenterOwners", { value: t.owners(["admin"]), secret: true });
        s.writeKeys(yaml({ ...rotating, owner: "jane", description: "Jira, v4" }));
        const calls = t.sandbox.stats.total;
        const err = await s.stack.up(captured(s)).catch((e: Error) => e);
        expect(String(err)).toContain('keyfleet:supportcenterOwners has no credentials for owner "jane"');
        expect(t.sandbox.stats.total).toBe(calls);
        expect(record(ids[J])!.description).toBe("Jira, v3");
        await s.stack.setConfig("keyfleet:supportcenterOwners", { value: t.owners(), secret: true });
    });

    it("step 9 a protected key removed from the YAML is not deleted; unprotected, it is", async () => {
        const current = yaml({ ...rotating, owner: "jane", description: "Jira, v3" }, null);
        s.writeKeys(current);
        const err = await s.stack.up(captured(s)).catch((e: Error) => e);
        expect(String(err)).toMatch(/protect/);
        expect(record(ids[CI])).toBeDefined();
        expect(await useScpKey(t.url, first[CI])).toBe(200);
        // Lifting the protection is a state change only.
        s.writeKeys(yaml({ ...rotating, owner: "jane", description: "Jira, v3" }, "      protect: false"));
        const calls = t.sandbox.stats.total;
        await up();
        expect(t.sandbox.stats.total).toBe(calls);
        s.writeKeys(current);
        expect(await up()).toMatchObject({ delete: 1, same: 2 });
        expect(record(ids[CI])).toBeUndefined();
        expect(await useScpKey(t.url, first[CI])).toBe(401);
    });

    it("step 10 refresh finds out-of-band edits, a deleted role and the keys of a deleted user; up converges", async () => {
        t.sandbox.editKey(ids[J], { status: "inactive", description: "edited in the UI" });
        t.sandbox.deleteRole("Integration Auditor");
        t.sandbox.deleteUser("jane", "admin");
        await s.stack.refresh(captured(s));
        // Refresh rewrites the resources' state (stack outputs change at the next up).
        const state = JSON.parse(await s.exportState());
        states.push(JSON.stringify(state));
        const outs = state.checkpoint.latest.resources.find((r: { urn: string }) => r.urn.endsWith("::supportcenter/jira sync")).outputs;
        expect(outs).toMatchObject({ status: "inactive", description: "edited in the UI", owner: "admin", roles: ["SDAdmin"], deletedRoles: ["Integration Auditor"] });
        // The YAML follows the product: the role is gone and the key is admin's now.
        s.writeKeys(yaml({ ...rotating, roles: "[SDAdmin]", owner: "admin", description: "Jira, v3" }, null));
        expect(await up()).toMatchObject({ update: 1 });
        expect(record(ids[J])).toMatchObject({ status: "active", description: "Jira, v3", ownerId: t.users.admin.id, value: first[J] });
        expect(await useScpKey(t.url, first[J])).toBe(200);
        expectNoChanges((await s.stack.preview({ ...captured(s), refresh: true })).changeSummary);
    });

    it("step 11 destroy: no key is left", async () => {
        await s.stack.destroy(captured(s));
        states.push(await s.exportState());
        expect(t.sandbox.keys.size).toBe(0);
        expect(await useScpKey(t.url, first[J])).toBe(401);
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
    beforeAll(async () => {
        n = await startScp();
        // As found: what destroy restores.
        n.sandbox.setNotificationSettings({ isEnabled: false, days: 5, technicians: ["admin"], notifyOwner: false });
        ns = await createTestStack(n, settingsYaml(7));
    });
    afterAll(async () => {
        await ns?.cleanup();
        await n?.close();
    });

    it("create, an empty plan, an out-of-band change seen as drift on refresh, an update, and destroy restoring the setting as found", async () => {
        expect((await ns.stack.up(captured(ns))).summary.resourceChanges).toMatchObject({ create: 2 });
        expect(setting()).toEqual({ isEnabled: true, days: 7, technicians: [n.users.jane.id], notifyOwner: true });
        expectNoChanges((await ns.stack.preview({ ...captured(ns), refresh: true })).changeSummary);

        // Out of band, in the product's form: fewer days, another technician, no owner.
        n.sandbox.setNotificationSettings({ days: 2, technicians: ["admin"], notifyOwner: false });
        await ns.stack.refresh(captured(ns));
        const state = JSON.parse(await ns.exportState());
        const outs = state.checkpoint.latest.resources.find((r: { urn: string }) => r.urn.endsWith("::supportcenter/notifications")).outputs;
        expect(outs).toMatchObject({ enabled: true, days: 2, technicians: ["admin"], owner: false });
        const lines: string[] = [];
        expect((await ns.stack.preview({ ...captured(ns), diff: true, onOutput: (l) => (lines.push(l), ns.output.push(l)) })).changeSummary).toMatchObject({ update: 1 });
        // The plan names the fields, the product's value against the YAML's.
        const shown = lines.join("");
        expect(shown).toMatch(/~\s*days\s*: 2 => 7/);
        expect(shown).toMatch(/~\s*owner\s*: false => true/);
        expect((await ns.stack.up(captured(ns))).summary.resourceChanges).toMatchObject({ update: 1 });
        expect(setting()).toEqual({ isEnabled: true, days: 7, technicians: [n.users.jane.id], notifyOwner: true });

        ns.writeKeys(settingsYaml(10));
        expect((await ns.stack.up(captured(ns))).summary.resourceChanges).toMatchObject({ update: 1 });
        expect(setting().days).toBe(10);
        expectNoChanges((await ns.stack.preview({ ...captured(ns), refresh: true })).changeSummary);

        await ns.stack.destroy(captured(ns));
        expect(setting()).toEqual({ isEnabled: false, days: 5, technicians: [n.users.admin.id], notifyOwner: false });
    });
});
