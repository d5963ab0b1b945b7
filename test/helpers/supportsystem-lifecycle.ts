// The SupportSystem acceptance suite, once for each transport (issue 15): keys through the real
// Pulumi engine against a real MariaDB database of the test's own (dropped after) and the help
// desk's API (the sandbox reading the same table). Each labelled step changes the YAML as a user
// would, runs the engine, and then looks at the table and sends requests from the loopback
// addresses the keys are bound to; the step runner (step-runner.ts) then asks for a refreshed plan,
// which must be empty. test/supportsystem-lifecycle.e2e.test.ts runs it over the
// database, test/supportsystem-lifecycle-admin.e2e.test.ts over the admin panel: two files, so the
// two run in parallel.
import fs from "node:fs";
import path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUPPORTSYSTEM_MESSAGES as MSG } from "../../sandbox/supportsystem.ts";
import { sanitizeNotes } from "../../sandbox/supportsystem-admin.ts";
import { insertApiKey } from "./mysql.ts";
import { startHelpDesk, type HelpDesk } from "./supportsystem.ts";
import { backendFiles, captured, createTestStack, type TestStack } from "./stack.ts";
import { lifecycle } from "./step-runner.ts";

const W = "supportsystem/web form";
const C = "supportsystem/cron/127.0.0.2";
const V6 = "supportsystem/cron/2001:db8::5";

const keys = (web: string, extra = "", cron = "") => `supportsystem:
  apiKeys:
    - name: web form
${web}
      note: Contact form on the public site
    - name: cron
      ips: [127.0.0.2, "2001:DB8:0::5"]
      canCreateTickets: false
${cron}${extra}`;
const WEB = "      ip: 127.0.0.1";

