// Acceptance test of the Nexus key resources through the real Pulumi engine against the sandbox.
// Each labelled step changes config/<stack>.yaml as a user would, runs the engine, and then asks
// the vendor side (the sandbox's API, and its usage endpoint) whether it matches; the step runner
// (test/helpers/step-runner.ts) then asks for a refreshed plan, which must be empty.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { backendFiles, captured, createTestStack, ROOT, type TestStack } from "./helpers/stack.ts";
import { lifecycle, noOpStep } from "./helpers/step-runner.ts";

const yaml = (body: string) => `# yaml-language-server: $schema=./schema.json\n${body}`;
const keys = (parts: { tenant?: string; cluster?: string; designer?: string; extra?: string }) =>
    yaml(`nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
${parts.tenant ?? "      permissions: [nexus:consumer:chat]"}
${parts.extra ?? ""}
  clusterKeys:
    - name: monitoring
${parts.cluster ?? ""}
  designerKeys:
    - name: designer
${parts.designer ?? ""}
`);

let t: TestSandbox;
let s: TestStack;
const started = Date.now();

/** The per-operation logs the CLI wrote to PULUMI_HOME/logs during this test (gzip, or raw). */
function pulumiLogs(): string[] {
    const dir = path.join(process.env.PULUMI_HOME ?? path.join(ROOT, ".keyfleet", "home"), "logs");
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .map((f) => path.join(dir, f))
        .filter((f) => fs.statSync(f).mtimeMs >= started)
        .map((f) => {
            const raw = fs.readFileSync(f);
            try {
                return zlib.gunzipSync(raw).toString("latin1");
            } catch {
                return raw.toString("latin1");
            }
        });
}
const states: string[] = [];
/** The key step 8 made out of band, and how many keys Nexus held then. */
let adopted = { id: "", before: 0 };
const T = "nexus/tenant/web chat";
const C = "nexus/cluster/monitoring";
const D = "nexus/designer/designer";

/** Both logins' view of Nexus, through its API: what exists for real. */
async function remote() {
    const all = [...(await t.client.list(t.opsLogin))];
    return new Map(all.map((k) => [k.id, k]));
}

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, keys({}));
});
afterAll(async () => {
    await s?.cleanup();
    await t?.close();
});

const TWO_PERMS = "      permissions: [nexus:consumer:chat, nexus:designer:chat]";
/** The YAML from step 6 on: two permissions on the tenant key, a generation on the Designer key, an age policy on the cluster key. */
const ROTATING = { tenant: TWO_PERMS, designer: "      rotation: { generation: 1 }", cluster: "      rotation: { every: 1d }" };

