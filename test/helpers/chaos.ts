// The fault campaign (issue 17): N keys across the four vendors, each vendor behind a fault proxy
// (sandbox/fault-proxy.ts) at a seeded rate, `up` through the real engine until it converges (an
// up that succeeds, then a preview with nothing to do), then the vendors are counted against the
// stack's state:
// - duplicates: a declared key that has more than one live key at its vendor carrying its name;
// - orphans: a live key at a vendor that no resource in state holds (made by keyfleet's login:
//   these sandboxes hold no other keys);
// - lost: a declared key with no live key that state holds.
// BeyondTrust session keys can be neither listed by name nor revoked (providers/beyondtrust/
// lifecycle.ts): an unanswered generate_session_key leaves a key nobody has, which expires at its
// ttl. Those are counted apart ("unused, expiring"), not as orphans keyfleet could have prevented.
// Used by `npm run chaos` (test/chaos.ts, the whole profile) and test/chaos.e2e.test.ts (short).
import { execFile, spawn } from "node:child_process";
import crypto from "node:crypto";
import { promisify } from "node:util";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { BeyondTrustSandbox } from "../../sandbox/beyondtrust.ts";
import { seeded, startHttpFaultProxy, startMysqlFaultProxy, type FaultProxy } from "../../sandbox/fault-proxy.ts";
import { listen } from "../../sandbox/http.ts";
import { CC, startSandbox } from "./sandbox.ts";
import { createTestStack, UNCHANGED_OPS, type TestStack } from "./stack.ts";
import { startScp } from "./supportcenter.ts";
import { startHelpDesk } from "./supportsystem.ts";
import { strings } from "./values.ts";

export interface CampaignRow {
    rate: number;
    /** Whether the first up was killed with -9. */
    kill: boolean;
    /** Whether an up succeeded and a preview had nothing to do (else the counts are where it stopped). */
    converged: boolean;
    seed: number;
    keys: number;
    /** up runs until converged (the last may be after the faults stopped, see calm). */
    runs: number;
    /** Whether the faults had to stop for it to converge (maxRuns reached at the rate). */
    calm: boolean;
    duplicates: number;
    orphans: number;
    lost: number;
    /** BeyondTrust keys made but never answered: unused, they expire at their ttl. */
    expiring: number;
    faults: number;
    calls: Record<string, number>;
    seconds: number;
}

/** The key name in a help desk row's notes (the last `[keyfleet:…]` marker, percent-encoded). */
function decodeMarker(notes: string | null): string | undefined {
    const all = [...(notes ?? "").matchAll(/\[keyfleet:([^\]]*)\]/g)];
    const last = all.at(-1)?.[1];
    if (last === undefined) return undefined;
    try {
        return decodeURIComponent(last);
    } catch {
        return last;
    }
}

/** A config map with every occurrence of `from` (a sandbox's URL) replaced by `to` (its proxy's). */
function through(config: ConfigMap, from: string, to: string): ConfigMap {
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { ...v, value: v.value.split(from).join(to) }]));
}

function yamlFor(n: number, seed: number): { yaml: string; declared: Record<string, string[]> } {
    const per = Math.max(1, Math.floor(n / 4));
    const names = (p: string) => Array.from({ length: per }, (_, i) => `chaos ${p} ${seed}-${i}`);
    const declared = { nexus: names("nexus"), supportcenter: names("scp"), beyondtrust: names("bt"), supportsystem: names("ss") };
    const yaml = [
        `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${declared.nexus.map((n) => `    - { name: ${n}, permissions: [nexus:consumer:chat] }\n`).join("")}`,
        `supportcenter:\n  integrationKeys:\n${declared.supportcenter.map((n) => `    - { name: ${n}, roles: [SDAdmin], owner: admin }\n`).join("")}`,
        `beyondtrust:\n  sessionKeys:\n${declared.beyondtrust.map((n) => `    - { name: ${n}, queue: general }\n`).join("")}`,
        `supportsystem:\n  apiKeys:\n${declared.supportsystem.map((n, i) => `    - { name: ${n}, ip: 10.77.${Math.floor(i / 250)}.${(i % 250) + 1} }\n`).join("")}`,
    ].join("");
    return { yaml, declared };
}

export interface CampaignOptions {
    keys: number;
    rate: number;
    seed: number;
    /** The first up is killed (kill -9 of its process group) at a seeded moment after its first create committed. */
    kill?: boolean;
    /** When the kill comes (ms after the up starts), instead of a seeded 0–800 ms after a vendor first holds a key: the middle of a big up. */
    killAfterMs?: number;
    /** up runs at the rate before the faults stop (default 8). */
    maxRuns?: number;
    log?: (line: string) => void;
}

/**
 * `pulumi up` as an operator's shell runs it, killed with SIGKILL (its whole process group) at `when`,
 * then the stack's lock released as the operator would (`pulumi cancel`, which a file backend answers
 * by removing its lock). `when` is a fixed delay (a big up's middle) or the moment a vendor first
 * holds a key, plus `jitterMs`: a timed kill alone missed on a fast machine, whose 12-key up ended
 * before it.
 */
