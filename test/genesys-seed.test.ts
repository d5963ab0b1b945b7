// The seed's curl flows, verbatim with the host swapped, work against the sandbox.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CC, startSandbox, type TestSandbox } from "./helpers/sandbox.ts";

let t: TestSandbox;
beforeAll(async () => {
    t = await startSandbox();
});
afterAll(() => t.close());

const blocks = fs
    .readFileSync(new URL("./fixtures/genesys-seed-curl.txt", import.meta.url), "utf8")
    .replace(/^#.*\n/gm, "")
    .split(/^---$/m)
    .map((b) => b.trim());

// Asynchronous on purpose: the sandbox answers from this very process.
async function run(block: string, vars: Record<string, string>): Promise<Record<string, unknown>> {
    // The doc: "substitute the variables - prefixed with '$' - with their values". Longest names first.
    let cmd = block.replaceAll("<client secret token>", t.creds.clientSecret);
    for (const name of Object.keys(vars).sort((a, b) => b.length - a.length)) cmd = cmd.replaceAll(`$${name}`, vars[name]);
    const { stdout } = await promisify(execFile)("bash", ["-c", `${cmd} --silent --show-error --fail-with-body`], { encoding: "utf8" });
    return JSON.parse(stdout);
}

it("runs the documented tenant, cluster and Designer flows", async () => {
    expect(blocks).toHaveLength(5);
    const vars: Record<string, string> = {
        authURL: t.url,
        nexusURL: t.url,
        ccId: CC,
        tenantUser: "nexus",
        tenantUserPassword: t.creds.tenantPassword,
        gwsAdminName: "ops",
        gwsAdminPass: t.creds.opsPassword,
        tenantName: "premise_tenant",
    };
    const tenantToken = await run(blocks[0], vars);
    expect(tenantToken).toMatchObject({ token_type: "bearer", expires_in: 43199, scope: "*" });
    vars.outGWSAccessToken = String(tenantToken.access_token);
    expect(await run(blocks[1], vars)).toMatchObject({ tenant: CC, name: "API key for premise_tenant", permissions: ["nexus:consumer:chat"], enabled: true, revoked: false, expires: false, capacity: 120, frequency: 60 });
    vars.outClusterGWSAccessToken = String((await run(blocks[2], vars)).access_token);
    expect(await run(blocks[3], vars)).toMatchObject({ tenant: "*", name: "Cluster API key", permissions: ["nexus:cluster:*"], createdby: "ops" });
    expect(await run(blocks[4], vars)).toMatchObject({ tenant: CC, name: "Designer API key", permissions: ["nexus:designer:chat"] });
    expect(t.sandbox.keys.size).toBe(3);
});
