// rotation.verify for SupportSystem keys over real HTTP against the sandbox, which answers as
// osTicket 1.18 does: the probe's `{}` passes the key checks and is refused as empty (400 No errors),
// a key without the ticket right gets 401 API key not authorized, a body that reached ticket
// creation 500 Unable to create new ticket; every other answer is a refusal that says why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUPPORTSYSTEM_SETTINGS } from "../providers/supportsystem/descriptor.ts";
import { supportSystemLifecycle as lc } from "../providers/supportsystem/lifecycle.ts";
import { SUPPORTSYSTEM_MESSAGES as MSG } from "../sandbox/supportsystem.ts";
import { insertApiKey } from "./helpers/mysql.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

let h: HelpDesk;
const expectDefault = (SUPPORTSYSTEM_SETTINGS.find((s) => s.key === "supportsystem.probeExpect") as { default?: string }).default!;
const keys = { good: "A".repeat(32), cronOnly: "B".repeat(32), elsewhere: "C".repeat(32), disabled: "D".repeat(32) };

/** The lifecycle's probe as rotation.verify runs it, from 127.0.0.1 (the test's source address). */
function probe(apiKey: string, url?: string) {
    return lc.verify!.probe({ probe: { apiUrl: h.url, url, expect: expectDefault } } as never, { state: { apiKey } as never });
}

beforeAll(async () => {
    h = await startHelpDesk();
    await insertApiKey(h.db, { apikey: keys.good, ipaddr: "127.0.0.1" });
    await insertApiKey(h.db, { apikey: keys.cronOnly, ipaddr: "127.0.0.1", can_create_tickets: false });
    await insertApiKey(h.db, { apikey: keys.elsewhere, ipaddr: "127.0.0.2" });
    await insertApiKey(h.db, { apikey: keys.disabled, ipaddr: "127.0.0.1", isactive: false });
});
afterAll(async () => {
    await h?.close();
});

describe("SupportSystem verify probe against the help desk's answers", () => {
    it("accepts a working key: 400 No errors, and no ticket is made", async () => {
        expect(await probe(keys.good)).toEqual({ probe: `POST ${h.url}/api/tickets.json with an empty ticket`, accepted: true, answer: "400 No errors" });
        expect(h.sandbox.tickets).toEqual([]);
    });

    it("accepts a key without the ticket right (401 API key not authorized comes after the key checks)", async () => {
        expect(await probe(keys.cronOnly)).toMatchObject({ accepted: true, answer: `401 ${MSG.notAuthorized}` });
    });

    it("accepts 500 Unable to create new ticket, which the help desk answers only to a key it took", async () => {
        h.sandbox.failNext("POST /api/tickets.{format}", 500, "Unable to create new ticket :user\nIncomplete client information");
        expect(await probe(keys.good)).toMatchObject({ accepted: true, answer: "500 Unable to create new ticket :user Incomplete client information" });
    });

    it("refuses a key bound to another address, saying so", async () => {
        const answer = await probe(keys.elsewhere);
        expect(answer.accepted).toBe(false);
        expect(answer.answer).toMatch(new RegExp(`^401 ${MSG.keyRequired} \\(.*binds each key to one address, so run verify from the key's own ip`));
        expect(answer.answer).not.toContain(keys.elsewhere);
    });

    it("refuses a disabled key, saying so", async () => {
        expect(await probe(keys.disabled)).toMatchObject({ accepted: false, answer: expect.stringMatching(/^401 API key not found\/active or source IP not authorized \(.*disabled/) });
    });

    it("refuses 400 URL not supported (a probeUrl that is no ticket route), naming the route", async () => {
        expect(await probe(keys.good, `${h.url}/api/tickets.txt`)).toMatchObject({ accepted: false, answer: expect.stringMatching(/^400 URL not supported \(.*\/api\/tickets\.json/) });
    });

    it("refuses another 500 as the help desk failing", async () => {
        h.sandbox.failNext("POST /api/tickets.{format}", 500, "Internal error");
        expect(await probe(keys.good)).toMatchObject({ accepted: false, answer: expect.stringMatching(/^500 Internal error \(the help desk failed/) });
    });
});
