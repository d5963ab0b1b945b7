// The inventory report, run as a user runs it (scripts/keyfleet.sh report) against a stack made by
// the real engine: the rows against what the stack holds, --live against what the vendor says after
// out-of-band changes, the HTML rendered in headless Chromium (timeline rows, layout, a screenshot
// kept as .keyfleet/artifacts/report.png), and a leak scan of every format for every key value and
// credential.
import { execFile, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyRow, StackInventory } from "../ops/inventory.ts";
import { deliveriesFromState, keyRow } from "../ops/inventory.ts";
import { renderHtml, renderMarkdown, renderTable, urgency } from "../ops/render.ts";
import { beyondtrust } from "../providers/beyondtrust/descriptor.ts";
import { createFleetProject, type FleetProject } from "./helpers/fleet.ts";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { BeyondTrustSandbox } from "../sandbox/beyondtrust.ts";
import { listen } from "../sandbox/http.ts";
import { ROOT } from "./helpers/stack.ts";
import { startScp, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

const DAY = 86_400_000;
const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const soon = date(Date.now() + 5 * DAY);
const YAML = `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: expiring soon
      expires: ${soon}
    - name: rotating
      rotation: { every: 20d }
    - name: switched off
      enabled: false
  clusterKeys:
    - name: quarterly
      rotation: { every: 90d }
`;
const R = { soon: "nexus/tenant/expiring soon", rotating: "nexus/tenant/rotating", off: "nexus/tenant/switched off", quarterly: "nexus/cluster/quarterly" };

let t: TestSandbox;
let p: FleetProject;
const outputs: string[] = [];

function report(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "report", ...args], { env: { ...process.env, ...p.env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            outputs.push(stdout, stderr);
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
    });
}

function chromium(): string | undefined {
    for (const bin of ["chromium", "chromium-browser"]) {
        try {
            execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "pipe" });
            return bin;
        } catch {
            // not this one
        }
    }
    return undefined;
}

/** `npm run fleet -- up` of one stack of a project; its exit code. */
function fleetUp(project: FleetProject, stack: string): Promise<number> {
    return new Promise<number>((resolve) =>
        execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "fleet", "up", "--stacks", stack], { env: { ...process.env, ...project.env } }, (err, stdout, stderr) => {
            outputs.push(stdout, stderr);
            resolve(err ? 1 : 0);
        }),
    );
}

beforeAll(async () => {
    t = await startSandbox();
    p = await createFleetProject([t], { inv: YAML });
    expect(await fleetUp(p, "inv")).toBe(0);
}, 180_000);
afterAll(async () => {
    p?.cleanup();
    await t?.close();
});

