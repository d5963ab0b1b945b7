// Acceptance test of BeyondTrust session keys through the real Pulumi engine against the sandbox.
// Each labelled step changes the environment's YAML (or only the clock) as a user would, runs the
// engine, and then asks the vendor side (the sandbox's records and its customer side) whether it
// matches; the step runner (test/helpers/step-runner.ts) then asks for a refreshed plan, which must
// be empty. A second suite makes 50 keys in one up and counts tokens, calls and their pace.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BeyondTrustSandbox, type BeyondTrustSandboxOptions, type SessionKeyRecord } from "../sandbox/beyondtrust.ts";
import { listen, type Listening } from "../sandbox/http.ts";
import { backendFiles, captured, createTestStack, type TestStack } from "./helpers/stack.ts";
import { lifecycle, noOpStep } from "./helpers/step-runner.ts";
import type { SessionKeyOutputs } from "../providers/beyondtrust/lifecycle.ts";

const GENERATE = "POST /api/command?action=generate_session_key";
const HOUR = 3_600_000;

interface BtTest {
    sandbox: BeyondTrustSandbox;
    url: string;
    secret: string;
    /** When each generate_session_key request arrived (ms, monotonic). */
    arrivals: number[];
    config(): ConfigMap;
    close(): Promise<void>;
}

async function startBt(options: BeyondTrustSandboxOptions = {}): Promise<BtTest> {
    const secret = `bt-e2e-secret-${crypto.randomUUID()}`;
    const clientId = "keyfleet_e2e_account";
    const sandbox = new BeyondTrustSandbox({ client: { id: clientId, secret }, ...options });
    const arrivals: number[] = [];
    const server: Listening = await listen((req, res, url) => {
        // keyfleet sends commands as form POSTs (the action is in the body); every command here is generate_session_key.
        if (url.pathname === "/api/command" && (req.method === "POST" || url.searchParams.get("action") === "generate_session_key")) arrivals.push(performance.now());
        return sandbox.handler(req, res, url);
    }, 0);
    return {
        sandbox,
        url: server.url,
        secret,
        arrivals,
        config: () => ({
            "keyfleet:beyondtrust": { value: JSON.stringify({ url: server.url, clientId }) },
            "keyfleet:beyondtrustClientSecret": { value: secret, secret: true },
        }),
        close: () => server.close(),
    };
}

/** The customer side: whether the appliance takes the short key, and the key URL (on the sandbox's host). */
async function customer(t: BtTest, key: { shortKey: string; keyUrl: string }): Promise<[number, number]> {
    const a = await fetch(`${t.url}/api/start_session?short_key=${key.shortKey}`);
    await a.arrayBuffer();
    const b = await fetch(`${t.url}/?ak=${new URL(key.keyUrl).searchParams.get("ak")}`);
    await b.arrayBuffer();
    return [a.status, b.status];
}

/** A key as the stack exports it: the resource's outputs, and its id. */
type KeyOut = Pick<SessionKeyOutputs, "shortKey" | "keyUrl" | "mailBody" | "mailSubject" | "expires" | "queue" | "queueId" | "available" | "fingerprint" | "targetQueue"> & { id: string };

async function outputs(s: TestStack): Promise<Record<string, KeyOut>> {
    const outs = await s.stack.outputs();
    return (outs.keys?.value ?? {}) as Record<string, KeyOut>;
}

const record = (t: BtTest, k: KeyOut): SessionKeyRecord | undefined => t.sandbox.keys.get(new URL(k.keyUrl).searchParams.get("ak") ?? "");

const P = "beyondtrust/sessionKey/";
const yaml = (o: { issuePriority?: number; withRep?: boolean } = {}) => `beyondtrust:
  sessionKeys:
    - name: web intake
      queue: team:1
      ttl: 604800
      externalKey: ABC1234
      custom: { custom_field1: Custom Value }
      priority: 1
      skills: [codename1, codename2]
      urlHostname: support.example.com
      renewBefore: 1d
    - name: general
      queue: general
${o.withRep === false ? "" : "    - name: rep\n      queue: rep:1\n"}    - name: by username
      queue: rep_username:admin
    - name: issue
      queue: issue:other
      priority: ${o.issuePriority ?? 2}
`;

