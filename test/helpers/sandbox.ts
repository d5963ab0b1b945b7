// A Genesys sandbox of the test's own on a free loopback port, with credentials unlike any other
// string in the output, so that a leak scan can find them.
import crypto from "node:crypto";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { GenesysSandbox, GENESYS_DEFAULTS, type GenesysSandboxOptions } from "../../sandbox/genesys.ts";
import { listen, type Listening } from "../../sandbox/http.ts";
import { NexusClient, type NexusLogin } from "../../providers/nexus/client.ts";

export const CC = GENESYS_DEFAULTS.contactCenter;

export interface TestSandbox {
    sandbox: GenesysSandbox;
    url: string;
    creds: { clientSecret: string; tenantPassword: string; opsPassword: string };
    client: NexusClient;
    tenantLogin: NexusLogin;
    opsLogin: NexusLogin;
    /** The stack settings that point a test stack at this sandbox. */
    config(): ConfigMap;
    /** Every credential and key value the sandbox has seen or issued. */
    secrets(): string[];
    close(): Promise<void>;
}

export async function startSandbox(options: GenesysSandboxOptions = {}): Promise<TestSandbox> {
    const creds = {
        clientSecret: `client-secret-${crypto.randomUUID()}`,
        tenantPassword: `tenant-password-${crypto.randomUUID()}`,
        opsPassword: `ops-password-${crypto.randomUUID()}`,
    };
    const sandbox = new GenesysSandbox({
        client: { id: "nexus_client", secret: creds.clientSecret },
        tenantUser: { name: "nexus", password: creds.tenantPassword },
        opsAdmin: { name: "ops", password: creds.opsPassword },
        ...options,
    });
    const server: Listening = await listen(sandbox.handler, 0);
    return {
        sandbox,
        url: server.url,
        creds,
        client: new NexusClient({ authUrl: server.url, nexusUrl: server.url, clientId: "nexus_client", clientSecret: creds.clientSecret }),
        tenantLogin: { username: `${CC}\\nexus`, password: creds.tenantPassword },
        opsLogin: { username: "ops", password: creds.opsPassword },
        config: () => ({
            // probeUrl: the sandbox's whoami, a test convenience (no Genesys source has one); verify: true needs a probeUrl.
            "keyfleet:nexus": { value: JSON.stringify({ authUrl: server.url, nexusUrl: server.url, clientId: "nexus_client", tenantUser: "nexus", opsUser: "ops", probeUrl: `${server.url}/nexus/v3/whoami` }) },
            "keyfleet:nexusClientSecret": { value: creds.clientSecret, secret: true },
            "keyfleet:nexusTenantPassword": { value: creds.tenantPassword, secret: true },
            "keyfleet:nexusOpsPassword": { value: creds.opsPassword, secret: true },
        }),
        secrets: () => [creds.clientSecret, creds.tenantPassword, creds.opsPassword, ...sandbox.issued.keys, ...sandbox.issued.tokens],
        close: () => server.close(),
    };
}

/** Calls the sandbox's stand-in consumer API with `apiKey`; the HTTP status says whether Nexus accepts the key. */
export async function useKey(url: string, apiKey: string): Promise<number> {
    const res = await fetch(`${url}/nexus/v3/whoami`, { headers: { "x-api-key": apiKey } });
    await res.arrayBuffer();
    return res.status;
}
