// Rotation with an overlap window, verification, pause and offset, through the real Pulumi engine,
// for the three vendors that can delete a key and probe one: Nexus and SupportCenter Plus (unique
// names, vendor-side expiry) and SupportSystem (rows without expiry, a probe that must create no
// ticket). One stack holds them all, so that each step is one `up` for every vendor. Time moves with
// KEYFLEET_CLOCK_OFFSET_MS (program and provider) and the sandboxes' own clocks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const N = "nexus/tenant/web chat";
const P = "nexus/tenant/paused";
const A = "nexus/tenant/slot a";
const B = "nexus/tenant/slot b";
const S = "supportcenter/jira sync";
const H = "supportsystem/web form";
const TWO_SLOTS = [N, S, H];

// The help desk's rows carry the database server's NOW(), which KEYFLEET_CLOCK_OFFSET_MS does not
// move: its key would be "older than every" at every step, so it rotates by generation instead.
const yaml = (generation = 0, desk = 0) => `defaults:
  rotation: { every: 10d, overlap: 2d, verify: true, generation: ${generation} }
nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
    - name: paused
      rotation: { paused: true, overlap: 0, verify: false }
    - name: slot a
      rotation: { overlap: 0, verify: false, offset: 0d, generation: 0 }
    - name: slot b
      rotation: { overlap: 0, verify: false, offset: 5d, generation: 0 }
supportcenter:
  integrationKeys:
    - name: jira sync
      roles: [SDAdmin]
      owner: admin
supportsystem:
  apiKeys:
    - name: web form
      ip: 127.0.0.1
      canExecCron: false
      rotation: { every: 100w, generation: ${desk} }
`;

type Out = { apiKey: string; currentId: string; created: string; previousValue: string | null; previousRetireAt: string | null; nextRotation: string | null; name?: string };

let g: TestSandbox;
let scp: ScpTestSandbox;
let h: HelpDesk;
let s: TestStack;
let clockMs = 0;
const seen = new Set<string>();
const states: string[] = [];

/** Moves every clock to `ms` after the test began: the run's and the sandboxes' (SupportSystem keys have none). */
function at(ms: number) {
    g.sandbox.clockOffsetMs = ms;
    scp.sandbox.advance(ms - clockMs);
    clockMs = ms;
    s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(ms);
}

async function outs(): Promise<Record<string, Out>> {
    const keys = (await s.stack.outputs()).keys.value as Record<string, Out>;
    for (const k of Object.values(keys)) for (const v of [k.apiKey, k.previousValue]) if (v) seen.add(v);
    return keys;
}

async function up(continueOnError = false) {
    const result = await s.stack.up({ ...captured(s), continueOnError });
    states.push(await s.exportState());
    return result.summary.resourceChanges ?? {};
}

const nexusKeys = async () => g.client.list(g.tenantLogin);
const scpKeys = async () => scp.client.listKeys(scp.as("admin"));
/** The help desk's answer to a key: 400 "No errors" means it passed the key checks (and made nothing). */
const desk = async (key: string) => (await h.post("/api/tickets.json", key, "127.0.0.1", "{}")).status;

beforeAll(async () => {
    [g, scp, h] = await Promise.all([startSandbox(), startScp(), startHelpDesk()]);
    // The help desk's web address, for the probe (a real deployment sets keyfleet:supportsystem.apiUrl).
    const desk = {
        config: () => {
            const c = h.config();
            const settings = JSON.parse(String(c["keyfleet:supportsystem"].value));
            return { ...c, "keyfleet:supportsystem": { value: JSON.stringify({ ...settings, apiUrl: h.url }) } };
        },
    };
    s = await createTestStack([g, scp, desk], yaml());
}, 60_000);
afterAll(async () => {
    if (process.env.KEYFLEET_TEST_DUMP) (await import("node:fs")).writeFileSync(process.env.KEYFLEET_TEST_DUMP, s?.output.join("") ?? "");
    await s?.cleanup();
    await Promise.all([g?.close(), scp?.close(), h?.close()]);
});