describe("npm run report", () => {
    let state: StackInventory;

    it("JSON from state: one row per key with state, expiry and next rotation as the stack holds them", async () => {
        const r = await report("--stack", "inv", "--format", "json");
        expect(r.code).toBe(0);
        state = JSON.parse(r.stdout).stacks[0];
        expect(state.source).toBe("state");
        const rows = new Map(state.keys.map((k) => [k.resource, k]));
        expect([...rows.keys()].sort()).toEqual(Object.values(R).sort());
        // Nothing rotates it before it expires: a state of its own, not "active".
        expect(rows.get(R.soon)).toMatchObject({ system: "Genesys Digital Channels (Nexus)", kind: "TenantKey", name: "expiring soon", state: "expires-before-rotation", expires: `${soon}T23:59:59.000Z`, nextRotation: null });
        expect(rows.get(R.off)).toMatchObject({ state: "disabled", expires: null, nextRotation: null, previous: null, delivery: null });
        expect(rows.get(R.quarterly)).toMatchObject({ kind: "ClusterKey", state: "active", ageDays: 0 });
        const rotating = rows.get(R.rotating)!;
        expect(Date.parse(rotating.nextRotation!) - Date.parse(rotating.created!)).toBe(20 * DAY);
        expect(rotating.rotationWhy).toBe("older than 20d");
        // The ids are the fingerprints the stack shows, never the key (a Nexus key is its record id).
        const vendorIds = new Set((await t.client.list(t.tenantLogin)).map((k) => k.id));
        for (const k of state.keys) {
            expect(k.id).toMatch(/^nxk_[0-9a-f]{16}$/);
            expect(vendorIds.has(k.id!)).toBe(false);
        }
    });

    it("table and Markdown: the same rows, with their columns", async () => {
        const table = await report("--stack", "inv");
        expect(table.code).toBe(0);
        expect(table.stdout).toMatch(/SYSTEM\s+KIND\s+NAME\s+ID\s+STATE\s+CREATED\s+AGE\s+EXPIRES\s+NEXT ROTATION\s+PREVIOUS \(RETIRES\)\s+LAST DELIVERY/);
        expect(table.stdout).toMatch(/TenantKey\s+switched off\s+nxk_[0-9a-f]{16}\s+disabled/);
        const md = await report("--stack", "inv", "--format", "markdown");
        expect(md.stdout).toContain("| system | kind | name | id | state | created | age | expires | next rotation | previous (retires) | last delivery |");
        expect(md.stdout.split("\n").filter((l) => l.startsWith("| Genesys"))).toHaveLength(4);
    });

    it("--live asks the vendor: a key disabled and one deleted out of band show as such, while state still says active", async () => {
        const keys = await t.client.list(t.tenantLogin);
        await t.client.update(t.tenantLogin, keys.find((k) => k.name === "rotating")!.id, { enabled: false });
        await t.client.delete(t.tenantLogin, keys.find((k) => k.name === "expiring soon")!.id);
        const live = await report("--stack", "inv", "--format", "json", "--live");
        expect(live.code).toBe(0);
        const rows = new Map((JSON.parse(live.stdout).stacks[0] as StackInventory).keys.map((k) => [k.resource, k]));
        expect(JSON.parse(live.stdout).source).toBe("live");
        expect(rows.get(R.rotating)!.state).toBe("disabled");
        expect(rows.get(R.soon)!.state).toBe("missing");
        expect(rows.get(R.quarterly)!.state).toBe("active");
        const fromState = new Map((JSON.parse((await report("--stack", "inv", "--format", "json")).stdout).stacks[0] as StackInventory).keys.map((k) => [k.resource, k]));
        expect(fromState.get(R.rotating)!.state).toBe("active");
        expect(fromState.get(R.soon)!.state).toBe("expires-before-rotation");
        await report("--stack", "inv", "--live");
        await report("--all", "--format", "markdown", "--live");
    });

    it("HTML: Chromium renders one timeline row per key, coloured by urgency, and a screenshot is kept", async (ctx) => {
        const bin = chromium();
        // scripts/keyfleet.sh test installs Debian's chromium when it can; in CI its absence is a failure.
        if (!bin && process.env.CI) throw new Error("no chromium: scripts/keyfleet.sh test should have installed Debian's chromium");
        if (!bin) ctx.skip();
        const dir = path.join(ROOT, ".keyfleet", "artifacts");
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, "report.html");
        expect((await report("--all", "--format", "html", "--out", file)).code).toBe(0);
        const html = fs.readFileSync(file, "utf8");
        outputs.push(html);
        // Self-contained: nothing fetched from anywhere.
        expect(html).not.toMatch(/<(link|img|iframe)\b|\bsrc=|url\(|@import|https?:\/\//i);
        const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--user-data-dir=${path.join(dir, "chromium-profile")}`];
        const dom = execFileSync(bin!, [...flags, "--dump-dom", `file://${file}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 });
        // The page's own script ran in Chromium and found every row's track laid out.
        expect(dom).toMatch(/<body[^>]*data-rows="4"/);
        expect(dom).toMatch(/<body[^>]*data-laid-out="true"/);
        const rows = [...dom.matchAll(/<tr class="row" data-stack="([^"]*)" data-resource="([^"]*)" data-urgency="([^"]*)" data-state="([^"]*)"/g)].map((m) => ({
            stack: m[1],
            resource: m[2],
            urgency: m[3],
            state: m[4],
        }));
        expect(rows.map((r) => r.resource).sort()).toEqual(Object.values(R).sort());
        const byResource = new Map(rows.map((r) => [r.resource, r]));
        expect(byResource.get(R.soon)).toMatchObject({ stack: "inv", urgency: "week", state: "expires-before-rotation" });
        expect(byResource.get(R.rotating)).toMatchObject({ urgency: "month" });
        expect(byResource.get(R.quarterly)).toMatchObject({ urgency: "later" });
        expect(byResource.get(R.off)).toMatchObject({ urgency: "none", state: "disabled" });
        // Most urgent first.
        expect(rows[0].resource).toBe(R.soon);
        const png = path.join(dir, "report.png");
        fs.rmSync(png, { force: true });
        execFileSync(bin!, [...flags, "--window-size=1400,700", `--screenshot=${png}`, `file://${file}`], { stdio: "ignore", timeout: 60_000 });
        expect(fs.statSync(png).size).toBeGreaterThan(10_000);
    });

    it("leak scan: no key value, credential or ciphertext in any format's output", async () => {
        const secrets = [...t.secrets(), ...t.sandbox.issued.keys];
        expect(t.sandbox.issued.keys.size).toBeGreaterThanOrEqual(4);
        const all = outputs.join("\n");
        expect(all.length).toBeGreaterThan(5_000);
        for (const s of secrets) expect(all).not.toContain(s);
        expect(all).not.toContain("ciphertext");
        expect(all).not.toMatch(/v1:[A-Za-z0-9+/=]{8,}:/);
    });
});

describe("report rows from outputs other vendors and rotation add", () => {
    const now = Date.parse("2027-01-10T00:00:00Z");

    it("a previous slot not yet retired makes the key overlapping; its retire time and the last delivery are shown", () => {
        const k = keyRow("x/y", "nexus", "nxk_0", {
            name: "y",
            created: "2027-01-01T00:00:00Z",
            rotation: { every: "30d" },
            apiKey: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc:def" },
            previous: { fingerprint: "nxk_1111111111111111", apiKey: { ciphertext: "v1:x:y" }, retireAt: "2027-01-12T00:00:00Z" },
            deliveries: [
                { target: "vault", result: "ok", at: "2027-01-01T00:00:05Z" },
                { target: "ci", result: "failed: 403", at: "2027-01-02T00:00:00Z" },
            ],
        }, now);
        expect(k).toMatchObject({ state: "overlapping", previous: { id: "nxk_1111111111111111", retireAt: "2027-01-12T00:00:00.000Z" }, delivery: { result: "failed: 403", target: "ci" } });
        expect(urgency(k, now)).toBe("week");
        const r = { generatedAt: new Date(now).toISOString(), source: "state" as const, stacks: [{ stack: "s", source: "state" as const, keys: [k] }] };
        expect(renderTable(r)).toContain("nxk_1111111111111111 retires 2027-01-12 00:00 (in 2d)");
        expect(renderMarkdown(r)).toContain("failed: 403 → ci");
        expect(renderHtml(r)).toContain('class="mark retire"');
        for (const text of [renderTable(r), renderMarkdown(r), renderHtml(r), JSON.stringify(k)]) expect(text).not.toContain("v1:");
        const retired = keyRow("x/y", "nexus", "nxk_0", { previous: { fingerprint: "nxk_1", retireAt: "2027-01-09T00:00:00Z" } }, now);
        expect(retired.state).toBe("active");
    });

    it("rotation's outputs as the core writes them: a secret previous slot, its plain retire time, the core's nextRotation", () => {
        const secret = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:aaaa:bbbb" };
        const o = { name: "y", created: "2027-01-01T00:00:00Z", rotation: { every: "30d" }, previous: secret, previousValue: secret, previousRetireAt: "2027-01-20T00:00:00Z", nextRotation: "2027-02-03T00:00:00Z" };
        expect(keyRow("x/y", "nexus", "nxk_0", o, now)).toMatchObject({ state: "overlapping", previous: { id: null, retireAt: "2027-01-20T00:00:00.000Z" }, nextRotation: "2027-02-03T00:00:00.000Z" });
        // Paused: the core says no next rotation, though the policy has `every`.
        expect(keyRow("x/y", "nexus", "nxk_0", { ...o, previous: secret, previousRetireAt: null, nextRotation: null }, now)).toMatchObject({ state: "active", previous: null, nextRotation: null });
    });

    it("deliveries from state: each key's consumers (command resources), and an incomplete one while the replaced key is kept", () => {
        const urn = (type: string, name: string) => `urn:pulumi:s::keyfleet::${type}::${name}`;
        const T = "pulumi-nodejs:dynamic/nexus:TenantKey";
        const C = "command:local:Command";
        const d = deliveriesFromState([
            { urn: urn(T, "nexus/tenant/a"), type: T },
            { urn: urn(C, "nexus/tenant/a/deliver/vault"), type: C, modified: "2027-01-02T00:00:00Z" },
            { urn: urn(C, "nexus/tenant/a/deliver/.keyfleet/a.key"), type: C, modified: "2027-01-03T00:00:00Z" },
            { urn: urn(T, "nexus/tenant/b"), type: T },
            { urn: urn(T, "nexus/tenant/b"), type: T, delete: true },
            { urn: urn(C, "nexus/tenant/b/deliver/gateway"), type: C, created: "2027-01-01T00:00:00Z" },
        ]);
        expect(d.get("nexus/tenant/a")).toEqual({ result: "ok", at: "2027-01-03T00:00:00.000Z", target: ".keyfleet/a.key, vault" });
        expect(d.get("nexus/tenant/b")!.result).toMatch(/^incomplete/);
        expect(d.has("nexus/tenant/c")).toBe(false);
        // With an overlap the key rotates in place: incomplete while its current key is not the one
        // the last fully delivered run recorded (keyIds).
        const S = "pulumi:pulumi:Stack";
        const overlap = deliveriesFromState([
            { urn: urn(S, "keyfleet-s"), type: S, outputs: { keyIds: { "nexus/tenant/o": { id: "nxk_old" }, "nexus/tenant/p": { id: "nxk_same" } } } },
            { urn: urn(T, "nexus/tenant/o"), type: T, outputs: { currentId: "nxk_new" } },
            { urn: urn(C, "nexus/tenant/o/deliver/app"), type: C },
            { urn: urn(T, "nexus/tenant/p"), type: T, outputs: { currentId: "nxk_same" } },
            { urn: urn(C, "nexus/tenant/p/deliver/app"), type: C },
        ]);
        expect(overlap.get("nexus/tenant/o")!.result).toMatch(/^incomplete/);
        expect(overlap.get("nexus/tenant/p")!.result).toBe("ok");
    });

    it("the vendor's own renewal (its lifecycle's `renewal`) sets the next rotation: a session key a day before it expires", async () => {
        const lc = (await beyondtrust.provider()).vendor!.expiry!;
        const renewal = (s: unknown, i: unknown, at: number) => lc.renewal!(s, i, at);
        const outs = { name: "web", created: "2027-01-09T00:00:00Z", expires: "2027-01-16T00:00:00Z", renewBefore: "1d", ttl: 604800 };
        const k: KeyRow = keyRow("beyondtrust/web", "beyondtrust", "bts_0", outs, now, renewal);
        expect(Math.abs(Date.parse(k.nextRotation!) - Date.parse("2027-01-15T00:00:00Z"))).toBeLessThanOrEqual(60_000);
        expect(k.rotationWhy).toContain("renewBefore 1d");
        expect(k.system).toBe("BeyondTrust Remote Support");
    });
});

// Issue 18, finding 6: with SupportCenter Plus or SupportSystem keys, `report --live` never exited
// (a MySQL pool and undici's keep-alive sockets kept the process alive).
describe("npm run report --live with every vendor that keeps connections", () => {
    let nexus: TestSandbox;
    let scp: ScpTestSandbox;
    let desk: HelpDesk;
    let q: FleetProject;

    beforeAll(async () => {
        [nexus, scp, desk] = await Promise.all([startSandbox(), startScp(), startHelpDesk({ transport: "database" })]);
        q = await createFleetProject([nexus, scp, desk], {
            live: `nexus:\n  contactCenter: ${CC}\n  clusterKeys:\n    - name: ops\nsupportcenter:\n  integrationKeys:\n    - name: jira\n      roles: [Technician]\n      owner: admin\nsupportsystem:\n  apiKeys:\n    - name: web\n      ip: 127.0.0.1\n`,
        });
        expect(await fleetUp(q, "live")).toBe(0);
    }, 180_000);
    afterAll(async () => {
        q?.cleanup();
        await Promise.all([nexus?.close(), scp?.close(), desk?.close()]);
    });

    it("ends by itself, well before any keep-alive would have timed out", async () => {
        const started = Date.now();
        const result = await new Promise<{ code: number | null; stdout: string; killed: boolean }>((resolve) => {
            const child = execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "report", "--stack", "live", "--format", "json", "--live"], { env: { ...process.env, ...q.env }, timeout: 25_000, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
                outputs.push(stdout, stderr);
                resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, killed: child.killed });
            });
        });
        expect(result.killed).toBe(false);
        expect(result.code).toBe(0);
        expect(Date.now() - started).toBeLessThan(20_000);
        const rows = (JSON.parse(result.stdout).stacks[0] as StackInventory).keys;
        expect(rows.map((k) => k.state).sort()).toEqual(["active", "active", "active"]);
    }, 60_000);
});