async function killedUp(s: TestStack, when: { afterMs: number } | { firstKey: () => Promise<boolean>; jitterMs: number }): Promise<string> {
    const env = { ...process.env, ...s.stack.workspace.envVars };
    const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", "e2e", "--parallel", "10", "--color", "never"], { cwd: s.dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => s.output.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => s.output.push(d.toString()));
    const ended = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const started = performance.now();
    let exited = false;
    void ended.then(() => (exited = true));
    const moment = async (): Promise<void> => {
        if ("afterMs" in when) return new Promise((r) => setTimeout(r, when.afterMs));
        // At most a minute: an up that never reaches a vendor is killed all the same (and the log says when).
        for (const end = performance.now() + 60_000; !exited && performance.now() < end && !(await when.firstKey()); ) await new Promise((r) => setTimeout(r, 25));
        await new Promise((r) => setTimeout(r, when.jitterMs));
    };
    await Promise.race([ended, moment()]);
    const afterMs = Math.round(performance.now() - started);
    if (exited) return `up ended by itself before the kill (${afterMs} ms)`;
    process.kill(-child.pid!, "SIGKILL");
    await ended;
    const cancel = await promisify(execFile)("pulumi", ["cancel", "--yes", "--stack", "e2e"], { cwd: s.dir, env }).then(
        () => "pulumi cancel released the lock",
        (e: { stderr?: string }) => `pulumi cancel: ${(e.stderr ?? "").trim().split("\n")[0]?.slice(0, 120)}`,
    );
    return `up killed (-9, its process group) after ${afterMs} ms; ${cancel}`;
}

