// The SupportSystem provider against a real MariaDB database of the test's own: one query for a
// refresh of every key, a connection lost after COMMIT recovered (never inserted again), a COMMIT
// that lands 5/30/300 ms after its connection was lost leaving one row, a lost create matched
// against the database server's clock, a connection lost before COMMIT repeated safely, a key collision drawn again, and the
// server's errors as the core's kinds with clear words.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setClock } from "../providers/shared/clock.ts";
import { closeAll, statements } from "../providers/supportsystem/client.ts";
import { composeNotes, keySource, parseNotes, provider } from "../providers/supportsystem/lifecycle.ts";
import { insertApiKey } from "./helpers/mysql.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

let h: HelpDesk;

function configure(overrides: Record<string, unknown> = {}, password?: string) {
    const base = JSON.parse(h.settings["keyfleet:supportsystem"]);
    const config: Record<string, string> = {
        "keyfleet:supportsystem": JSON.stringify({ ...base, ...overrides }),
        "keyfleet:supportsystemPassword": password ?? h.password,
    };
    return provider.configure({ config: { get: (k: string) => config[k] } });
}

async function inputs(name: string, ip: string, extra: Record<string, unknown> = {}) {
    const checked = await provider.check!({} as never, { vendor: "supportsystem", name, ip, active: true, canCreateTickets: true, canExecCron: false, internalNote: "from a test", ...extra } as never);
    expect(checked.failures ?? []).toEqual([]);
    return checked.inputs!;
}

/**
 * A TCP proxy to the database that cuts the connection when armed: after forwarding COMMIT, instead
 * of forwarding an INSERT, or at COMMIT while forwarding the COMMIT itself `delayMs` later (a COMMIT
 * that lands after keyfleet lost the connection). `refuse` new connections are closed at once
 * (`refuseAfterCut` of them once the connection was cut). `connections` counts the ones opened.
 */
