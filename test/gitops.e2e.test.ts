// The GitOps pipeline's shell equivalent (scripts/gitops.sh), end to end: a scratch copy of the
// repository (its own file backend) whose stack points at a Genesys sandbox of the test's own.
// apply → drift passes → a key disabled in Nexus by hand → drift fails naming it → apply → drift
// passes; a pull request's preview summarises created, replaced (and why) and deleted keys.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import { BeyondTrustSandbox } from "../sandbox/beyondtrust.ts";
import { listen, type Listening } from "../sandbox/http.ts";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";
import { scratchRepo, type Run, type ScratchRepo } from "./helpers/repo.ts";

let t: TestSandbox;
let bt: { server: Listening; secret: string };
let repo: ScratchRepo;
const runs: Run[] = [];

const keys = (tenant: string) => `nexus:
  contactCenter: ${CC}
  tenantKeys:
${tenant}
`;

async function gitops(...args: string[]): Promise<Run> {
    const run = await repo.run("bash", ["scripts/gitops.sh", ...args], {
        env: {
            PULUMI_CONFIG_PASSPHRASE: "gitops-e2e",
            // Credentials from the pipeline's environment, as a CI secret store would give them.
            KEYFLEET_NEXUS_CLIENT_SECRET: t.creds.clientSecret,
            KEYFLEET_NEXUS_TENANT_PASSWORD: t.creds.tenantPassword,
            KEYFLEET_BEYONDTRUST_URL: bt.server.url,
            KEYFLEET_BEYONDTRUST_CLIENT_ID: "gitops_account",
            KEYFLEET_BEYONDTRUST_CLIENT_SECRET: bt.secret,
            KEYFLEET_GITOPS_EXCLUDE: "",
        },
    });
    runs.push(run);
    return run;
}