/** One cell of the campaign's table. */
export async function campaign(o: CampaignOptions): Promise<CampaignRow> {
    const started = performance.now();
    const random = seeded(o.seed);
    const profile = { rate: o.rate };
    const nexus = await startSandbox();
    const scp = await startScp();
    const desk = await startHelpDesk();
    const btSecret = `bt-chaos-secret-${crypto.randomUUID()}`;
    const bt = new BeyondTrustSandbox({ client: { id: "keyfleet_chaos", secret: btSecret } });
    const btServer = await listen(bt.handler, 0);
    const proxies: Record<string, FaultProxy> = {
        nexus: await startHttpFaultProxy(nexus.url, profile, random),
        supportcenter: await startHttpFaultProxy(scp.url, profile, random),
        beyondtrust: await startHttpFaultProxy(btServer.url, profile, random),
    };
    const settings = JSON.parse(desk.settings["keyfleet:supportsystem"]!) as { host: string; port: string };
    const mysql = await startMysqlFaultProxy(settings.host, Number(settings.port), profile, random);
    proxies.supportsystem = mysql;
    const deskConfig = desk.config();
    deskConfig["keyfleet:supportsystem"] = { value: JSON.stringify({ ...settings, host: "127.0.0.1", port: String(mysql.port) }) };
    const configs: { config(): ConfigMap }[] = [
        { config: () => through(nexus.config(), nexus.url, proxies.nexus!.url) },
        { config: () => through(scp.config(), scp.url, proxies.supportcenter!.url) },
        {
            config: () => ({
                "keyfleet:beyondtrust": { value: JSON.stringify({ url: proxies.beyondtrust!.url, clientId: "keyfleet_chaos" }) },
                "keyfleet:beyondtrustClientSecret": { value: btSecret, secret: true },
            }),
        },
        { config: () => deskConfig },
    ];
    const { yaml, declared } = yamlFor(o.keys, o.seed);
    const previousBudget = process.env.KEYFLEET_RETRY_BUDGET_MS;
    // Each call gives up within 20 s: a faulty run fails sooner and the next one reconciles.
    process.env.KEYFLEET_RETRY_BUDGET_MS = "20000";
    let s: TestStack | undefined;
    try {
        s = await createTestStack(configs, yaml);
        const maxRuns = o.maxRuns ?? 8;
        let runs = 0;
        let converged = true;
        if (o.kill) {
            // Every answer comes 1 to 3 s after the vendor did the work, so the kill finds creates
            // committed and unanswered (the engine needs about 3 s before its first create).
            const late = { rate: 1, kinds: ["late" as const] };
            for (const p of Object.values(proxies)) if (p !== mysql) p.profile = late;
            runs++;
            // The HTTP vendors answer a second or more after they commit: a kill within 800 ms of the
            // first commit finds at least that create committed and unanswered.
            const httpKeys = () => nexus.sandbox.keys.size + scp.sandbox.keys.size + bt.liveKeys().length;
            const when = o.killAfterMs === undefined ? { firstKey: async () => httpKeys() > 0, jitterMs: Math.floor(random() * 800) } : { afterMs: o.killAfterMs };
            o.log?.(`  run ${runs}: ${await killedUp(s, when)}`);
            // What the next up has to reconcile: keys the vendors hold against keys state recorded.
            const made = httpKeys() + (await desk.rows()).length;
            const recorded = (await s.resources()).filter((u) => u.includes("::pulumi-nodejs:dynamic/")).length;
            o.log?.(`  after the kill: ${made} keys live at the vendors, ${recorded} key resources in state`);
            for (const p of Object.values(proxies)) p.profile = profile;
        }
        let calm = false;
        for (;;) {
            if (runs >= maxRuns && !calm) {
                calm = true;
                profile.rate = 0;
                for (const p of Object.values(proxies)) p.profile = profile;
            }
            if (runs >= maxRuns + 2) {
                converged = false;
                o.log?.(`  no convergence after ${runs} runs (the last two without faults)`);
                break;
            }
            runs++;
            const up = await s.stack.up({ onOutput: (l) => s!.output.push(l), color: "never", parallel: 10 }).then(
                () => true,
                (e: Error) => (o.log?.(`  run ${runs}: up failed (${e.message.split("\n").find((l) => /error:/.test(l))?.trim().slice(0, 160) ?? "error"})`), false),
            );
            if (!up) continue;
            const preview = await s.stack.preview({ onOutput: (l) => s!.output.push(l), color: "never", refresh: true }).catch(() => undefined);
            const changed = preview && Object.entries(preview.changeSummary ?? {}).some(([op, n]) => !UNCHANGED_OPS.includes(op) && n > 0);
            o.log?.(`  run ${runs}: up succeeded; preview ${preview ? (changed ? `shows changes ${JSON.stringify(preview.changeSummary)}` : "has nothing to do") : "failed"}`);
            if (preview && !changed) break;
        }
        // Counting is done with the faults off: the vendors are asked, not the proxies.
        // The deployment with its secrets decrypted (key values are secret outputs), read once here in memory.
        const exported = await promisify(execFile)("pulumi", ["stack", "export", "--show-secrets", "--stack", "e2e"], { cwd: s.dir, env: { ...process.env, ...s.stack.workspace.envVars }, maxBuffer: 256 << 20 });
        const held = strings(JSON.parse(exported.stdout));
        const live: Record<string, { name?: string; value: string }[]> = {
            nexus: [...nexus.sandbox.keys.values()].map((k) => ({ name: k.name, value: k.id })),
            supportcenter: [...scp.sandbox.keys.values()].map((k) => ({ name: k.name, value: k.value })),
            beyondtrust: bt.liveKeys().map((k) => ({ value: k.shortKey })),
            supportsystem: (await desk.rows()).map((r) => ({ name: decodeMarker(r.notes), value: r.apikey })),
        };
        let duplicates = 0;
        let orphans = 0;
        let lost = 0;
        let expiring = 0;
        for (const [vendor, names] of Object.entries(declared)) {
            const keys = live[vendor]!;
            const unheld = keys.filter((k) => !held.has(k.value)).length;
            if (vendor === "beyondtrust") expiring += unheld;
            else orphans += unheld;
            for (const n of names) {
                const mine = keys.filter((k) => k.name === n);
                if (mine.length > 1) duplicates += mine.length - 1;
            }
            lost += Math.max(0, names.length - keys.filter((k) => held.has(k.value)).length);
        }
        const faults = Object.values(proxies).reduce((sum, p) => sum + Object.values(p.stats.faults).reduce((a, b) => a + b, 0), 0);
        const calls = Object.fromEntries(Object.entries(proxies).map(([v, p]) => [v, p.stats.requests]));
        return { rate: o.rate, kill: !!o.kill, converged, seed: o.seed, keys: Object.values(declared).flat().length, runs, calm, duplicates, orphans, lost, expiring, faults, calls, seconds: Math.round((performance.now() - started) / 1000) };
    } finally {
        if (previousBudget === undefined) delete process.env.KEYFLEET_RETRY_BUDGET_MS;
        else process.env.KEYFLEET_RETRY_BUDGET_MS = previousBudget;
        await s?.cleanup();
        for (const p of Object.values(proxies)) await p.close();
        await btServer.close();
        await nexus.close();
        await scp.close();
        await desk.close();
    }
}

/** The campaign's table, as `npm run chaos` prints it. */
export function table(rows: CampaignRow[]): string {
    const head = "| fault rate | seed | keys | runs | duplicates | orphans | lost | BeyondTrust unused, expiring | faults injected | vendor calls (nexus / scp / bt / mysql packets) | time |";
    const line = "|---|---|---|---|---|---|---|---|---|---|---|";
    const body = rows.map(
        (r) =>
            `| ${Math.round(r.rate * 100)}%${r.kill ? ", kill -9" : ""} | ${r.seed} | ${r.keys} | ${r.runs}${r.calm ? " (faults off for the last)" : ""}${r.converged ? "" : ", not converged"} | ${r.duplicates} | ${r.orphans} | ${r.lost} | ${r.expiring} | ${r.faults} | ${r.calls.nexus} / ${r.calls.supportcenter} / ${r.calls.beyondtrust} / ${r.calls.supportsystem} | ${r.seconds} s |`,
    );
    return [head, line, ...body].join("\n");
}