describe("Nexus keys through pulumi up", () => {
    let first: Record<string, string>;
    let calls = 0;

    lifecycle({
        stack: () => s,
        afterApply: async () => void states.push(await s.exportState()),
        steps: [
            {
                name: "step 1 create: a tenant, a cluster and a Designer key exist in Nexus and work",
                yaml: keys({}),
                changes: { create: 4 }, // three keys and the stack
                check: async () => {
                    // One token per credential: the tenant user's (tenant and Designer keys) and the ops admin's.
                    expect(t.sandbox.stats.tokensIssued).toBe(2);
                    first = await s.apiKeys();
                    const vendor = await remote();
                    expect(vendor.size).toBe(3);
                    expect(vendor.get(first[T])).toMatchObject({ tenant: CC, name: "web chat", permissions: ["nexus:consumer:chat"], enabled: true });
                    expect(vendor.get(first[C])).toMatchObject({ tenant: "*", name: "monitoring", permissions: ["nexus:cluster:*"], createdby: "ops" });
                    expect(vendor.get(first[D])).toMatchObject({ tenant: CC, name: "designer", permissions: ["nexus:designer:chat"] });
                    for (const key of Object.values(first)) expect(await useKey(t.url, key)).toBe(200);
                    // The provider in state is a require() by package name: small, and free of this checkout's path.
                    const resources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type.startsWith("pulumi-nodejs:dynamic/nexus:"));
                    expect(resources).toHaveLength(3);
                    for (const r of resources) {
                        expect(r.inputs.__provider).toContain('require("@keyfleet/provider-shim/index.js")');
                        expect(r.inputs.__provider.length).toBeLessThan(500);
                        expect(r.inputs.__provider).not.toContain(ROOT);
                        expect(r.id).toMatch(/^nxk_[0-9a-f]{16}$/);
                    }
                },
            },
            noOpStep("step 2 no-op: a second up and preview change nothing and call no vendor", { same: 4 }, () => t.sandbox.stats.total),
            {
                name: "step 3 update: disabling a key updates it in place, and Nexus refuses it",
                yaml: keys({ tenant: "      permissions: [nexus:consumer:chat]\n      enabled: false" }),
                changes: { update: 1, same: 3 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(now[T]).toBe(first[T]);
                    expect((await remote()).get(first[T])!.enabled).toBe(false);
                    expect(await useKey(t.url, first[T])).toBe(403);
                },
            },
            {
                name: "step 4 replace: a permission change makes a new key and deletes the old one",
                yaml: keys({ tenant: TWO_PERMS }),
                changes: { replace: 1, same: 3 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(now[T]).not.toBe(first[T]);
                    const vendor = await remote();
                    expect(vendor.has(first[T])).toBe(false);
                    expect(vendor.get(now[T])).toMatchObject({ name: "web chat", permissions: ["nexus:consumer:chat", "nexus:designer:chat"], enabled: true });
                    expect(await useKey(t.url, first[T])).toBe(401);
                    expect(await useKey(t.url, now[T])).toBe(200);
                    first = now;
                },
            },
            {
                name: "step 5 rotate by generation: bumping it replaces the key, the old one stops working",
                yaml: keys({ tenant: TWO_PERMS, designer: ROTATING.designer }),
                // The pull-request preview says why (defect 11).
                plan: { diff: true, printed: /nexus\/designer\/designer[\s\S]*rotationDue\s*: "rotation due: rotation generation 0 → 1"/ },
                changes: { replace: 1, same: 3 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(now[D]).not.toBe(first[D]);
                    expect((await remote()).get(now[D])!.name).toBe("designer");
                    expect(await useKey(t.url, first[D])).toBe(401);
                    expect(await useKey(t.url, now[D])).toBe(200);
                    first = now;
                },
            },
            {
                name: "step 6 rotate by age: a policy on a young key rewrites state and calls no create",
                before: async () => void (calls = t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"]),
                yaml: keys(ROTATING),
                changes: { update: 1, same: 3 },
                check: async () => expect(t.sandbox.stats.byRoute["POST /nexus/v3/apikeys"]).toBe(calls),
            },
            {
                name: "step 6 rotate by age: two days later the key, older than `every`, is replaced with no input change",
                // Two days pass, for the run and for Nexus (which stamps `created`), and stay passed: with
                // only the run's clock moved, the new key would look two days old at once and the next
                // plan would rotate it again. The preview says why the key rotates and up rotates it.
                before: async () => {
                    t.sandbox.clockOffsetMs = 2 * 86_400_000;
                    s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(2 * 86_400_000);
                },
                plan: { diff: true, printed: /nexus\/cluster\/monitoring[\s\S]*rotationDue\s*: "rotation due: older than 1d"/ },
                changes: { replace: 1, same: 3 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(now[C]).not.toBe(first[C]);
                    expect(await useKey(t.url, first[C])).toBe(401);
                    expect(await useKey(t.url, now[C])).toBe(200);
                    first = now;
                },
            },
            {
                name: "step 7 drift: refresh finds keys deleted, disabled and revoked out of band; up converges",
                before: async () => {
                    await t.client.delete(t.tenantLogin, first[T]);
                    await t.client.update(t.opsLogin, first[C], { enabled: false });
                    await t.client.update(t.tenantLogin, first[D], { revoked: true });
                    const preview = await s.stack.preview({ ...captured(s), refresh: true });
                    // Deleted: created again. Disabled: enabled in place. Revoked: Nexus cannot reinstate it, so replaced.
                    expect(preview.changeSummary).toMatchObject({ create: 1, update: 1, replace: 1 });
                    await s.stack.refresh(captured(s));
                    const urns = await s.resources();
                    expect(urns.some((u) => u.endsWith("::nexus/tenant/web chat"))).toBe(false);
                    expect(urns.some((u) => u.endsWith("::nexus/cluster/monitoring"))).toBe(true);
                },
                changes: { create: 1, update: 1, replace: 1 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(now[T]).not.toBe(first[T]);
                    expect(now[C]).toBe(first[C]);
                    expect(now[D]).not.toBe(first[D]);
                    const vendor = await remote();
                    expect(vendor.get(now[T])).toMatchObject({ name: "web chat", enabled: true });
                    expect(vendor.get(first[C])!.enabled).toBe(true);
                    expect(vendor.has(first[D])).toBe(false);
                    expect(vendor.get(now[D])).toMatchObject({ name: "designer", revoked: false });
                    for (const key of Object.values(now)) expect(await useKey(t.url, key)).toBe(200);
                    first = now;
                },
            },
            {
                name: "step 8 adopt: an existing key is taken over, not duplicated",
                before: async () => {
                    const legacy = await t.client.create(t.tenantLogin, { tenant: CC, name: "legacy", permissions: ["nexus:consumer:chat"], enabled: true });
                    adopted = { id: legacy.id, before: (await remote()).size };
                },
                yaml: keys({ ...ROTATING, extra: "    - name: legacy\n      adopt: true" }),
                changes: { create: 1, same: 4 },
                check: async () => {
                    expect((await remote()).size).toBe(adopted.before);
                    expect((await s.apiKeys())["nexus/tenant/legacy"]).toBe(adopted.id);
                    first = await s.apiKeys();
                },
            },
            {
                name: "step 9 remove: deleting an entry from the YAML deletes the key",
                yaml: keys(ROTATING),
                changes: { delete: 1, same: 4 },
                check: async () => {
                    expect((await remote()).has(first["nexus/tenant/legacy"])).toBe(false);
                    expect(await useKey(t.url, first["nexus/tenant/legacy"])).toBe(401);
                },
            },
            {
                name: "step 10 move: a key moved from designerKeys to tenantKeys is replaced, not duplicated",
                before: async () => void (first = await s.apiKeys()),
                yaml: yaml(`nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
${TWO_PERMS}
    - name: designer
      permissions: [nexus:designer:chat]
      rotation: { generation: 1 }
  clusterKeys:
    - name: monitoring
      rotation: { every: 1d }
`),
                changes: { replace: 1, same: 3 },
                check: async () => {
                    const now = await s.apiKeys();
                    expect(Object.keys(now).sort()).toEqual(["nexus/cluster/monitoring", "nexus/tenant/designer", "nexus/tenant/web chat"]);
                    const named = [...(await remote()).values()].filter((k) => k.name === "designer");
                    expect(named.map((k) => k.id)).toEqual([now["nexus/tenant/designer"]]);
                    expect(await useKey(t.url, first[D])).toBe(401);
                    first = now;
                },
            },
        ],
        destroy: {
            name: "step 11 destroy: Nexus has no key left",
            // Both logins' lists: a tenant key the ops admin could not see would still be found.
            // By name: a Nexus key's id is its value.
            remaining: async () => [...(await t.client.list(t.opsLogin)), ...(await t.client.list(t.tenantLogin))].map((k) => `${k.tenant}/${k.name}`),
            check: async () => {
                for (const key of Object.values(first)) expect(await useKey(t.url, key)).toBe(401);
            },
        },
    });

    it("no key value or credential appears in state, its history and backups, CLI output (preview --diff too), Pulumi's logs or stack config", async () => {
        const backend = backendFiles(path.join(s.dir, "state"));
        // The backend keeps every checkpoint it replaced (history, .bak): scanned as well.
        expect(backend.length).toBeGreaterThan(5);
        expect(s.output.join("\n")).toMatch(/rotationDue/); // the preview --diff output of steps 5 and 6 is in the scan
        const haystack = [...states, ...backend, ...s.output, fs.readFileSync(`${s.dir}/Pulumi.e2e.yaml`, "utf8"), ...pulumiLogs()].join("\n");
        const secrets = t.secrets();
        expect(secrets.length).toBeGreaterThan(10);
        expect(secrets.filter((secret) => haystack.includes(secret))).toEqual([]);
        // The scan is not vacuous: every key resource holds its key, encrypted, and the CLI wrote logs.
        const keyResources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type.startsWith("pulumi-nodejs:dynamic/nexus:"));
        expect(keyResources).toHaveLength(3);
        for (const r of keyResources) expect(r.outputs.apiKey.ciphertext).toMatch(/^v1:/);
        expect(pulumiLogs().length).toBeGreaterThan(0);
    });
});

