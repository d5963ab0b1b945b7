// `kill -9` of an `up` while a create is committed at the vendor but not yet answered (issue 17,
// defect 2), through the real engine: the CLI is started detached (a process group of its own, as
// a shell job is), the vendor commits the new key and holds its answer, and the test kills the
// whole group. Before, every plugin outlived the engine (each runs in a process group of its own)
// and the next up failed on the taken name forever (Nexus 409), or, where names are not unique,
// made a second key with the same marker (SupportSystem). Now no plugin outlives its engine, and
// the next up takes over the one key the killed create made: no duplicate, no stuck name.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";
import { startScp, useScpKey, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { startMysqlHoldProxy, type MysqlHoldProxy } from "../sandbox/fault-proxy.ts";
import { parseNotes } from "../providers/supportsystem/lifecycle.ts";
import { captured, createTestStack, expectNoChanges, type TestStack } from "./helpers/stack.ts";

/** The processes of `s`'s runs: every one has the stack's own backend in its environment. */
function processesOf(s: TestStack): { pid: number; cmd: string }[] {
    const mark = `PULUMI_BACKEND_URL=file://${s.dir}/state`;
    const found: { pid: number; cmd: string }[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            if (!fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(mark)) continue;
            found.push({ pid: Number(pid), cmd: fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim() });
        } catch {
            // Gone meanwhile, or not ours to read.
        }
    }
    return found;
}

async function until<T>(what: string, ms: number, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
        const v = await probe();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/**
 * Starts `pulumi up` detached, waits for `committed` (the vendor made the key and holds its answer),
 * then kills the CLI's process group with SIGKILL; returns what was alive of the run before the kill
 * and what is still alive a few seconds after.
 */
async function killMidCreate(s: TestStack, committed: Promise<void>): Promise<{ before: string[]; after: string[]; unlock: string }> {
    const env = { ...process.env, ...s.stack.workspace.envVars } as Record<string, string>;
    const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", "e2e"], { cwd: s.dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const said: string[] = [];
    child.stdout.on("data", (d: Buffer) => said.push(String(d)));
    child.stderr.on("data", (d: Buffer) => said.push(String(d)));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    await Promise.race([committed, exited.then(() => Promise.reject(new Error(`up ended before the vendor committed the create:\n${said.join("")}`)))]);
    const before = processesOf(s).map((p) => p.cmd);
    process.kill(-child.pid!, "SIGKILL");
    await exited;
    // The plugins notice the engine is gone within a second; allow a few.
    const after = await until("the run's processes to end", 5_000, () => (processesOf(s).length === 0 ? [] : undefined)).catch(() => processesOf(s).map((p) => p.cmd));
    // The killed CLI leaves the file backend's lock behind (the next up would refuse the locked
    // stack); `pulumi cancel` is how a user removes it.
    let unlock: string;
    try {
        unlock = execFileSync("pulumi", ["cancel", "--yes", "--stack", "e2e"], { cwd: s.dir, env, stdio: "pipe" }).toString();
    } catch (e) {
        unlock = `cancel failed: ${String((e as { stderr?: Buffer }).stderr ?? e)}`;
    }
    return { before, after, unlock };
}

describe("Nexus: kill -9 of up while a create is committed and unanswered", () => {
    let t: TestSandbox;
    let s: TestStack;
    const yaml = (names: string[]) => `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${names.map((n) => `    - name: ${n}\n`).join("")}`;
    beforeAll(async () => {
        t = await startSandbox();
        s = await createTestStack(t, yaml(["web chat"]));
    });
    afterAll(async () => {
        await s?.cleanup();
        await t?.close();
    });
    const named = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name === name);

    it("no plugin outlives the engine, and the next up takes over the one key the killed create made", async () => {
        await s.stack.up(captured(s));
        const first = await s.apiKeys();
        s.writeKeys(yaml(["web chat", "mobile"]));
        const run = await killMidCreate(s, t.sandbox.hangNextAnswer("POST /nexus/v3/apikeys"));
        expect(run.unlock, run.unlock).toMatch(/has been canceled/);
        // The run had its plugins (the dynamic provider among them) when it was killed; none is left.
        expect(run.before.some((c) => c.includes("dynamic-provider"))).toBe(true);
        expect(run.after).toEqual([]);
        // The killed create made the key; nothing knows it but the vendor.
        expect(named("mobile")).toHaveLength(1);
        const orphan = named("mobile")[0].id;

        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: 1 });
        const keys = await s.apiKeys();
        expect(keys["nexus/tenant/mobile"]).toBe(orphan);
        expect(named("mobile").map((k) => k.id)).toEqual([orphan]);
        expect(named("web chat").map((k) => k.id)).toEqual([first["nexus/tenant/web chat"]]);
        expect(await useKey(t.url, orphan)).toBe(200);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });
});