/** Declares the whole suite for one transport: the same steps, the same checks. */
export function supportSystemLifecycle(transport: "database" | "admin"): void {
    let h: HelpDesk;
    let s: TestStack;
    const states: string[] = [];
    const seen = new Set<string>();

    const ticket = (key: string, from: string) => h.post("/api/tickets.json", key, from);
    const cron = (key: string, from: string) => h.post("/api/tasks/cron", key, from, "");
    const byId = async () => new Map((await h.rows()).map((r) => [r.id, r]));

    /** Notes as the table holds them: the admin panel stores them through its sanitizer (which compacts the marker's line break). */
    const stored = (notes: string) => (transport === "admin" ? sanitizeNotes(notes) : notes);

    beforeAll(async () => {
        h = await startHelpDesk({ transport });
        s = await createTestStack(h, keys(WEB));
    });
    afterAll(async () => {
        await s?.cleanup();
        await h?.close();
    });

    describe(`SupportSystem keys through pulumi up (${transport} transport)`, () => {
        let first: Record<string, string>;
        let ids: Record<string, number>;
        /** The YAML of the keys adopted in step 8. */
        let adopted = "";
        /** Counts and rows a step takes before its up, to compare after. */
        let before = 0;
        let table: Awaited<ReturnType<typeof h.rows>> = [];
        let panel = 0;
        let markedRow = 0;
        const panelKey = "BA00B76BAA30F62E1940B46CC1C3C73C";
        const markedKey = "0123456789ABCDEF0123456789ABCDEF";
        const WEB3 = "      ip: 127.0.0.3\n      rotation: { generation: 1 }";

        async function outputs() {
            const outs = (await s.stack.outputs()).keys.value as Record<string, { id: string; keyId: number }>;
            return Object.fromEntries(Object.entries(outs).map(([name, k]) => [name, Number(k.id)]));
        }

        /** The web form key was replaced new row first: a new value, a later row id. */
        async function webReplaced(events: EngineEvent[]) {
            expect(replacementOrder(events, W)).toEqual(["create-replacement started", "create-replacement done", "delete-replaced started", "delete-replaced done"]);
            const now = await s.apiKeys();
            const nowIds = await outputs();
            expect(now[W]).not.toBe(first[W]);
            expect(nowIds[W]).toBeGreaterThan(ids[W]);
            return { now, nowIds };
        }

        /** The rows keyfleet's marker `name` is on, by address. */
        const marked = async (name: string) => (await h.rows()).filter((r) => r.notes?.endsWith(`[keyfleet:${name}]`)).map((r) => [r.ipaddr, r.id]);

        lifecycle({
            stack: () => s,
            afterApply: async () => {
                states.push(await s.exportState());
                for (const v of Object.values(await s.apiKeys().catch(() => ({})))) seen.add(v);
            },
            steps: [
                {
                    name: "step 1 create: keys for 127.0.0.1, 127.0.0.2 and an IPv6 address are rows of the help desk's table",
                    yaml: keys(WEB),
                    changes: { create: 4 },
                    check: async () => {
                        first = await s.apiKeys();
                        ids = await outputs();
                        const rows = await byId();
                        expect(rows.size).toBe(3);
                        expect(rows.get(ids[W])).toMatchObject({ ipaddr: "127.0.0.1", isactive: 1, can_create_tickets: 1, can_exec_cron: 1, apikey: first[W], notes: stored("Contact form on the public site\n[keyfleet:web form]") });
                        expect(rows.get(ids[C])).toMatchObject({ ipaddr: "127.0.0.2", can_create_tickets: 0, can_exec_cron: 1, apikey: first[C], notes: "[keyfleet:cron]" });
                        // Written as the help desk sees a client's address (RFC 5952), so that its string comparison matches.
                        expect(rows.get(ids[V6])).toMatchObject({ ipaddr: "2001:db8::5", apikey: first[V6] });
                        for (const key of Object.values(first)) expect(key).toMatch(/^[0-9A-F]{32}$/);
                        // The resource id is the row id, in plain text; the key is not.
                        const resources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/supportsystem:ApiKey");
                        expect(resources.map((r: { id: string }) => Number(r.id)).sort()).toEqual(Object.values(ids).sort());
                        for (const r of resources) expect(r.outputs.apiKey.ciphertext).toMatch(/^v1:/);
                    },
                },
                {
                    name: "step 2 no-op: an up and a preview with refresh change nothing",
                    exactChanges: { same: 4 },
                },
                {
                    name: "step 3 each key is accepted only from its own address",
                    exactChanges: { same: 4 },
                    check: async () => {
                        expect(await ticket(first[W], "127.0.0.1")).toMatchObject({ status: 201 });
                        expect(await ticket(first[W], "127.0.0.2")).toEqual({ status: 401, text: MSG.keyRequired });
                        expect(await cron(first[C], "127.0.0.2")).toEqual({ status: 200, text: MSG.cronCompleted });
                        expect(await cron(first[C], "127.0.0.1")).toEqual({ status: 401, text: MSG.keyRequired });
                        // The cron key has no ticket right.
                        expect(await ticket(first[C], "127.0.0.2")).toEqual({ status: 401, text: MSG.notAuthorized });
                    },
                },
                {
                    name: "step 4 removing the ticket right updates the row in place: tickets are refused, cron still works",
                    before: async () => void (await h.db.query(`UPDATE \`${h.db.table}\` SET updated = '2001-01-01 00:00:00' WHERE id = ?`, [ids[W]])),
                    yaml: keys(`${WEB}\n      canCreateTickets: false`),
                    changes: { update: 1, same: 3 },
                    check: async () => {
                        expect(await outputs()).toEqual(ids);
                        expect((await s.apiKeys())[W]).toBe(first[W]);
                        const row = (await byId()).get(ids[W])!;
                        expect(row).toMatchObject({ can_create_tickets: 0, can_exec_cron: 1 });
                        expect(new Date(row.updated).getFullYear()).toBeGreaterThan(2020); // `updated` is maintained
                        expect(await ticket(first[W], "127.0.0.1")).toEqual({ status: 401, text: MSG.notAuthorized });
                        expect(await cron(first[W], "127.0.0.1")).toEqual({ status: 200, text: MSG.cronCompleted });
                    },
                },
                {
                    name: "step 5 disabling the key: refused",
                    yaml: keys(`${WEB}\n      canCreateTickets: false\n      active: false`),
                    changes: { update: 1, same: 3 },
                    check: async () => {
                        expect((await byId()).get(ids[W])!.isactive).toBe(0);
                        expect(await cron(first[W], "127.0.0.1")).toEqual({ status: 401, text: MSG.keyNotActive });
                    },
                },
                {
                    name: "step 6 changing the IP replaces the key: a new row first, the old one deleted, its value refused",
                    yaml: keys("      ip: 127.0.0.3"),
                    changes: { replace: 1, same: 3 },
                    check: async ({ events }) => {
                        const { now, nowIds } = await webReplaced(events);
                        const rows = await byId();
                        expect(rows.has(ids[W])).toBe(false);
                        expect(rows.get(nowIds[W])).toMatchObject({ ipaddr: "127.0.0.3", isactive: 1, can_create_tickets: 1, notes: stored("Contact form on the public site\n[keyfleet:web form]") });
                        expect(await ticket(now[W], "127.0.0.3")).toMatchObject({ status: 201 });
                        expect(await ticket(first[W], "127.0.0.1")).toEqual({ status: 401, text: MSG.keyRequired });
                        expect(await ticket(first[W], "127.0.0.3")).toEqual({ status: 401, text: MSG.keyRequired });
                        first = now;
                        ids = nowIds;
                    },
                },
                {
                    name: "step 7 drift: an edit and a delete in the table are found by refresh; up converges",
                    before: async () => {
                        await h.db.query(`UPDATE \`${h.db.table}\` SET isactive = 0, can_exec_cron = 0, notes = 'edited by hand' WHERE id = ?`, [ids[C]]);
                        await h.db.query(`DELETE FROM \`${h.db.table}\` WHERE id = ?`, [ids[W]]);
                        const preview = await s.stack.preview({ ...captured(s), refresh: true });
                        expect(preview.changeSummary).toMatchObject({ create: 1, update: 1 });
                        await s.stack.refresh(captured(s));
                        expect((await s.resources()).some((u) => u.endsWith(`::${W}`))).toBe(false);
                    },
                    changes: { create: 1, update: 1 },
                    check: async () => {
                        const now = await s.apiKeys();
                        const nowIds = await outputs();
                        expect(nowIds[C]).toBe(ids[C]);
                        expect(now[W]).not.toBe(first[W]);
                        const rows = await byId();
                        expect(rows.get(ids[C])).toMatchObject({ isactive: 1, can_exec_cron: 1, notes: "[keyfleet:cron]" });
                        expect(rows.get(nowIds[W])).toMatchObject({ ipaddr: "127.0.0.3", notes: stored("Contact form on the public site\n[keyfleet:web form]") });
                        expect(await cron(now[C], "127.0.0.2")).toEqual({ status: 200, text: MSG.cronCompleted });
                        expect(await ticket(now[W], "127.0.0.3")).toMatchObject({ status: 201 });
                        first = now;
                        ids = nowIds;
                    },
                },
                {
                    name: "step 8 adopt: a row made in the admin panel (by id) and one carrying the marker (true) are taken over, not duplicated",
                    before: async () => {
                        seen.add(panelKey).add(markedKey);
                        panel = await insertApiKey(h.db, { apikey: panelKey, ipaddr: "127.0.0.4", notes: "Legacy form", can_exec_cron: false });
                        markedRow = await insertApiKey(h.db, { apikey: markedKey, ipaddr: "127.0.0.5", notes: "[keyfleet:lost state]" });
                        before = (await h.rows()).length;
                        adopted = `    - name: legacy
      ip: 127.0.0.4
      note: Legacy form
      canExecCron: false
      adopt: ${panel}
    - name: lost state
      ip: 127.0.0.5
      adopt: true
`;
                    },
                    yaml: () => keys("      ip: 127.0.0.3", adopted),
                    changes: { create: 2, same: 4 },
                    check: async () => {
                        expect((await h.rows()).length).toBe(before);
                        const now = await s.apiKeys();
                        const nowIds = await outputs();
                        expect(now["supportsystem/legacy"]).toBe(panelKey);
                        expect(nowIds["supportsystem/legacy"]).toBe(panel);
                        expect(now["supportsystem/lost state"]).toBe(markedKey);
                        expect(nowIds["supportsystem/lost state"]).toBe(markedRow);
                        // The adopted row now carries the marker beside the note the admin wrote.
                        expect((await byId()).get(panel)!.notes).toBe(stored("Legacy form\n[keyfleet:legacy]"));
                        expect(await ticket(panelKey, "127.0.0.4")).toMatchObject({ status: 201 });
                        first = now;
                    },
                },
                {
                    name: "step 9 rotation by generation: one new row at the same address, the old row deleted, no duplicate",
                    before: async () => void (before = (await h.rows()).length),
                    yaml: () => keys(WEB3, adopted),
                    changes: { replace: 1, same: 5 },
                    check: async ({ events }) => {
                        const { now, nowIds } = await webReplaced(events);
                        expect((await h.rows()).length).toBe(before);
                        expect(await marked("web form")).toEqual([["127.0.0.3", nowIds[W]]]);
                        expect(await ticket(now[W], "127.0.0.3")).toMatchObject({ status: 201 });
                        expect(await ticket(first[W], "127.0.0.3")).toEqual({ status: 401, text: MSG.keyRequired });
                        first = now;
                        ids = nowIds;
                    },
                },
                {
                    name: "step 10 rotation by age: a policy on young rows rewrites state, the table is not touched",
                    before: async () => void (table = await h.rows()),
                    yaml: () => keys(WEB3, adopted, "      rotation: { every: 1d }\n"),
                    changes: { update: 2, same: 4 },
                    check: async () => expect(await h.rows()).toEqual(table),
                },
                {
                    name: "step 10 rotation by age: rows older than `every` (created backdated in the table) are replaced with no input change",
                    // Two days pass for the cron rows: the help desk's `created` says so, and up with a refresh rotates both.
                    before: async () => void (await h.db.query(`UPDATE \`${h.db.table}\` SET created = created - INTERVAL 2 DAY WHERE id IN (?, ?)`, [ids[C], ids[V6]])),
                    refresh: true,
                    changes: { replace: 2, same: 4 },
                    // Then the runner's plan: the new rows are young, nothing more rotates.
                    check: async () => {
                        const now = await s.apiKeys();
                        const nowIds = await outputs();
                        expect(now[C]).not.toBe(first[C]);
                        expect(now[V6]).not.toBe(first[V6]);
                        expect(now[W]).toBe(first[W]);
                        expect((await h.rows()).length).toBe(table.length);
                        expect((await marked("cron")).sort()).toEqual([["127.0.0.2", nowIds[C]], ["2001:db8::5", nowIds[V6]]].sort());
                        expect(await cron(now[C], "127.0.0.2")).toEqual({ status: 200, text: MSG.cronCompleted });
                        expect(await cron(first[C], "127.0.0.2")).toEqual({ status: 401, text: MSG.keyRequired });
                        first = now;
                        ids = nowIds;
                    },
                },
            ],
            destroy: {
                name: "step 11 destroy leaves no row behind",
                remaining: async () => (await h.rows()).map((r) => `row ${r.id} for ${r.ipaddr}`),
                check: async () => {
                    for (const [name, key] of Object.entries(first)) {
                        const from = name === W ? "127.0.0.3" : name === C ? "127.0.0.2" : name.endsWith("legacy") ? "127.0.0.4" : "127.0.0.5";
                        expect((await cron(key, from)).status).toBe(401);
                    }
                },
            },
        });

        it("no key value, the database password, the admin password or a session cookie appears in state, its history, CLI output or stack config", async () => {
            const backend = backendFiles(path.join(s.dir, "state"));
            expect(backend.length).toBeGreaterThan(5);
            const haystack = [...states, ...backend, ...s.output, fs.readFileSync(`${s.dir}/Pulumi.e2e.yaml`, "utf8")].join("\n");
            // Over the admin panel, its password and every session id the panel handed out too.
            const panel = h.sandbox.adminPanel;
            const secrets = [h.password, ...seen, ...h.sandbox.issued.keys, ...(transport === "admin" ? [panel.password, ...panel.sessionIds] : [])];
            if (transport === "admin") expect(panel.sessionIds.length).toBeGreaterThan(0);
            expect(seen.size).toBeGreaterThanOrEqual(10);
            expect(secrets.filter((secret) => haystack.includes(secret))).toEqual([]);
            // Not vacuous: the state holds the password, encrypted, in the stack config.
            expect(fs.readFileSync(`${s.dir}/Pulumi.e2e.yaml`, "utf8")).toMatch(/supportsystemPassword:\s+secure: v1:/);
        });
    });
}

/** The engine's steps on the resource `name` of a replacement, in the order they started and finished. */
function replacementOrder(events: EngineEvent[], name: string): string[] {
    const out: string[] = [];
    for (const e of events) {
        const pre = e.resourcePreEvent?.metadata;
        const done = e.resOutputsEvent?.metadata;
        const m = pre ?? done;
        if (!m || !m.urn.endsWith(`::${name}`) || (m.op !== "create-replacement" && m.op !== "delete-replaced")) continue;
        out.push(`${m.op} ${pre ? "started" : "done"}`);
    }
    return out;
}
