// The key-hygiene policy pack (policy/) through the real engine: `pulumi preview --policy-pack
// policy` runs it by keyfleet's language host (RunPlugin, toolchain/language-host.ts), a mandatory
// rule broken fails the preview and the up before any key is made, an advisory one only warns; and
// `npm run validate` finds the very same violations offline, each at its file:line:col. One stack
// holds a key of every vendor, against their sandboxes.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BeyondTrustSandbox } from "../sandbox/beyondtrust.ts";
import { listen, type Listening } from "../sandbox/http.ts";
import { validate } from "../scripts/validate.ts";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { startScp, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";
import { captured, createTestStack, ROOT, type TestStack } from "./helpers/stack.ts";

// Every rule broken once, by a key of the vendor whose keys have what the rule reads; "web chat"
// breaks none of the per-key rules it is subject to, to show a compliant key passes.
const YAML = `defaults:
  rotation:
    every: 180d
nexus:
  contactCenter: ${CC}
  clusterKeys:
    - name: monitoring
  tenantKeys:
    - name: web chat
      permissions: [nexus:consumer:chat]
      expires: 2099-12-31
      rotation: { every: 30d }
supportcenter:
  integrationKeys:
    - name: jira sync
      roles: [SDAdmin]
      owner: admin
      expires: 2099-12-31
supportsystem:
  apiKeys:
    - name: web form
      ips: [127.0.0.1, 10.1.2.3]
      canCreateTickets: true
beyondtrust:
  sessionKeys:
    - name: web intake
      queue: general
      ttl: 604800
`;

const SETTINGS = {
    "rotation-max-every": { maxEvery: "90d" },
    "key-roles": { forbidden: ["SDAdmin"] },
    "key-address": { allowed: ["10.0.0.0/8"] },
    "key-ttl": { maxSeconds: 86400 },
    "rotation-min-overlap": { minOverlap: "1d" },
};
const RULES = ["key-expires", "rotation-max-every", "rotation-verify", "protect", "key-roles", "key-address", "key-single-right", "key-ttl", "rotation-delivery", "rotation-min-overlap"];
/** The violations YAML must produce, by rule and key (what the engine and validate both report). */
const EXPECTED = [
    ["key-expires", "nexus/cluster/monitoring"],
    ["rotation-max-every", "nexus/cluster/monitoring"],
    ["rotation-max-every", "supportcenter/jira sync"],
    ["rotation-max-every", "supportsystem/web form/127.0.0.1"],
    ["rotation-max-every", "supportsystem/web form/10.1.2.3"],
    ["rotation-max-every", "beyondtrust/sessionKey/web intake"],
    ["protect", "supportcenter/jira sync"],
    ["key-roles", "supportcenter/jira sync"],
    ["key-address", "supportsystem/web form/127.0.0.1"],
    ["key-single-right", "supportsystem/web form/127.0.0.1"],
    ["key-single-right", "supportsystem/web form/10.1.2.3"],
    ["key-ttl", "beyondtrust/sessionKey/web intake"],
] as [string, string][];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-policy-"));
/** A pack config setting every rule to `level` (verify, delivery and overlap always advisory: every key breaks them). */
function config(level: "mandatory" | "advisory"): string {
    const file = path.join(scratch, `${level}.json`);
    const always = ["rotation-verify", "rotation-delivery", "rotation-min-overlap"];
    const body = Object.fromEntries(RULES.map((r) => [r, { enforcementLevel: always.includes(r) ? "advisory" : level, ...(SETTINGS[r as keyof typeof SETTINGS] ?? {}) }]));
    fs.writeFileSync(file, JSON.stringify(body, null, 2));
    return file;
}

let nexus: TestSandbox;
let scp: ScpTestSandbox;
let desk: HelpDesk;
let bt: { server: Listening; secret: string; config(): Record<string, { value: string; secret?: boolean }> };
let s: TestStack;

beforeAll(async () => {
    [nexus, scp, desk] = await Promise.all([startSandbox(), startScp(), startHelpDesk({ transport: "database" })]);
    const secret = `bt-policy-secret-${crypto.randomUUID()}`;
    const server = await listen(new BeyondTrustSandbox({ client: { id: "keyfleet_policy", secret } }).handler, 0);
    bt = {
        server,
        secret,
        config: () => ({
            "keyfleet:beyondtrust": { value: JSON.stringify({ url: server.url, clientId: "keyfleet_policy" }) },
            "keyfleet:beyondtrustClientSecret": { value: secret, secret: true },
        }),
    };
    s = await createTestStack([nexus, scp, desk, bt], YAML);
});
afterAll(async () => {
    await s?.cleanup();
    await Promise.all([nexus?.close(), scp?.close(), desk?.close(), bt?.server.close()]);
    fs.rmSync(scratch, { recursive: true, force: true });
});

const PACK = path.join(ROOT, "policy");

/** The policy violations the engine printed: [level, rule, message] per violation (each once: the CLI's error repeats its output). */
function violations(printed: string): [string, string, string][] {
    const out: [string, string, string][] = [];
    const seen = new Set<string>();
    const lines = printed.split("\n");
    lines.forEach((line, i) => {
        const head = /^\s*- \[(mandatory|advisory)\]\s+(\S+)\s+\(/.exec(line);
        if (!head) return;
        // The rule's description, then the message (the key's name leads every message).
        const message = lines.slice(i + 1, i + 4).map((l) => l.trim()).find((l) => l.startsWith("key \""));
        const v: [string, string, string] = [head[1]!, head[2]!, message ?? ""];
        if (!seen.has(v.join("\n"))) out.push(v);
        seen.add(v.join("\n"));
    });
    return out;
}

/** Rule and key of each message (the key's resource name is the first quoted string). */
const ruleKey = (rule: string, message: string) => [rule, /^key "([^"]+)"/.exec(message)?.[1] ?? message] as [string, string];
const sorted = (list: [string, string][]) => list.map((e) => e.join(" | ")).sort();

async function run(op: "preview" | "up", file: string): Promise<{ ok: boolean; printed: string }> {
    const lines: string[] = [];
    const opts = { ...captured(s), policyPacks: [PACK], policyPackConfigs: [file], onOutput: (l: string) => (lines.push(l), s.output.push(l)) };
    try {
        if (op === "preview") await s.stack.preview(opts);
        else await s.stack.up(opts);
        return { ok: true, printed: lines.join("") };
    } catch (err) {
        return { ok: false, printed: lines.join("") + String((err as Error).message) };
    }
}

describe("key-hygiene policy pack", () => {
    it("a mandatory rule broken fails the preview, naming each key; validate finds the same at file:line:col", async () => {
        const mandatory = config("mandatory");
        const preview = await run("preview", mandatory);
        expect(preview.ok, preview.printed).toBe(false);
        const found = violations(preview.printed);
        const engineMandatory = found.filter(([level]) => level === "mandatory").map(([, rule, message]) => ruleKey(rule, message));
        expect(sorted(engineMandatory)).toEqual(sorted(EXPECTED));

        const keysFile = path.join(s.dir, "keys.yaml");
        const offline = validate(keysFile, undefined, mandatory);
        const offlineMandatory = offline.errors.map((e) => {
            const m = /^\[mandatory\] (\S+): (.*)$/.exec(e.message)!;
            return { rule: m[1]!, message: m[2]!, at: `${e.file}:${e.line}:${e.col}` };
        });
        // The same rule, key and words as the engine's.
        expect(sorted(offlineMandatory.map((v) => ruleKey(v.rule, v.message)))).toEqual(sorted(engineMandatory));
        for (const v of offlineMandatory) expect(found.map(([, , m]) => m)).toContain(v.message);
        // Each at the YAML's place of what it is about: the roles, the address of that key among ips,
        // the right written, the ttl; the entry where the YAML leaves the value out (an expiry).
        const at = (rule: string, key: string) => offlineMandatory.find((v) => v.rule === rule && v.message.includes(`"${key}"`))!.at;
        const file = offline.errors[0]!.file;
        expect(at("key-roles", "supportcenter/jira sync")).toBe(`${file}:16:14`);
        expect(at("key-address", "supportsystem/web form/127.0.0.1")).toBe(`${file}:22:13`);
        expect(at("key-single-right", "supportsystem/web form/10.1.2.3")).toBe(`${file}:23:25`);
        expect(at("key-ttl", "beyondtrust/sessionKey/web intake")).toBe(`${file}:28:12`);
        expect(at("key-expires", "nexus/cluster/monitoring")).toBe(`${file}:7:7`);
        // The advisory ones are validate's warnings, as the engine's are warnings.
        const engineAdvisory = found.filter(([level]) => level === "advisory").map(([, rule, message]) => ruleKey(rule, message));
        const offlineAdvisory = offline.warnings.map((w) => /^\[advisory\] (\S+): (.*)$/.exec(w.message)).filter((m) => m !== null).map((m) => ruleKey(m[1]!, m[2]!));
        expect(engineAdvisory.length).toBeGreaterThan(0);
        expect(sorted(offlineAdvisory)).toEqual(sorted(engineAdvisory));
    });

    // Automation API's up skips the preview (keyfleet.sh's does not, and stops there, before any
    // change): each key is then judged as it is registered, and no key that breaks a mandatory rule is made.
    it("the up fails and makes no key that breaks a mandatory rule", async () => {
        const up = await run("up", config("mandatory"));
        expect(up.ok, up.printed).toBe(false);
        // The engine stops at the first key refused: its violations are among the expected ones.
        const refused = violations(up.printed).filter(([level]) => level === "mandatory");
        expect(refused.length).toBeGreaterThan(0);
        expect(sorted(EXPECTED)).toEqual(expect.arrayContaining(sorted(refused.map(([, rule, message]) => ruleKey(rule, message)))));
        const made = (await s.resources()).filter((urn) => urn.includes("pulumi-nodejs:dynamic/")).map((urn) => urn.split("::").at(-1)!);
        expect(made.filter((name) => EXPECTED.some(([, key]) => key === name))).toEqual([]);
        expect(made.every((name) => name === "nexus/tenant/web chat")).toBe(true);
    });

    it("advisory rules only warn: the preview succeeds and lists each violation", async () => {
        const preview = await run("preview", config("advisory"));
        expect(preview.ok, preview.printed).toBe(true);
        const found = violations(preview.printed);
        expect(found.every(([level]) => level === "advisory")).toBe(true);
        expect(sorted(found.map(([, rule, message]) => ruleKey(rule, message)))).toEqual(expect.arrayContaining(sorted(EXPECTED)));
        // The pack sees the resources' inputs; nothing it or the engine printed holds a credential or key.
        const all = s.output.join("");
        for (const secret of [...nexus.secrets(), ...scp.secrets(), desk.password, bt.secret, ...Object.values(await s.apiKeys())]) if (secret) expect(all).not.toContain(secret);
    });
});
