// Every vendor's sandbox, listed here in sandbox/ and not in the vendors' descriptors: the shipped
// providers never load fakes with fault injection, and only the launchers (sandbox/main.ts, and
// sandbox/local-stack-env.ts, which the CLI asks as a child process) and tests read this list. Each says what it needs (MySQL), so that a command
// starts only the sandboxes it reaches and MySQL only for those that keep their keys there.
// `section` is the vendor's YAML section (providers/vendors.ts); a test checks that every vendor
// has exactly one sandbox here.
export interface SandboxSpec {
    /** The vendor's YAML section. */
    section: string;
    /** Loopback port of the local stack's sandbox (stacks/Pulumi.local.yaml points there). */
    port: number;
    /** Environment variable that moves it. */
    portEnv: string;
    /** What it stands in for, for the launcher's log. */
    title: string;
    /** Services outside keyfleet the sandbox needs running (scripts start them first). */
    needs: readonly "mysql"[];
    /**
     * The local stack's settings that point at this sandbox, as their environment fallbacks
     * (stacks/Pulumi.local.yaml names no endpoint: local-stack-env.ts gathers these).
     */
    localStack(url: string, env: NodeJS.ProcessEnv): Record<string, string>;
    /** Starts the sandbox; `dataFile` keeps its records across restarts (written 0600). */
    start(options: { port: number; host: string; dataFile?: string }): Promise<{ url: string; close(): Promise<void> }>;
}

export const sandboxes: readonly SandboxSpec[] = [
    {
        section: "nexus",
        port: 4401,
        portEnv: "KEYFLEET_SANDBOX_GENESYS_PORT",
        title: "Genesys (GWS auth + Nexus)",
        needs: [],
        // verify: true probes the sandbox's whoami, a test convenience, not a Genesys endpoint.
        localStack: (url) => ({ KEYFLEET_NEXUS_AUTH_URL: url, KEYFLEET_NEXUS_URL: url, KEYFLEET_NEXUS_PROBE_URL: `${url}/nexus/v3/whoami` }),
        async start({ port, host, dataFile }) {
            const { GenesysSandbox } = await import("./genesys.ts");
            const { listen } = await import("./http.ts");
            const sandbox = new GenesysSandbox({ dataFile });
            return listen(sandbox.handler, port, host);
        },
    },
    {
        section: "beyondtrust",
        port: 4402,
        portEnv: "KEYFLEET_SANDBOX_BEYONDTRUST_PORT",
        title: "BeyondTrust Remote Support",
        needs: [],
        localStack: (url) => ({ KEYFLEET_BEYONDTRUST_URL: url }),
        async start(o) {
            const { start } = await import("./beyondtrust.ts");
            return (await start(o)).server;
        },
    },
    {
        section: "supportcenter",
        port: 4403,
        portEnv: "KEYFLEET_SANDBOX_SUPPORTCENTER_PORT",
        title: "ManageEngine SupportCenter Plus",
        needs: [],
        localStack: (url) => ({ KEYFLEET_SUPPORTCENTER_URL: url }),
        async start({ port, host, dataFile }) {
            const { start } = await import("./supportcenter.ts");
            return (await start({ port, host, dataFile })).server;
        },
    },
    {
        section: "supportsystem",
        port: 4404,
        portEnv: "KEYFLEET_SANDBOX_SUPPORTSYSTEM_PORT",
        title: `SupportSystem (help desk API and admin panel; keys in MySQL database ${process.env.KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE || "keyfleet_helpdesk"})`,
        needs: ["mysql"],
        localStack: (url, env) => ({
            KEYFLEET_SUPPORTSYSTEM_API_URL: url,
            KEYFLEET_SUPPORTSYSTEM_URL: url,
            KEYFLEET_MYSQL_DATABASE: env.KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE || "keyfleet_helpdesk",
        }),
        async start({ port, host }) {
            const { start } = await import("./supportsystem.ts");
            // The database moves with KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE, as the local stack's does.
            const database = process.env.KEYFLEET_SANDBOX_SUPPORTSYSTEM_DATABASE || undefined;
            return (await start({ port, host, mysql: database ? { database } : undefined })).server;
        },
    },
];
