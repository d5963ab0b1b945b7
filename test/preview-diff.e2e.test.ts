// What `pulumi preview --diff` shows per key (issue 14): after an out-of-band change at each vendor,
// the plan names the vendor field that differs (old value from the vendor, new from the YAML) and
// never the core's bookkeeping inputs. One stack holds a key of every vendor, through the real
// engine and keyfleet's dynamic-provider plugin (toolchain/dynamic-provider.ts), which is what
// hands the providers' field lists to the engine.
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BeyondTrustSandbox } from "../sandbox/beyondtrust.ts";
import { listen, type Listening } from "../sandbox/http.ts";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { startScp, type ScpTestSandbox } from "./helpers/supportcenter.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";
import { captured, createTestStack, expectNoChanges, type TestStack } from "./helpers/stack.ts";

const yaml = (o: { ttl?: number } = {}) => `nexus:
  contactCenter: ${CC}
  clusterKeys:
    - name: monitoring
supportcenter:
  integrationKeys:
    - name: jira sync
      roles: [Technician]
      owner: admin
      description: Jira integration
supportsystem:
  apiKeys:
    - name: web form
      ip: 127.0.0.1
beyondtrust:
  sessionKeys:
    - name: web intake
      queue: general
      ttl: ${o.ttl ?? 604800}
`;

/** The core's bookkeeping inputs: internal to keyfleet, never a change the operator should read. */
const BOOKKEEPING = ["predecessor", "holdPrevious", "interrupted", "vendor"];

let nexus: TestSandbox;
let scp: ScpTestSandbox;
let desk: HelpDesk;
let bt: { sandbox: BeyondTrustSandbox; server: Listening; config(): Record<string, { value: string; secret?: boolean }> };
let s: TestStack;

beforeAll(async () => {
    [nexus, scp, desk] = await Promise.all([startSandbox(), startScp(), startHelpDesk({ transport: "database" })]);
    const secret = `bt-diff-secret-${crypto.randomUUID()}`;
    const sandbox = new BeyondTrustSandbox({ client: { id: "keyfleet_diff", secret } });
    const server = await listen(sandbox.handler, 0);
    bt = {
        sandbox,
        server,
        config: () => ({
            "keyfleet:beyondtrust": { value: JSON.stringify({ url: server.url, clientId: "keyfleet_diff" }) },
            "keyfleet:beyondtrustClientSecret": { value: secret, secret: true },
        }),
    };
    s = await createTestStack([nexus, scp, desk, bt], yaml());
});
afterAll(async () => {
    await s?.cleanup();
    await Promise.all([nexus?.close(), scp?.close(), desk?.close(), bt?.server.close()]);
});

/** What `preview --diff` printed for the planned step of one resource (not its refresh). */
function block(text: string, name: string): string {
    const header = /^\s*[~+\-]+\s*pulumi-nodejs:dynamic\/\S+: \(([\w-]+)\)/;
    const blocks: string[][] = [];
    for (const line of text.split("\n")) {
        if (header.test(line) || /^\s*(--outputs:--|Resources:)/.test(line)) blocks.push([]);
        blocks.at(-1)?.push(line);
    }
    const found = blocks.find((b) => header.test(b[0] ?? "") && header.exec(b[0]!)![1] !== "refresh" && b.some((l) => l.includes(`::${name}]`)));
    if (!found) throw new Error(`no planned step for ${name} in:\n${text}`);
    return found.join("\n");
}

async function previewDiff(): Promise<string> {
    const lines: string[] = [];
    await s.stack.preview({ ...captured(s), refresh: true, diff: true, onOutput: (l) => (lines.push(l), s.output.push(l)) });
    return lines.join("");
}

describe("preview --diff names the vendor fields that differ", () => {
    let outs: Record<string, Record<string, unknown>>;

    it("create, then an empty plan", async () => {
        const result = await s.stack.up(captured(s));
        expect(result.summary.resourceChanges).toMatchObject({ create: 5 });
        outs = (await s.stack.outputs()).keys.value as Record<string, Record<string, unknown>>;
        expectNoChanges((await s.stack.preview({ ...captured(s), refresh: true })).changeSummary);
    });

    it("out-of-band changes at each vendor show as the vendor's field, old value to new", async () => {
        const nexusKey = (await s.apiKeys())["nexus/cluster/monitoring"];
        await nexus.client.update(nexus.opsLogin, nexusKey, { enabled: false });
        scp.sandbox.editKey(String(outs["supportcenter/jira sync"].id), { status: "inactive", description: "edited in the UI" });
        await desk.db.query(`UPDATE \`${desk.db.table}\` SET isactive = 0 WHERE id = ?`, [Number(outs["supportsystem/web form"].id)]);
        // BeyondTrust cannot change a session key out of band (the appliance has no edit); its YAML changes instead.
        s.writeKeys(yaml({ ttl: 86400 }));

        const text = await previewDiff();
        const nx = block(text, "nexus/cluster/monitoring");
        expect(nx).toMatch(/~\s*enabled\s*:\s*false\s*=>\s*true/);
        const sc = block(text, "supportcenter/jira sync");
        expect(sc).toMatch(/~\s*status\s*:\s*"inactive"\s*=>\s*"active"/);
        expect(sc).toMatch(/~\s*description\s*:\s*"edited in the UI"\s*=>\s*"Jira integration"/);
        const ss = block(text, "supportsystem/web form");
        expect(ss).toMatch(/~\s*active\s*:\s*false\s*=>\s*true/);
        const b = block(text, "beyondtrust/sessionKey/web intake");
        expect(b).toMatch(/~\s*ttl\s*:\s*604800\s*=>\s*86400/);
        for (const part of [nx, sc, ss, b]) {
            for (const internal of BOOKKEEPING) expect(part).not.toMatch(new RegExp(`[~+-]\\s*${internal}\\b`));
            // The summary bracket lists the same fields, not the inputs the engine would compare.
            expect(part).not.toContain("predecessor");
        }
    });

    it("up converges and the plan is empty again", async () => {
        await s.stack.up({ ...captured(s), refresh: true });
        expectNoChanges((await s.stack.preview({ ...captured(s), refresh: true })).changeSummary);
    });

    it("a YAML that drops every key says so loudly; an empty file is refused before any vendor call", async () => {
        s.writeKeys("{}\n");
        const lines: string[] = [];
        const preview = await s.stack.preview({ ...captured(s), onOutput: (l) => (lines.push(l), s.output.push(l)) });
        expect(preview.changeSummary).toMatchObject({ delete: 4 });
        expect(lines.join("")).toMatch(/this run deletes EVERY key of stack e2e \(4: .*supportsystem\/web form.*\): config declares none/);
        s.writeKeys("# truncated by a bad merge\n");
        const calls = scp.sandbox.stats.total;
        await expect(s.stack.preview(captured(s))).rejects.toThrow(/keys\.yaml:1:1 the file holds no YAML document/);
        expect(scp.sandbox.stats.total).toBe(calls);
    });
});