// Issue 18, finding 7: schedules that are true. One stack over the real engine with a revoked key,
// a key that expires before its rotation, a BeyondTrust session key the appliance's 24 h maximum
// makes renew within a day (with rotation every 90d), and a SupportSystem entry with two addresses.
describe("schedules: the report and npm run up's summary show the same, true one", () => {
    let nexus: TestSandbox;
    let desk: HelpDesk;
    let bt: { config(): Record<string, { value: string; secret?: boolean }>; close(): Promise<void>; secret: string };
    let q: FleetProject;
    const soonDay = date(Date.now() + 5 * DAY);
    const S = { revoked: "nexus/tenant/pulled", first: "nexus/tenant/short lived", session: "beyondtrust/sessionKey/web intake" };

    beforeAll(async () => {
        const secret = `bt-report-secret-${crypto.randomUUID()}`;
        const sandbox = new BeyondTrustSandbox({ client: { id: "report_account", secret } });
        const server = await listen((req, res, url) => sandbox.handler(req, res, url), 0);
        bt = {
            secret,
            config: () => ({
                "keyfleet:beyondtrust": { value: JSON.stringify({ url: server.url, clientId: "report_account" }) },
                "keyfleet:beyondtrustClientSecret": { value: secret, secret: true },
            }),
            close: () => server.close(),
        };
        [nexus, desk] = await Promise.all([startSandbox(), startHelpDesk({ transport: "database" })]);
        q = await createFleetProject([nexus, bt, desk], {
            sched:
                `defaults:\n  rotation: { every: 90d }\n` +
                `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n    - name: pulled\n      revoked: true\n    - name: short lived\n      expires: ${soonDay}\n` +
                `beyondtrust:\n  sessionKeys:\n    - name: web intake\n      queue: general\n` +
                `supportsystem:\n  apiKeys:\n    - name: relay\n      ips: [10.0.0.7, 10.0.0.8]\n`,
        });
        expect(await fleetUp(q, "sched")).toBe(0);
    }, 180_000);
    afterAll(async () => {
        q?.cleanup();
        await Promise.all([nexus?.close(), desk?.close(), bt?.close()]);
    });

    it("report: a revoked key has no next rotation; a session key's renewal is its next rotation; an early expiry is a state", async () => {
        const r = await new Promise<string>((resolve) =>
            execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "report", "--stack", "sched", "--format", "json"], { env: { ...process.env, ...q.env } }, (_e, stdout, stderr) => {
                outputs.push(stdout, stderr);
                resolve(stdout);
            }),
        );
        const rows = new Map((JSON.parse(r).stacks[0] as StackInventory).keys.map((k) => [k.resource, k]));
        expect(rows.get(S.revoked)).toMatchObject({ state: "revoked", nextRotation: null });
        expect(rows.get(S.first)).toMatchObject({ state: "expires-before-rotation", expires: `${soonDay}T23:59:59.000Z` });
        const session = rows.get(S.session)!;
        // 24 h keys renew a tenth of their lifetime (2.4 h) before they expire: not in 90 days.
        expect(Math.abs(Date.parse(session.expires!) - 2.4 * 3_600_000 - Date.parse(session.nextRotation!))).toBeLessThanOrEqual(60_000);
        expect(session.rotationWhy).toContain("a tenth of its lifetime");
        expect(session.state).toBe("active");
        expect(new Set([...rows.values()].map((k) => k.kind))).toEqual(new Set(["TenantKey", "SessionKey", "ApiKey"]));
    });

    it("report table and Markdown: the id column, and the address that tells the two keys of one `ips:` entry apart", async () => {
        const run = (...args: string[]) =>
            new Promise<string>((resolve) =>
                execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "report", "--stack", "sched", ...args], { env: { ...process.env, ...q.env } }, (_e, stdout, stderr) => {
                    outputs.push(stdout, stderr);
                    resolve(stdout);
                }),
            );
        const table = await run();
        expect(table).toMatch(/ApiKey\s+relay \(ip 10\.0\.0\.7\)\s+\d+\s+active/);
        expect(table).toMatch(/ApiKey\s+relay \(ip 10\.0\.0\.8\)\s+\d+\s+active/);
        const md = (await run("--format", "markdown")).split("\n").filter((l) => l.includes("| relay"));
        expect(md).toHaveLength(2);
        expect(md[0]).toMatch(/\| relay \(ip 10\.0\.0\.[78]\) \| \d+ \|/);
        expect(md[0]).not.toBe(md[1]);
    });

    it("npm run up's summary (stacks/summary.ts): the same schedule, not the age policy's 90 days", async () => {
        const out = await new Promise<string>((resolve) =>
            execFile("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "node", "stacks/summary.ts", "sched"], { cwd: q.dir, env: { ...process.env, ...q.env } }, (_e, stdout, stderr) => {
                outputs.push(stdout, stderr);
                resolve(stdout + stderr);
            }),
        );
        const line = (resource: string) => out.split("\n").find((l) => l.trimStart().startsWith(`${resource} `)) ?? "";
        // The whole output as the message: a missing line then shows what the summary printed instead.
        expect(line(S.revoked), out).toMatch(/revoked, .*next rotation: none/);
        expect(line(S.first), out).toMatch(new RegExp(`EXPIRES BEFORE ITS NEXT ROTATION, expires ${soonDay}`));
        const renews = date(Date.now() + 22 * 3_600_000);
        const tomorrow = [date(Date.now() + 21 * 3_600_000), renews];
        expect(tomorrow.some((d) => line(S.session).includes(`next rotation ${d} (session key expires`))).toBe(true);
        expect(line(S.session)).not.toContain(date(Date.now() + 90 * DAY));
        for (const s of [bt.secret, ...nexus.secrets()]) expect(out).not.toContain(s);
    });
});
