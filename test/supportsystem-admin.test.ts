// The admin-panel transport (issue 15) against the sandbox's admin panel: the client's operations,
// a lost add answer that converges with exactly one key, an expired session that logs in once, and
// a locked account that fails without retrying.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCalls, forgetSessions, SupportSystemAdminClient } from "../providers/supportsystem/admin.ts";
import { composeNotes } from "../providers/supportsystem/lifecycle.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

let h: HelpDesk;
let client: SupportSystemAdminClient;
const panel = () => h.sandbox.adminPanel;

beforeAll(async () => {
    h = await startHelpDesk();
    client = new SupportSystemAdminClient({ url: h.url, user: panel().user, password: panel().password, paceMs: 0 });
});
afterAll(async () => {
    forgetSessions();
    await h?.close();
});

const row = (ip: string, name: string) => ({ apikey: "", ipaddr: ip, isactive: true, canCreateTickets: true, canExecCron: false, notes: composeNotes(name, "A <b>note</b>") });

describe("SupportSystem admin-panel transport", () => {
    it("adds, reads, updates and deletes a key the API accepts", async () => {
        const made = await client.insert(row("127.0.0.1", "web form"));
        expect(made).toMatchObject({ ipaddr: "127.0.0.1", isactive: true, canCreateTickets: true, canExecCron: false, notes: "A note\n[keyfleet:web form]" });
        expect(made.apikey).toMatch(/^[0-9A-F]{32}$/);
        expect(await h.post("/api/tickets.json", made.apikey, "127.0.0.1")).toMatchObject({ status: 201 });
        const updated = await client.update(made.id, { isactive: false });
        expect(updated.isactive).toBe(false);
        expect((await h.post("/api/tickets.json", made.apikey, "127.0.0.1")).status).toBe(401);
        expect(await client.delete(made.id)).toBe(true);
        expect(await client.delete(made.id)).toBe(false);
        expect(await h.rows()).toEqual([]);
        expect(panel().logins).toBe(1);
    });

    it("a lost add answer converges with exactly one key", async () => {
        panel().faults.lostAdd = 1;
        const made = await client.insert(row("127.0.0.2", "lost"));
        const rows = await h.rows();
        expect(rows.filter((r) => r.notes?.includes("[keyfleet:lost]"))).toHaveLength(1);
        expect(rows[0].id).toBe(made.id);
        await client.delete(made.id);
    });

    it("an expired session mid-run logs in again once", async () => {
        const before = panel().logins;
        panel().expireSessions();
        const made = await client.insert(row("127.0.0.3", "expired"));
        expect(panel().logins).toBe(before + 1);
        await client.delete(made.id);
    });

    it("a locked account fails with a clear message, one login attempt", async () => {
        forgetSessions();
        panel().faults.locked = true;
        const logins = adminCalls.login;
        await expect(client.list()).rejects.toThrow(/locked out/);
        expect(adminCalls.login).toBe(logins + 1);
        panel().faults.locked = false;
    });
});