describe("rotation with overlap, verification, pause and offset", () => {
    let first: Record<string, Out>;
    let rotatedAt: number;

    it("step 1 create: every key is probed before it is promoted, and the probes create nothing", async () => {
        expect(await up()).toMatchObject({ create: 7 });
        first = await outs();
        // verify: one whoami for the one Nexus key that verifies; none for the others.
        expect(g.sandbox.stats.byRoute["GET /nexus/v3/whoami"]).toBe(1);
        // SupportSystem's probe passed the key checks and was refused as an empty ticket: no ticket.
        expect(h.sandbox.tickets).toHaveLength(0);
        expect(await desk(first[H].apiKey)).toBe(400);
        for (const k of TWO_SLOTS) expect(first[k]).toMatchObject({ previousValue: null, previousRetireAt: null });
        // Offsets put the two slot keys' first rotations 5 days apart (mod 10 days); a paused key has none.
        const gap = Math.abs(Date.parse(first[A].nextRotation!) - Date.parse(first[B].nextRotation!)) % (10 * DAY);
        expect([5 * DAY]).toContain(gap);
        expect(first[P].nextRotation).toBeNull();
        expect(Date.parse(first[N].nextRotation!) - Date.parse(first[N].created)).toBe(10 * DAY);
    });

    it("step 2 offset: a preview between the two slots rotates only the key whose slot passed, and says why", async () => {
        const [early, late] = [A, B].sort((x, y) => Date.parse(first[x].nextRotation!) - Date.parse(first[y].nextRotation!));
        at(Date.parse(first[early].nextRotation!) - Date.now() + HOUR);
        const mark = s.output.length;
        const preview = await s.stack.preview(captured(s));
        const text = s.output.slice(mark).join("");
        expect(text).toContain(`${early}: rotation due: due on its 10d schedule (offset`);
        expect(text).not.toContain(`${late}: rotation due`);
        expect(text).not.toContain(`${P}: rotation due`);
        expect(preview.changeSummary).toMatchObject({ replace: 1 });
    });

    it("step 3 rotate with overlap: new keys current, old keys kept, still accepted, expiring at retireAt, renamed aside", async () => {
        rotatedAt = 10 * DAY + 2 * HOUR;
        at(rotatedAt);
        s.writeKeys(yaml(0, 1));
        const mark = s.output.length;
        const changes = await up();
        const text = s.output.slice(mark).join("");
        for (const k of [N, S]) expect(text).toContain(`${k}: rotation due: older than 10d; the old key stays valid for 2d after the rotation`);
        expect(text).toContain(`${H}: rotation due: rotation generation 0 → 1; the old key stays valid for 2d after the rotation`);
        expect(text).not.toContain(`${P}: rotation due`);
        // Two slots are in-place updates; the keys without overlap are replaced; the paused one stays.
        expect(changes).toMatchObject({ update: 3, replace: 2 });
        const now = await outs();
        for (const k of TWO_SLOTS) {
            expect(now[k].apiKey).not.toBe(first[k].apiKey);
            expect(now[k].previousValue).toBe(first[k].apiKey);
            expect(Date.parse(now[k].previousRetireAt!)).toBeGreaterThan(Date.now() + rotatedAt + 2 * DAY - 10 * 60_000);
        }
        expect(now[P].apiKey).toBe(first[P].apiKey);
        // Both keys work at each vendor during the overlap.
        expect(await useKey(g.url, now[N].apiKey)).toBe(200);
        expect(await useKey(g.url, first[N].apiKey)).toBe(200);
        expect(await useScpKey(scp.url, now[S].apiKey)).toBe(200);
        expect(await useScpKey(scp.url, first[S].apiKey)).toBe(200);
        expect(await desk(now[H].apiKey)).toBe(400);
        expect(await desk(first[H].apiKey)).toBe(400);
        expect(h.sandbox.tickets).toHaveLength(0);
        // Vendor side: the old Nexus key carries the aside name and an expiry at retireAt; the new one the name.
        const nexus = await nexusKeys();
        const oldNexus = nexus.find((k) => k.id === first[N].apiKey)!;
        expect(oldNexus.name).toMatch(/^web chat \(replaced /);
        expect(oldNexus.expires).toBe(now[N].previousRetireAt);
        expect(nexus.find((k) => k.id === now[N].apiKey)!.name).toBe("web chat");
        const scpAll = await scpKeys();
        const oldScp = scpAll.find((k) => k.id === String(first[S].currentId))!;
        expect(oldScp.name).not.toBe("jira sync");
        expect(oldScp.validity).toBe(Date.parse(now[S].previousRetireAt!));
        expect(scpAll.filter((k) => k.name === "jira sync")).toHaveLength(1);
    });

    it("step 4 vendor-side expiry: past retireAt the vendors refuse the old keys even before any up", async () => {
        at(rotatedAt + 2 * DAY + HOUR);
        const now = await outs();
        expect(await useKey(g.url, first[N].apiKey)).toBe(403);
        expect(await useScpKey(scp.url, first[S].apiKey)).toBe(401);
        // SupportSystem has no expiry: its old key lives until an up retires it.
        expect(await desk(first[H].apiKey)).toBe(400);
        expect(await useKey(g.url, now[N].apiKey)).toBe(200);
    });

    it("step 5 retire: the next up deletes the old keys with no input change, and the slots empty", async () => {
        const mark = s.output.length;
        expect(await up()).toMatchObject({ update: 3 });
        const text = s.output.slice(mark).join("");
        for (const k of TWO_SLOTS) expect(text).toContain(`${k}: previous key retires: its overlap ended at`);
        const now = await outs();
        for (const k of TWO_SLOTS) expect(now[k]).toMatchObject({ previousValue: null, previousRetireAt: null });
        // An empty slot costs no ciphertext in state (~190 bytes each): no property in the key's
        // outputs, a plain null in the stack output.
        const latest = JSON.parse(states.at(-1)!).checkpoint.latest.resources as { type: string; outputs?: Record<string, unknown> }[];
        const keyResources = latest.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/"));
        expect(keyResources.length).toBeGreaterThanOrEqual(TWO_SLOTS.length);
        for (const r of keyResources) {
            expect(r.outputs).not.toHaveProperty("previous");
            expect(r.outputs).not.toHaveProperty("previousValue");
        }
        const stackOutputs = latest.find((r) => r.type === "pulumi:pulumi:Stack")!.outputs!.keys as Record<string, Record<string, unknown>>;
        for (const k of TWO_SLOTS) expect(stackOutputs[k]!.previousValue).toBeNull();
        expect((await nexusKeys()).some((k) => k.id === first[N].apiKey)).toBe(false);
        expect((await scpKeys()).some((k) => k.id === String(first[S].currentId))).toBe(false);
        expect(await desk(first[H].apiKey)).toBe(401);
        expect(await desk(now[H].apiKey)).toBe(400);
    });

    it("step 6 verification: a failing probe deletes the new key, keeps the current one, and fails naming key, probe and answer", async () => {
        const before = await outs();
        const rows = (await h.rows()).length;
        g.sandbox.failNext("GET /nexus/v3/whoami", 503, "probe outage");
        scp.sandbox.failNext("GET /api/v3/requests", 401, "probe refused");
        h.sandbox.failNext("POST /api/tickets.{format}", 401, "Valid API key required");
        s.writeKeys(yaml(1, 2)); // a generation bump rotates at once, honouring overlap
        const mark = s.output.length;
        // continueOnError: the engine would otherwise stop scheduling after the first failed key.
        await expect(up(true)).rejects.toThrow();
        const text = s.output.slice(mark).join("");
        expect(text).toMatch(/creating Nexus tenant key "web chat" for tenant 578e… failed: verifying the new key failed: GET http:\/\/127\.0\.0\.1:\d+\/nexus\/v3\/whoami answered "503/);
        expect(text).toMatch(/creating SupportCenter Plus integration key "jira sync" failed: verifying the new key failed: GET \S+\/api\/v3\/requests answered "401/);
        expect(text).toContain('creating SupportSystem key "web form" for 127.0.0.1 failed: verifying the new key failed: POST');
        expect(text).toContain("Valid API key required");
        const after = await outs();
        for (const k of TWO_SLOTS) {
            expect(after[k].apiKey).toBe(before[k].apiKey);
            expect(after[k].previousValue).toBeNull();
        }
        // New keys gone, current keys untouched, names given back.
        const nexus = (await nexusKeys()).filter((k) => k.name.startsWith("web chat"));
        expect(nexus.map((k) => [k.id, k.name])).toEqual([[before[N].apiKey, "web chat"]]);
        expect((await scpKeys()).filter((k) => k.name.toLowerCase().startsWith("jira")).map((k) => k.name)).toEqual(["jira sync"]);
        expect((await h.rows()).length).toBe(rows);
        expect(await useKey(g.url, before[N].apiKey)).toBe(200);
        expect(await useScpKey(scp.url, before[S].apiKey)).toBe(200);
        expect(await desk(before[H].apiKey)).toBe(400);
        // Without the faults the same up rotates, honouring overlap.
        expect(await up()).toMatchObject({ update: 3 });
        const rotated = await outs();
        for (const k of TWO_SLOTS) expect(rotated[k].previousValue).toBe(before[k].apiKey);
        expect(h.sandbox.tickets).toHaveLength(0);
    });

    it("step 7 leak scan: no key value (current or previous) or credential in state or CLI output", async () => {
        const secrets = [...seen, ...g.secrets(), ...scp.secrets(), h.password];
        expect(seen.size).toBeGreaterThan(10);
        const haystacks = [...states, s.output.join("")];
        for (const secret of secrets) for (const hay of haystacks) expect(hay.includes(secret), `a secret leaked`).toBe(false);
        // The previous slot is encrypted in state like the current value.
        const state = JSON.parse(states.at(-1)!);
        const res = state.checkpoint.latest.resources.find((r: { type: string; outputs?: { name?: string } }) => r.type.endsWith("nexus:TenantKey") && r.outputs?.name === "web chat");
        expect(res.outputs.previousValue).toHaveProperty("4dabf18193072939515e22adb298388d");
        expect(res.outputs.previous).toHaveProperty("4dabf18193072939515e22adb298388d");
    });
});
