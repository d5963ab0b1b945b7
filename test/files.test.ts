// Files keyfleet writes that hold key values are readable by their owner only (defect 14).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GenesysSandbox } from "../sandbox/genesys.ts";
import { listen } from "../sandbox/http.ts";
import { NexusClient } from "../providers/nexus/client.ts";

describe("the local sandbox's records", () => {
    it("are written with mode 0600", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-files-"));
        const dataFile = path.join(dir, "sandbox-data-nexus.json");
        const sandbox = new GenesysSandbox({ dataFile });
        const server = await listen(sandbox.handler, 0);
        try {
            const client = new NexusClient({ authUrl: server.url, nexusUrl: server.url, clientId: "nexus_client", clientSecret: "nexus_client_secret" });
            const key = await client.create({ username: "ops", password: "ops" }, { tenant: "*", name: "on disk", permissions: ["nexus:cluster:*"], enabled: true });
            expect(fs.readFileSync(dataFile, "utf8")).toContain(key.id);
            expect(fs.statSync(dataFile).mode & 0o777).toBe(0o600);
        } finally {
            await server.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