describe("Nexus: kill -9 of up while a rotation's new key is committed and unanswered", () => {
    let t: TestSandbox;
    let s: TestStack;
    const yaml = (generation: number) => `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: web chat\n      rotation: { overlap: 1d, generation: ${generation} }\n`;
    beforeAll(async () => {
        t = await startSandbox();
        s = await createTestStack(t, yaml(0));
    });
    afterAll(async () => {
        await s?.cleanup();
        await t?.close();
    });
    const W = "nexus/tenant/web chat";

    it("the killed rotation never finishes behind the engine's back, and the next up finishes it with the key it made", async () => {
        await s.stack.up(captured(s));
        const old = (await s.apiKeys())[W];
        s.writeKeys(yaml(1));
        // The first create is refused (the old key holds the name), the old key is renamed aside, the second is made.
        const run = await killMidCreate(s, t.sandbox.hangNextAnswer("POST /nexus/v3/apikeys", 1));
        expect(run.after).toEqual([]);
        // Cut off after the create: the old key is aside with no expiry set (nothing ran on), the new one holds the name.
        const made = [...t.sandbox.keys.values()].filter((k) => k.name === "web chat");
        expect(made).toHaveLength(1);
        expect(made[0].id).not.toBe(old);
        expect(t.sandbox.keys.get(old)!.expires).toBe(false);

        await s.stack.up(captured(s));
        const keys = await s.apiKeys();
        expect(keys[W]).toBe(made[0].id);
        expect([...t.sandbox.keys.values()].filter((k) => k.name === "web chat").map((k) => k.id)).toEqual([made[0].id]);
        // The old key is the previous slot's, valid for the overlap, expiring at the vendor then.
        expect(t.sandbox.keys.get(old)!.expires).not.toBe(false);
        expect(t.sandbox.keys.size).toBe(2);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });
});

describe("SupportSystem: kill -9 of up while a row's COMMIT is done and unanswered", () => {
    let h: HelpDesk;
    let proxy: MysqlHoldProxy;
    let s: TestStack;
    const yaml = (names: string[]) => `supportsystem:\n  apiKeys:\n${names.map((n) => `    - name: ${n}\n      ip: 127.0.0.1\n`).join("")}`;
    beforeAll(async () => {
        h = await startHelpDesk();
        proxy = await startMysqlHoldProxy(h.db.config.host, h.db.config.port);
        // The provider reaches the database through the proxy; the help desk's API reads it directly.
        const settings = { ...JSON.parse(h.settings["keyfleet:supportsystem"]), port: String(proxy.port) };
        s = await createTestStack({ config: () => ({ ...h.config(), "keyfleet:supportsystem": { value: JSON.stringify(settings) } }) }, yaml(["web form"]));
    });
    afterAll(async () => {
        await s?.cleanup();
        await proxy?.close();
        await h?.close();
    });
    /** Rows carrying keyfleet's marker for `name`. */
    const marked = async (name: string) => (await h.rows()).filter((r) => parseNotes(r.notes).name === name);

    it("no plugin outlives the engine, and the next up takes over the row the killed insert committed: no second row", async () => {
        await s.stack.up(captured(s));
        s.writeKeys(yaml(["web form", "kiosk"]));
        const run = await killMidCreate(s, proxy.holdNextCommit());
        expect(run.unlock, run.unlock).toMatch(/has been canceled/);
        expect(run.before.some((c) => c.includes("dynamic-provider"))).toBe(true);
        expect(run.after).toEqual([]);
        const committed = await marked("kiosk");
        expect(committed).toHaveLength(1);

        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: 1 });
        expect((await marked("kiosk")).map((r) => r.id)).toEqual([committed[0].id]);
        expect((await s.apiKeys())["supportsystem/kiosk"]).toBe(committed[0].apikey);
        expect((await h.post("/api/tickets.json", committed[0].apikey, "127.0.0.1")).status).toBe(201);
        expect(await marked("web form")).toHaveLength(1);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });
});

describe("SupportCenter Plus: kill -9 of up while a create is committed and unanswered", () => {
    let t: ScpTestSandbox;
    let s: TestStack;
    const yaml = (names: string[]) => `supportcenter:\n  integrationKeys:\n${names.map((n) => `    - name: ${n}\n      roles: [Technician]\n      owner: admin\n`).join("")}`;
    beforeAll(async () => {
        t = await startScp();
        s = await createTestStack(t, yaml(["jira sync"]));
    });
    afterAll(async () => {
        await s?.cleanup();
        await t?.close();
    });
    const named = (name: string) => [...t.sandbox.keys.values()].filter((k) => k.name === name);

    it("no plugin outlives the engine, and the next up takes over the one key the killed create made (no 4008)", async () => {
        await s.stack.up(captured(s));
        s.writeKeys(yaml(["jira sync", "ci"]));
        const run = await killMidCreate(s, t.sandbox.hangNext("POST /api/v3/integration_keys"));
        expect(run.unlock, run.unlock).toMatch(/has been canceled/);
        expect(run.before.some((c) => c.includes("dynamic-provider"))).toBe(true);
        expect(run.after).toEqual([]);
        expect(named("ci")).toHaveLength(1);
        const orphan = named("ci")[0].id;

        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: 1 });
        expect(named("ci").map((k) => k.id)).toEqual([orphan]);
        const key = (await s.apiKeys())["supportcenter/ci"];
        expect(await useScpKey(t.url, key)).toBe(200);
        expect(named("jira sync")).toHaveLength(1);
        expectNoChanges((await s.stack.preview(captured(s))).changeSummary);
    });
});
