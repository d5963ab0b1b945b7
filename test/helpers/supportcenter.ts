// A SupportCenter Plus sandbox of the test's own on a free loopback port, with the seeded users'
// technician keys and passwords replaced by random ones, so that a leak scan can find them.
import crypto from "node:crypto";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { listen } from "../../sandbox/http.ts";
import { SCP_ACCEPT, SupportCenterSandbox, SUPPORTCENTER_DEFAULTS, type SupportCenterSandboxOptions, type SupportCenterUser } from "../../sandbox/supportcenter.ts";
import { SupportCenterClient, type ScpOwner } from "../../providers/supportcenter/client.ts";

export interface ScpTestSandbox {
    sandbox: SupportCenterSandbox;
    url: string;
    client: SupportCenterClient;
    /** admin, jane (SDAdmins) and tech, with this sandbox's credentials. */
    users: Record<"admin" | "jane" | "tech", SupportCenterUser>;
    as(login: "admin" | "jane" | "tech"): ScpOwner;
    /** The owners map for keyfleet:supportcenterOwners (only `logins`). */
    owners(logins?: string[]): string;
    /** Stack settings pointing at this sandbox, with the owners `logins` (default admin and jane). */
    config(logins?: string[]): ConfigMap;
    secrets(): string[];
    close(): Promise<void>;
}

export async function startScp(options: SupportCenterSandboxOptions = {}): Promise<ScpTestSandbox> {
    const users = Object.fromEntries(
        Object.entries(SUPPORTCENTER_DEFAULTS.users).map(([login, u]) => [
            login,
            { ...u, roles: [...u.roles], password: `${login}-password-${crypto.randomUUID()}`, technicianKey: crypto.randomUUID().toUpperCase() },
        ]),
    ) as ScpTestSandbox["users"];
    const sandbox = new SupportCenterSandbox({ users: Object.values(users), ...options });
    const server = await listen(sandbox.handler, 0);
    const as = (login: "admin" | "jane" | "tech") => ({ login, technicianKey: users[login].technicianKey, password: users[login].password });
    const owners = (logins = ["admin", "jane"]) =>
        JSON.stringify(Object.fromEntries(logins.map((l) => [l, { technicianKey: users[l as "admin"].technicianKey, password: users[l as "admin"].password }])));
    return {
        sandbox,
        url: server.url,
        client: new SupportCenterClient(server.url),
        users,
        as,
        owners,
        config: (logins) => ({
            "keyfleet:supportcenter": { value: JSON.stringify({ url: server.url }) },
            "keyfleet:supportcenterOwners": { value: owners(logins), secret: true },
        }),
        secrets: () => [...Object.values(users).flatMap((u) => [u.password, u.technicianKey]), ...sandbox.issued.keys],
        close: () => server.close(),
    };
}

/** Calls the stand-in consumer API with an integration key; the HTTP status says whether the product accepts it. */
export async function useScpKey(url: string, key: string): Promise<number> {
    const res = await fetch(`${url}/api/v3/requests`, { headers: { authtoken: key, accept: SCP_ACCEPT } });
    await res.arrayBuffer();
    return res.status;
}