const git = (...args: string[]) => repo.run("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args]);

async function remote() {
    return new Map((await t.client.list(t.tenantLogin)).map((k) => [k.name, k]));
}

beforeAll(async () => {
    t = await startSandbox();
    const secret = `bt-gitops-${crypto.randomUUID()}`;
    const sandbox = new BeyondTrustSandbox({ client: { id: "gitops_account", secret } });
    bt = { secret, server: await listen((req, res, url) => sandbox.handler(req, res, url), 0) };
    repo = scratchRepo();
    repo.write("config/e2e.yaml", keys("    - name: web chat\n    - name: ci"));
    repo.write("stacks/Pulumi.e2e.yaml", `config:\n  keyfleet:nexus:\n    authUrl: ${t.url}\n    nexusUrl: ${t.url}\n`);
});
afterAll(async () => {
    repo?.cleanup();
    await t?.close();
    await bt?.server.close();
});

describe("scripts/gitops.sh", () => {
    it("changed: the environments whose keys or stack settings a commit touched; all of them when the program did", async () => {
        await git("init", "-q", "-b", "main");
        await git("add", "-A");
        await git("commit", "-q", "-m", "one");
        repo.write("config/qa.yaml", keys("    - name: qa"));
        repo.write("stacks/Pulumi.qa.yaml", "config: {}\n");
        await git("add", "-A");
        await git("commit", "-q", "-m", "qa");
        expect((await gitops("changed", "HEAD~1")).stdout.trim().split("\n")).toEqual(["qa"]);
        fs.appendFileSync(path.join(repo.dir, "stacks", "index.ts"), "\n");
        await git("commit", "-q", "-am", "program");
        expect((await gitops("changed", "HEAD~1")).stdout.trim().split("\n")).toEqual(["e2e", "qa"]);
        const bad = await gitops("changed", "no-such-ref");
        expect(bad.status).not.toBe(0);
        expect(bad.stderr).toContain("unknown git revision 'no-such-ref'");
    });

    it("apply, then drift: no change, although every preview reads the stack's own outputs (by an invoke: no resource of its own)", async () => {
        const up = await gitops("apply", "e2e");
        expect(up.status, up.stderr).toBe(0);
        expect([...(await remote()).keys()].sort()).toEqual(["ci", "web chat"]);
        const drift = await gitops("drift", "e2e");
        expect(drift.status, drift.stdout + drift.stderr).toBe(0);
        expect(drift.stderr).toContain("no drift in stack e2e");
        // The record is read without a StackReference, which copied every output into state and
        // showed as a read in every preview.
        expect(repo.read(".keyfleet/gitops/e2e.drift.txt")).not.toMatch(/keyfleet-last-run|StackReference/);
    });

    it("a key disabled in Nexus by hand: drift exits 3 naming the key and the field", async () => {
        const ci = (await remote()).get("ci")!;
        await t.client.update(t.tenantLogin, ci.id, { enabled: false });
        const drift = await gitops("drift", "e2e");
        expect(drift.status).toBe(3);
        expect(drift.stderr).toContain("drift check of stack e2e: 1 finding (1 drift at the vendor)");
        expect(drift.stderr).toContain("nexus/tenant/ci: changed at the vendor (enabled: true → false; apply sets the YAML's values again)");
        expect(repo.read(".keyfleet/gitops/e2e.drift.md")).toContain("| changed at the vendor | `nexus/tenant/ci` | enabled: true → false;");
        // The apply's plan is keyfleet's plan (ops/plan.ts), the text `npm run preview` prints.
        expect(repo.read(".keyfleet/gitops/e2e.drift.md")).toMatch(/^ {2}update +nexus\/tenant\/ci +enabled: false → true \(changed at the vendor\)$/m);
    });

    it("apply puts it back; drift passes again", async () => {
        expect((await gitops("apply", "e2e")).status).toBe(0);
        expect((await remote()).get("ci")?.enabled).toBe(true);
        const drift = await gitops("drift", "e2e");
        expect(drift.status, drift.stderr).toBe(0);
    });

    it("preview of a pull request validates first: a YAML mistake stops it at its line, before any preview", async () => {
        const good = repo.read("config/e2e.yaml");
        repo.write("config/e2e.yaml", keys("    - name: web chat\n      rotaton: { generation: 2 }"));
        try {
            const started = Date.now();
            const preview = await gitops("preview", "e2e");
            expect(preview.status).toBe(1);
            expect(preview.stderr).toContain('error: config/e2e.yaml:5:7 nexus.tenantKeys[0].rotaton: unknown field "rotaton"');
            expect(preview.stderr).toContain("validate found errors in environment e2e; no preview was run");
            // No preview ran: none kept, and well under a preview's seconds.
            expect(repo.exists(".keyfleet/gitops/e2e.preview.txt")).toBe(false);
            expect(Date.now() - started).toBeLessThan(5000);
        } finally {
            repo.write("config/e2e.yaml", good);
        }
    });

    it("preview of a pull request: the output kept, and a summary of created, replaced (why) and deleted keys", async () => {
        repo.write("config/e2e.yaml", keys("    - name: web chat\n      rotation: { generation: 2 }\n    - name: chat2"));
        const before = await remote();
        const preview = await gitops("preview", "e2e");
        expect(preview.status, preview.stderr).toBe(0);
        const summary = repo.read(".keyfleet/gitops/e2e.preview.md");
        expect(summary).toContain("1 to create, 0 to update, 1 to rotate, 0 to replace, 1 to delete; 0 unchanged");
        expect(summary).toMatch(/^ {2}rotate +nexus\/tenant\/web chat +rotation generation 0 → 2; a new key replaces it$/m);
        expect(summary).toMatch(/^ {2}create +nexus\/tenant\/chat2 +new in the YAML$/m);
        expect(summary).toMatch(/^ {2}delete +nexus\/tenant\/ci +no longer in the YAML; the vendor keeps nothing \(the key is deleted at Nexus\)$/m);
        // The diff itself is the artifact.
        expect(repo.read(".keyfleet/gitops/e2e.preview.txt")).toMatch(/\+\+nexus:tenant:TenantKey|\+-.*web chat|replace/);
        // A preview changes nothing at the vendor.
        expect([...(await remote()).values()].map((k) => k.id).sort()).toEqual([...before.values()].map((k) => k.id).sort());
    });

    // Issue 18, finding 8: a key that merely expires within the window is "expiring" with its date
    // (BeyondTrust's read drops it on the moved clock: not "missing at the vendor"), a Nexus key
    // expiring in 5 days is a finding and not only a warning, and YAML not yet applied says so.
    it("drift --within 7d: findings say what they are, with the date", async () => {
        const soon = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
        repo.write("config/soon.yaml", `${keys(`    - name: five days\n      expires: ${soon}`)}beyondtrust:\n  sessionKeys:\n    - name: desk\n      queue: general\n`);
        repo.write("stacks/Pulumi.soon.yaml", `config:\n  keyfleet:nexus:\n    authUrl: ${t.url}\n    nexusUrl: ${t.url}\n`);
        const up = await gitops("apply", "soon");
        expect(up.status, up.stderr).toBe(0);
        const now = await gitops("drift", "soon");
        expect(now.status, now.stderr).toBe(0);
        expect(now.stderr).toContain("no drift in stack soon");

        const week = await gitops("drift", "soon", "--within", "7d");
        expect(week.status, week.stderr).toBe(3);
        expect(week.stderr).toContain("drift check of stack soon: 2 findings (0 drift at the vendor)");
        expect(week.stderr).toContain(`nexus/tenant/five days: expiring (expires within 7d, on ${soon}T23:59:59.000Z, and nothing rotates it)`);
        // The session key's renewal (the report's schedule) replaces it before it expires, and the finding says so.
        expect(week.stderr).toMatch(/beyondtrust\/sessionKey\/desk: expiring \(expires within 7d, on \d{4}-\d\d-\d\dT[^;]*; its next rotation replaces it first, on \S+ \(session key expires/);
        expect(week.stderr).not.toMatch(/missing at the vendor|new in the YAML/);
        expect(repo.read(".keyfleet/gitops/soon.drift.md")).toContain(`| expiring | \`nexus/tenant/five days\` | expires within 7d, on ${soon}T23:59:59.000Z, and nothing rotates it |`);

        repo.write("config/soon.yaml", `${keys(`    - name: five days\n      expires: ${soon}\n    - name: later`)}beyondtrust:\n  sessionKeys:\n    - name: desk\n      queue: general\n`);
        const pending = await gitops("drift", "soon");
        expect(pending.status, pending.stderr).toBe(3);
        expect(pending.stderr).toContain("drift check of stack soon: 1 finding (0 drift at the vendor)");
        expect(pending.stderr).toContain("nexus/tenant/later: not yet applied (new in the YAML)");
    });

    it("no credential or key value in any output or kept file", async () => {
        const kept = fs.readdirSync(path.join(repo.dir, ".keyfleet", "gitops")).map((f) => repo.read(path.join(".keyfleet", "gitops", f)));
        const text = [...runs.map((r) => r.stdout + r.stderr), ...kept].join("\n");
        for (const secret of [...t.secrets(), bt.secret]) expect(text.includes(secret), "a secret leaked").toBe(false);
    });
});