describe("BeyondTrust session keys through pulumi up", () => {
    let t: BtTest;
    let s: TestStack;
    const states: string[] = [];
    /** Every key the stack has held, by step, for the customer-side checks after it forgot them. */
    const seen: KeyOut[] = [];

    /** Moves both clocks: the sandbox's and the run's (KEYFLEET_CLOCK_OFFSET_MS, program and provider). */
    function moveClocks(ms: number) {
        t.sandbox.clockOffsetMs = ms;
        s.stack.workspace.envVars.KEYFLEET_CLOCK_OFFSET_MS = String(ms);
    }

    beforeAll(async () => {
        t = await startBt();
        s = await createTestStack(t, yaml());
    });
    afterAll(async () => {
        await s?.cleanup();
        await t?.close();
    });

    let first: Record<string, KeyOut>;
    let calls = 0;
    let live = 0;

    lifecycle({
        stack: () => s,
        afterApply: async () => {
            states.push(await s.exportState());
            seen.push(...Object.values(await outputs(s)));
        },
        steps: [
            {
                name: "step 1 create: a key for each queue form, made with one token, usable by a customer",
                yaml: yaml(),
                changes: { create: 6 }, // five keys and the stack
                check: async () => {
                    expect(t.sandbox.stats.tokensIssued).toBe(1);
                    expect(t.sandbox.stats.byRoute[GENERATE]).toBe(5);
                    first = await outputs(s);
                    expect(Object.keys(first).sort()).toEqual([`${P}by username`, `${P}general`, `${P}issue`, `${P}rep`, `${P}web intake`]);
                    const wanted: Record<string, Partial<SessionKeyRecord>> = {
                        "web intake": { queue: "team", queueId: 1, externalKey: "ABC1234", custom: { custom_field1: "Custom Value" }, priority: 1, skills: ["codename1", "codename2"], ttl: 86400 },
                        general: { queue: "general", queueId: null, priority: null, ttl: null },
                        rep: { queue: "rep", queueId: 1 },
                        "by username": { queue: "rep", queueId: 1 },
                        issue: { queue: "team", queueId: 1, priority: 2 },
                    };
                    for (const [name, want] of Object.entries(wanted)) {
                        const k = first[`${P}${name}`];
                        const r = record(t, k)!;
                        expect(r, name).toMatchObject({ ...want, shortKey: k.shortKey, keyUrl: k.keyUrl });
                        // Plain outputs as the appliance answered; the id is a fingerprint, never the short key.
                        expect(k).toMatchObject({ queue: r.queue, queueId: r.queueId, available: true, mailSubject: "Remote Support Invitation", expires: new Date(r.expires * 1000).toISOString() });
                        expect(k.id).toMatch(/^bts_[0-9a-f]{16}$/);
                        expect(k.id).toBe(k.fingerprint);
                        expect(k.id).not.toContain(k.shortKey);
                        expect(k.mailBody).toContain(k.keyUrl);
                        expect(await customer(t, k)).toEqual([200, 200]);
                    }
                    expect(new URL(first[`${P}web intake`].keyUrl).host).toBe("support.example.com");
                    // The secrets are encrypted in state.
                    const resources = JSON.parse(states[0]).checkpoint.latest.resources.filter((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/beyondtrust:SessionKey");
                    expect(resources).toHaveLength(5);
                    for (const r of resources) for (const secret of ["shortKey", "keyUrl", "mailBody"]) expect(r.outputs[secret].ciphertext).toMatch(/^v1:/);
                },
            },
            noOpStep("step 2 no-op: an up and a preview change nothing and call no vendor", { same: 6 }, () => t.sandbox.stats.total),
            {
                name: "step 3 replace: a priority change makes a new key; the old one is forgotten, not revoked",
                yaml: yaml({ issuePriority: 3 }),
                changes: { replace: 1, same: 5 },
                check: async () => {
                    expect(t.sandbox.stats.byRoute[GENERATE]).toBe(6);
                    const now = await outputs(s);
                    const [before, after] = [first[`${P}issue`], now[`${P}issue`]];
                    expect(after.shortKey).not.toBe(before.shortKey);
                    expect(after.id).not.toBe(before.id);
                    expect(record(t, after)).toMatchObject({ priority: 3, queue: "team", queueId: 1 });
                    expect(await customer(t, after)).toEqual([200, 200]);
                    // The appliance cannot revoke it: it works until it expires.
                    expect(await customer(t, before)).toEqual([200, 200]);
                    for (const name of ["web intake", "general", "rep", "by username"]) expect(now[`${P}${name}`].id).toBe(first[`${P}${name}`].id);
                    first = now;
                },
            },
            {
                name: "step 4 renew: 13 hours later, up replaces the key within renewBefore, with no YAML change",
                // web intake: ttl 604800 asked, the appliance's 24 h given; renewBefore 1d is capped at half
                // of that (12 h), so 11 h before expiry it is due. The others (a tenth: 2.4 h) are not.
                before: async () => {
                    moveClocks(13 * HOUR);
                    calls = t.sandbox.stats.byRoute[GENERATE];
                },
                plan: { changes: { replace: 1, same: 5 }, check: async () => expect(t.sandbox.stats.byRoute[GENERATE]).toBe(calls) },
                changes: { replace: 1, same: 5 },
                check: async () => {
                    expect(t.sandbox.stats.byRoute[GENERATE]).toBe(calls + 1);
                    const now = await outputs(s);
                    const [before, after] = [first[`${P}web intake`], now[`${P}web intake`]];
                    expect(after.id).not.toBe(before.id);
                    // Made 13 hours (and the seconds of the steps between) after the key it replaces.
                    expect(Date.parse(after.expires) - Date.parse(before.expires)).toBeGreaterThanOrEqual(13 * HOUR);
                    expect(Date.parse(after.expires) - Date.parse(before.expires)).toBeLessThan(14 * HOUR);
                    expect(record(t, after)).toMatchObject({ priority: 1, externalKey: "ABC1234", custom: { custom_field1: "Custom Value" }, skills: ["codename1", "codename2"] });
                    for (const name of ["general", "rep", "by username", "issue"]) expect(now[`${P}${name}`].id).toBe(first[`${P}${name}`].id);
                    first = now;
                },
            },
            {
                name: "step 5 expiry: 24.5 hours in, past the first keys' expiry the customer side refuses them and takes the renewed one; refresh drops expired keys and up makes new ones",
                before: async () => {
                    moveClocks(24.5 * HOUR);
                    const oldWebIntake = seen.find((k) => k.targetQueue === "team:1" && k.id !== first[`${P}web intake`].id && record(t, k)?.priority === 1)!;
                    expect(oldWebIntake).toBeDefined();
                    expect(await customer(t, oldWebIntake)).toEqual([404, 404]);
                    expect(await customer(t, first[`${P}web intake`])).toEqual([200, 200]);
                    for (const name of ["general", "rep", "by username", "issue"]) expect(await customer(t, first[`${P}${name}`])).toEqual([404, 404]);
                    calls = t.sandbox.stats.byRoute[GENERATE];
                },
                refresh: true,
                changes: { create: 4, same: 2 },
                check: async () => {
                    expect(t.sandbox.stats.byRoute[GENERATE]).toBe(calls + 4);
                    const now = await outputs(s);
                    expect(now[`${P}web intake`].id).toBe(first[`${P}web intake`].id);
                    for (const k of Object.values(now)) expect(await customer(t, k)).toEqual([200, 200]);
                    first = now;
                },
            },
            {
                name: "step 6 remove: an entry removed from the YAML is forgotten with a warning, and stays usable until it expires",
                before: async () => void (calls = t.sandbox.stats.total),
                yaml: yaml({ issuePriority: 3, withRep: false }),
                changes: { delete: 1, same: 5 },
                check: async ({ printed }) => {
                    const rep = first[`${P}rep`];
                    expect(printed).toContain(`session key "rep" (${rep.id}) is no longer managed: keyfleet forgets it, but BeyondTrust cannot revoke a session key, so it stays usable until it expires at ${rep.expires}`);
                    expect(t.sandbox.stats.total).toBe(calls);
                    expect(await customer(t, rep)).toEqual([200, 200]);
                    expect(Object.keys(await outputs(s))).not.toContain(`${P}rep`);
                },
            },
        ],
        destroy: {
            name: "step 7 destroy: state is empty, no vendor was called, and the keys expire by themselves",
            before: async () => {
                calls = t.sandbox.stats.total;
                live = t.sandbox.liveKeys().length;
            },
            check: async () => {
                expect(t.sandbox.stats.total).toBe(calls);
                expect(t.sandbox.liveKeys()).toHaveLength(live);
                t.sandbox.advance(25 * HOUR);
                expect(t.sandbox.liveKeys()).toHaveLength(0);
            },
            // BeyondTrust cannot revoke a session key, nor list them: what is left of the stack is
            // every key it ever held that the customer side still takes (none, once they expired).
            remaining: async () => {
                const taken = new Set<string>();
                for (const k of seen) if ((await customer(t, k)).includes(200)) taken.add(k.id);
                return [...taken];
            },
        },
    });

    it("no key value, key URL, mail body or credential appears in state, its history, CLI output or stack config", async () => {
        const backend = backendFiles(path.join(s.dir, "state"));
        expect(backend.length).toBeGreaterThan(5);
        const haystack = [...states, ...backend, ...s.output, fs.readFileSync(`${s.dir}/Pulumi.e2e.yaml`, "utf8")].join("\n");
        const long = [t.secret, ...t.sandbox.issued.tokens, ...[...t.sandbox.keys.values()].flatMap((k) => [k.accessKey, k.keyUrl])];
        expect(long.length).toBeGreaterThan(20);
        expect(long.filter((secret) => haystack.includes(secret))).toEqual([]);
        // Short keys are seven digits: looked for as whole tokens, not inside longer numbers or base64.
        const shortKeys = [...t.sandbox.keys.values()].map((k) => k.shortKey);
        expect(shortKeys.length).toBe(t.sandbox.keys.size);
        expect(shortKeys.filter((k) => new RegExp(`(?<![A-Za-z0-9+/])${k}(?![A-Za-z0-9+/=])`).test(haystack))).toEqual([]);
        // Not vacuous: the scan looks where the keys would be (their outputs, encrypted).
        expect(states[0]).toMatch(/"shortKey":\s*\{[^}]*"ciphertext"/);
    });
});

describe("50 session keys in one up", () => {
    let t: BtTest;
    let s: TestStack;
    const N = 50;

    beforeAll(async () => {
        t = await startBt();
        const list = Array.from({ length: N }, (_, i) => `    - name: k${i}\n      queue: ${["general", "team:1", "rep:1", "issue:other", "rep_username:admin"][i % 5]}`).join("\n");
        s = await createTestStack(t, `beyondtrust:\n  sessionKeys:\n${list}\n`);
    });
    afterAll(async () => {
        await s?.cleanup();
        await t?.close();
    });

    it("use exactly one token and stay under 20 requests per second", { timeout: 180_000 }, async () => {
        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: N + 1 });
        const a = [...t.arrivals].sort((x, y) => x - y);
        // The most requests that arrived within any one second, and the pace over the whole run.
        let busiest = 0;
        for (let i = 0, j = 0; j < a.length; j++) {
            while (a[j] - a[i] >= 1000) i++;
            busiest = Math.max(busiest, j - i + 1);
        }
        const perSecond = ((a.length - 1) * 1000) / (a[a.length - 1] - a[0]);
        console.log(
            `50 keys: ${t.sandbox.stats.tokensIssued} token request(s), ${t.sandbox.stats.total} vendor calls ` +
                `(${JSON.stringify(t.sandbox.stats.byRoute)}), busiest second ${busiest} requests, average ${perSecond.toFixed(1)}/s`,
        );
        expect(t.sandbox.stats.tokensIssued).toBe(1);
        // Exactly one call per key: the sandbox (20 per second per account) refused none.
        expect(t.sandbox.stats.byRoute[GENERATE]).toBe(N);
        expect(t.sandbox.stats.total).toBe(N + 1);
        expect(t.sandbox.liveKeys()).toHaveLength(N);
        expect(busiest).toBeLessThanOrEqual(20);
        expect(perSecond).toBeLessThan(20.5);
        await s.stack.destroy(captured(s));
    });
});