async function proxy() {
    const state = { cut: undefined as undefined | "afterCommit" | "beforeInsert" | "lateCommit", delayMs: 0, cuts: 0, refuse: 0, refuseAfterCut: 0, connections: 0 };
    const server = net.createServer((client) => {
        state.connections++;
        if (state.refuse > 0) {
            state.refuse--;
            client.destroy();
            return;
        }
        const upstream = net.connect(h.db.config.port, h.db.config.host);
        upstream.pipe(client);
        client.on("data", (chunk: Buffer) => {
            const command = chunk.length > 4 ? chunk[4] : -1;
            const text = chunk.subarray(5).toString("latin1");
            if (state.cut === "beforeInsert" && (command === 0x16 || command === 0x03) && /^\s*INSERT/i.test(text)) {
                state.cut = undefined;
                state.cuts++;
                client.destroy();
                upstream.destroy();
                return;
            }
            if (state.cut === "lateCommit" && command === 0x03 && text === "COMMIT") {
                state.cut = undefined;
                state.cuts++;
                // keyfleet loses the connection now; the server gets COMMIT only later, if the session is still there.
                upstream.unpipe(client);
                client.destroy();
                setTimeout(() => {
                    if (!upstream.destroyed) upstream.write(chunk);
                    setTimeout(() => upstream.destroy(), 500);
                }, state.delayMs);
                return;
            }
            upstream.write(chunk);
            if (state.cut === "afterCommit" && command === 0x03 && text === "COMMIT") {
                state.cut = undefined;
                state.cuts++;
                // The server gets COMMIT and commits; its answer never reaches keyfleet.
                upstream.unpipe(client);
                state.refuse = state.refuseAfterCut;
                setTimeout(() => {
                    client.destroy();
                    upstream.destroy();
                }, 200);
            }
        });
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { state, port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

beforeAll(async () => {
    h = await startHelpDesk();
    await configure();
});
afterAll(async () => {
    await closeAll();
    await h?.close();
});

describe("SupportSystem provider on a real database", () => {
    it("refreshes every key of the process with one SELECT", async () => {
        await closeAll();
        const made = [];
        for (const ip of ["127.0.0.1", "127.0.0.2", "127.0.0.3"]) made.push(await provider.create(await inputs(`refresh ${ip}`, ip)));
        // A write forgets the shared answer; what follows is one walk of the table for all reads.
        const before = statements.select;
        const reads = await Promise.all(made.map((m) => provider.read!(m.id, m.outs!)));
        expect(statements.select - before).toBe(1);
        expect(reads.map((r) => r.id)).toEqual(made.map((m) => m.id));
        for (const m of made) await provider.delete!(m.id, m.outs!);
        expect(await h.rows()).toEqual([]);
    });

    it("recovers a connection lost after COMMIT by the marker, never inserting again", async () => {
        const p = await proxy();
        try {
            await configure({ port: p.port });
            p.state.cut = "afterCommit";
            const before = statements.insert;
            const made = await provider.create(await inputs("lost after commit", "127.0.0.5"));
            expect(p.state.cuts).toBe(1);
            expect(statements.insert - before).toBe(1);
            const rows = await h.rows();
            expect(rows).toHaveLength(1);
            expect(made.id).toBe(String(rows[0].id));
            expect(made.outs!.apiKey).toBe(rows[0].apikey);
            expect(rows[0].notes).toBe("from a test\n[keyfleet:lost after commit]");
            await provider.delete!(made.id, made.outs!);
        } finally {
            await closeAll();
            await configure();
            await p.close();
        }
    });

    for (const delayMs of [5, 30, 300]) {
        it(`a COMMIT that reaches the server ${delayMs} ms after the connection was lost leaves one row, the one in state`, async () => {
            const p = await proxy();
            try {
                await configure({ port: p.port });
                p.state.cut = "lateCommit";
                p.state.delayMs = delayMs;
                const made = await provider.create(await inputs(`late ${delayMs}`, "127.0.0.5"));
                expect(p.state.cuts).toBe(1);
                // Long enough for any late COMMIT to have landed.
                await new Promise((r) => setTimeout(r, delayMs + 700));
                const rows = await h.rows();
                expect(rows.map((r) => r.id)).toEqual([Number(made.id)]);
                expect(made.outs!.apiKey).toBe(rows[0].apikey);
                expect(rows[0].notes).toBe(`from a test\n[keyfleet:late ${delayMs}]`);
                await provider.delete!(made.id, made.outs!);
            } finally {
                await closeAll();
                await configure();
                await p.close();
            }
        });
    }

    it("matches a lost create against the database server's clock, not keyfleet's (keyfleet 10 minutes ahead)", async () => {
        const p = await proxy();
        const restore = setClock(() => Date.now() + 10 * 60_000);
        try {
            await configure({ port: p.port });
            // The COMMIT lands but its answer is lost, and the session cannot be asked about at once:
            // the core's recovery looks the key up by its marker and creation time.
            p.state.cut = "afterCommit";
            p.state.refuseAfterCut = 3;
            const before = statements.insert;
            const made = await provider.create(await inputs("skewed clock", "127.0.0.5"));
            expect(p.state.cuts).toBe(1);
            expect(statements.insert - before).toBe(1);
            const rows = await h.rows();
            expect(rows.map((r) => r.id)).toEqual([Number(made.id)]);
            expect(made.outs!.apiKey).toBe(rows[0].apikey);
            await provider.delete!(made.id, made.outs!);
        } finally {
            restore();
            await closeAll();
            await configure();
            await p.close();
        }
    });

    it("an overlap rotation whose new row is committed but unanswered, and cannot be looked up, keeps the current row; the next up moves it into the previous slot and deletes it after the overlap (issue 17, defect 1)", async () => {
        const p = await proxy();
        try {
            await configure({ port: p.port });
            const rotation = { overlap: "2d" };
            const first = await provider.create(await inputs("pending overlap", "127.0.0.9", { rotation }));
            const state = first.outs!;
            const news = await inputs("pending overlap", "127.0.0.9", { rotation: { ...rotation, generation: 1 }, predecessor: first.id });
            expect(await provider.diff!(first.id, state, news)).toMatchObject({ changes: true, replaces: [] });
            // The new row's COMMIT lands but its answer is lost, and the database refuses every connection after.
            process.env.KEYFLEET_RETRY_BUDGET_MS = "300";
            p.state.cut = "afterCommit";
            p.state.refuseAfterCut = 10_000;
            const err = (await provider.update!(first.id, state, news).catch((e) => e)) as Error & { properties?: typeof state };
            p.state.refuse = 0;
            process.env.KEYFLEET_RETRY_BUDGET_MS = "";
            expect(p.state.cuts).toBe(1);
            // What the engine records for the failed update: the current row and the attempt, not the attempt alone.
            const pending = err.properties!;
            expect(pending).toMatchObject({ apiKey: state.apiKey, currentId: first.id, pending: { replacing: first.id } });
            await closeAll();
            const made = (await h.rows()).filter((r) => String(r.id) !== first.id);
            expect(made).toHaveLength(1);
            // The next up: the lost row is taken over, the old one moves into the previous slot.
            const { outs } = await provider.update!(first.id, pending, news);
            expect(outs).toMatchObject({ currentId: String(made[0].id), apiKey: made[0].apikey, pending: null, previousValue: state.apiKey, previous: { id: first.id } });
            const retireAt = Date.parse(outs!.previousRetireAt as string);
            expect(retireAt - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
            expect((await h.rows()).map((r) => String(r.id)).sort()).toEqual([first.id, String(made[0].id)].sort());
            // The first up after the overlap deletes the old row: one row left, the current one.
            const restore = setClock(() => retireAt + 60_000);
            try {
                expect(await provider.diff!(first.id, outs!, news)).toMatchObject({ changes: true, replaces: [] });
                const { outs: retired } = await provider.update!(first.id, outs!, news);
                expect(retired).toMatchObject({ currentId: String(made[0].id) });
                expect(retired).not.toHaveProperty("previous");
                expect(retired).not.toHaveProperty("previousValue");
            } finally {
                restore();
            }
            expect((await h.rows()).map((r) => String(r.id))).toEqual([String(made[0].id)]);
            await provider.delete!(first.id, outs!);
            expect(await h.rows()).toEqual([]);
        } finally {
            process.env.KEYFLEET_RETRY_BUDGET_MS = "";
            await closeAll();
            await configure();
            await p.close();
        }
    });

    it("repeats an insert whose connection was lost before COMMIT: nothing was committed, one row results", async () => {
        const p = await proxy();
        try {
            await configure({ port: p.port });
            p.state.cut = "beforeInsert";
            const made = await provider.create(await inputs("lost before commit", "127.0.0.6"));
            expect(p.state.cuts).toBe(1);
            const rows = await h.rows();
            expect(rows.map((r) => r.id)).toEqual([Number(made.id)]);
            await provider.delete!(made.id, made.outs!);
        } finally {
            await closeAll();
            await configure();
            await p.close();
        }
    });

    // The engine hands the provider a key every second or so; mysql2 closed idle connections each
    // second, so a step logged in again for nearly every key (37 logins for 25 keys in the bench).
    it("a connection cut before COMMIT is replaced, never reused; then keys made, read and deleted 1.2 s apart log in no more", async () => {
        const p = await proxy();
        const pause = () => new Promise((r) => setTimeout(r, 1200));
        try {
            await closeAll();
            await configure({ port: p.port });
            // Cut while the INSERT is prepared, which a fresh connection does (a reused one runs its cached statement).
            p.state.cut = "beforeInsert";
            const made = [await provider.create(await inputs("pooled after a cut", "127.0.0.21"))];
            expect(p.state.cuts).toBe(1);
            // The cut connection was destroyed; the repeated insert logged in once more.
            expect(p.state.connections).toBe(2);
            await pause();
            for (const ip of ["127.0.0.22", "127.0.0.23"]) {
                made.push(await provider.create(await inputs(`pooled ${ip}`, ip)));
                await pause();
            }
            for (const m of made) await provider.read!(m.id, m.outs!);
            await pause();
            for (const m of made) {
                await provider.delete!(m.id, m.outs!);
                await pause();
            }
            expect(p.state.connections).toBe(2);
            expect(await h.rows()).toEqual([]);
        } finally {
            await closeAll();
            await configure();
            await p.close();
        }
    });

    it("draws another value when the key collides with another row's", async () => {
        const taken = "BA00B76BAA30F62E1940B46CC1C3C73C";
        const other = await insertApiKey(h.db, { apikey: taken, ipaddr: "127.0.0.9" });
        const values = [taken, "0123456789ABCDEF0123456789ABCDEF"];
        const original = keySource.next;
        keySource.next = () => values.shift() ?? original();
        try {
            const made = await provider.create(await inputs("collision", "127.0.0.7"));
            expect(made.outs!.apiKey).toBe("0123456789ABCDEF0123456789ABCDEF");
            expect((await h.rows()).map((r) => r.id)).toEqual([other, Number(made.id)]);
            await provider.delete!(made.id, made.outs!);
            await h.db.query(`DELETE FROM \`${h.db.table}\``);
        } finally {
            keySource.next = original;
        }
    });

    it("names the table and the database when the table is missing", async () => {
        // A user with rights on the whole database (MySQL tells a user with rights on one table only "denied", not "missing").
        await configure({ tablePrefix: "nope_", user: h.db.config.user }, h.db.config.password ?? "");
        try {
            const i = await inputs("missing table", "127.0.0.8");
            await expect(provider.create(i)).rejects.toThrow(
                new RegExp(`creating SupportSystem key "missing table" for 127\\.0\\.0\\.8 failed: ER_NO_SUCH_TABLE the help desk's key table \`nope_api_key\` does not exist in database \`${h.db.name}\`.*tablePrefix`),
            );
            await expect(provider.read!("1", { ...i, keyId: 1 } as never)).rejects.toThrow(/nope_api_key` does not exist in database/);
        } finally {
            await closeAll();
            await configure();
        }
    });

    it("an adopt entry whose last-run record is stale is rotated new row first, never re-adopting the current row; with no record at all it is deleted first (issue 17, defect 4)", async () => {
        const first = await provider.create(await inputs("stale adopt", "127.0.0.9", { adopt: true }));
        const stale = await inputs("stale adopt", "127.0.0.9", { adopt: true, rotation: { generation: 1 }, predecessor: "999999" });
        expect(await provider.diff!(first.id, first.outs!, stale)).toMatchObject({ replaces: ["rotation"], deleteBeforeReplace: false });
        // No record: create would adopt the very row it replaces, so that one still goes first.
        const none = await inputs("stale adopt", "127.0.0.9", { adopt: true, rotation: { generation: 1 } });
        expect(await provider.diff!(first.id, first.outs!, none)).toMatchObject({ replaces: ["rotation"], deleteBeforeReplace: true });
        const second = await provider.create(stale);
        expect(second.id).not.toBe(first.id);
        expect((await h.rows()).map((r) => String(r.id)).sort()).toEqual([first.id, second.id].sort());
        await provider.delete!(first.id, first.outs!);
        await provider.delete!(second.id, second.outs!);
        expect(await h.rows()).toEqual([]);
    });

    it("reports a refused login as unauthorized and a refused connection as unavailable, never with the password", async () => {
        await configure({}, "wrong-password-4711");
        try {
            const err = await provider.create(await inputs("login", "127.0.0.8")).catch((e: Error) => e);
            expect((err as Error).message).toMatch(/ER_ACCESS_DENIED_ERROR .*refused the login of "kf_.*check keyfleet:supportsystem.user and the secret keyfleet:supportsystemPassword/);
            expect((err as Error).message).not.toContain("wrong-password-4711");
            expect((err as { kind?: string }).kind).toBe("unauthorized");
        } finally {
            await closeAll();
        }
        const closed = net.createServer();
        await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
        const port = (closed.address() as net.AddressInfo).port;
        await new Promise<void>((r) => closed.close(() => r()));
        process.env.KEYFLEET_RETRY_BUDGET_MS = "500";
        try {
            await configure({ port });
            const err = await provider.create(await inputs("down", "127.0.0.8")).catch((e: Error) => e);
            expect((err as { kind?: string }).kind).toBe("unavailable");
            expect((err as Error).message).toMatch(/ECONNREFUSED the database at 127\.0\.0\.1:\d+ did not answer.*check keyfleet:supportsystem.host and port/);
        } finally {
            delete process.env.KEYFLEET_RETRY_BUDGET_MS;
            await closeAll();
            await configure();
        }
        expect(await h.rows()).toEqual([]);
    });
});

describe("SupportSystem provider: a lost create that committed twice (issue 17 review)", () => {
    it("the next up takes over one row and deletes the other; a refresh, which writes nothing, leaves the record pending", async () => {
        // Both attempts of a create lost their answers after COMMIT, and the lookup could not run:
        // state records the attempt (what the engine keeps of the failed create), the table has two rows.
        const news = await inputs("p-lost-twice", "127.0.0.9");
        const olds = { ...news, pending: { since: new Date(Date.now() - 30_000).toISOString() }, note: "create outcome unknown; the next up reconciles it" } as never;
        const rows = [];
        for (const c of "ef") rows.push(await insertApiKey(h.db, { ipaddr: "127.0.0.9", apikey: `KF${c.repeat(30)}`, notes: composeNotes("p-lost-twice", "from a test") }));
        const marked = async () => (await h.rows()).filter((r) => parseNotes(r.notes).name === "p-lost-twice").map((r) => r.id);
        expect(await provider.read!("pending_0123456789abcdef", olds)).toEqual({ id: "pending_0123456789abcdef", props: olds });
        expect((await marked()).sort()).toEqual([...rows].sort());
        const { outs } = await provider.update!("pending_0123456789abcdef", olds, news);
        expect(outs).toMatchObject({ pending: null, keyId: rows[1] });
        expect(outs!.note).toMatch(/took over the key of a create whose answer was lost; deleted 1 more it made \(\d+\)/);
        expect(await marked()).toEqual([rows[1]]);
        await provider.delete!(String(rows[1]), outs!);
        expect(await marked()).toEqual([]);
    });
});

describe("SupportSystem provider: a key new to state whose marker a killed run's row carries (issue 17, defect 2)", () => {
    const rowOf = (name: string, apikey: string) => insertApiKey(h.db, { ipaddr: "127.0.0.9", apikey, notes: composeNotes(name, "from a test") });
    const marked = async (name: string) => (await h.rows()).filter((r) => parseNotes(r.notes).name === name);

    it("takes over the one row made since the last completed run with one query, never inserting a second", async () => {
        const after = new Date(Date.now() - 60_000).toISOString();
        const id = await rowOf("p-killed", `KF${"a".repeat(30)}`);
        const before = { ...statements };
        const { outs } = await provider.create(await inputs("p-killed", "127.0.0.9", { interrupted: { after, except: [] } }));
        expect(outs!.keyId).toBe(id);
        expect(statements.insert).toBe(before.insert);
        expect((await marked("p-killed")).map((r) => r.id)).toEqual([id]);
    });

    it("inserts as before when the row is the last run's, and refuses (naming them) when several rows carry the marker", async () => {
        const recorded = await rowOf("p-recorded", `KF${"b".repeat(30)}`);
        const since = new Date(Date.now() - 60_000).toISOString();
        const { outs } = await provider.create(await inputs("p-recorded", "127.0.0.9", { interrupted: { after: since, except: [String(recorded)] } }));
        expect(outs!.keyId).not.toBe(recorded);

        await rowOf("p-two", `KF${"c".repeat(30)}`);
        await rowOf("p-two", `KF${"d".repeat(30)}`);
        const err = (await provider.create(await inputs("p-two", "127.0.0.9", { interrupted: { after: since, except: [] } })).catch((e: Error) => e)) as Error;
        expect(err.message).toMatch(/2 keys made by keyfleet's account since the last completed run .* carry this name .*adopt: "<id>"/);
        expect(await marked("p-two")).toHaveLength(2);
    });
});
