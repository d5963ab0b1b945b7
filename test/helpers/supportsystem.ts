// A SupportSystem help desk of the test's own: a database of its own (createTestDatabase) with the
// help desk's key table, a database user of its own with a random password and only the rights
// keyfleet needs on that table (so a leak scan has a credential to look for), and the sandbox's
// HTTP API on a free loopback port reading the same table. Requests can leave from any loopback
// address, so that the help desk's IP binding is really exercised.
import crypto from "node:crypto";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { createConnection } from "mysql2/promise";
import { Agent, request } from "undici";
import { start, type SupportSystemSandbox } from "../../sandbox/supportsystem.ts";
import type { Listening } from "../../sandbox/http.ts";
import { createTestDatabase, type TestDatabase } from "./mysql.ts";

export interface HelpDesk {
    db: TestDatabase;
    sandbox: SupportSystemSandbox;
    url: string;
    user: string;
    password: string;
    /** Settings for the provider (a RawConfig's keys) and for a test stack. */
    settings: Record<string, string>;
    config(): ConfigMap;
    /** POSTs to the help desk's API with `key`, from `source`; the status and the plain-text answer. */
    post(path: string, key: string, source: string, body?: string): Promise<{ status: number; text: string }>;
    /** Rows of the key table, by id. */
    rows(): Promise<Row[]>;
    close(): Promise<void>;
}

export interface Row {
    id: number;
    isactive: number;
    ipaddr: string;
    apikey: string;
    can_create_tickets: number;
    can_exec_cron: number;
    notes: string | null;
    updated: string;
    created: string;
}

export const TICKET = JSON.stringify({ email: "jane@example.com", name: "Jane Doe", subject: "Printer on fire", message: "It is on fire." });

const agents = new Map<string, Agent>();
/** undici 8 binds the source address with the Agent's own localAddress (one under connect: is ignored). */
function from(localAddress: string): Agent {
    let agent = agents.get(localAddress);
    if (!agent) agents.set(localAddress, (agent = new Agent({ localAddress })));
    return agent;
}

export async function startHelpDesk(opts: { transport?: "database" | "admin" } = {}): Promise<HelpDesk> {
    const db = await createTestDatabase();
    const user = `kf_${crypto.randomBytes(4).toString("hex")}`;
    const password = `mysql-password-${crypto.randomUUID()}`;
    const admin = { host: db.config.host, port: db.config.port, user: db.config.user, password: db.config.password };
    const conn = await createConnection(admin);
    try {
        await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
        await conn.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db.name}\`.\`${db.table}\` TO ?@'%'`, [user]);
    } finally {
        await conn.end();
    }
    const { sandbox, server } = await start({ port: 0, host: "127.0.0.1", mysql: { ...db.config, prefix: db.prefix } });
    const listening: Listening = server;
    const admin_ = opts.transport === "admin" ? { transport: "admin", url: listening.url, adminUser: sandbox.adminPanel.user } : {};
    const settings = {
        ...admin_,
        host: db.config.host,
        port: String(db.config.port),
        user,
        database: db.name,
        tablePrefix: db.prefix,
    };
    return {
        db,
        sandbox,
        url: listening.url,
        user,
        password,
        settings: {
            "keyfleet:supportsystem": JSON.stringify(settings),
            "keyfleet:supportsystemPassword": password,
            ...(opts.transport === "admin" ? { "keyfleet:supportsystemAdminPassword": sandbox.adminPanel.password } : {}),
        },
        config: () => ({
            "keyfleet:supportsystem": { value: JSON.stringify(settings) },
            "keyfleet:supportsystemPassword": { value: password, secret: true },
            ...(opts.transport === "admin" ? { "keyfleet:supportsystemAdminPassword": { value: sandbox.adminPanel.password, secret: true } } : {}),
        }),
        async post(path, key, source, body = TICKET) {
            const res = await request(`${listening.url}${path}`, { method: "POST", headers: { "X-API-Key": key }, body, dispatcher: from(source) });
            return { status: res.statusCode, text: await res.body.text() };
        },
        rows: () => db.query<Row[]>(`SELECT id, isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes, updated, created FROM \`${db.table}\` ORDER BY id`),
        async close() {
            await listening.close();
            const c = await createConnection(admin);
            try {
                await c.query("DROP USER IF EXISTS ?@'%'", [user]);
            } finally {
                await c.end();
            }
            await db.drop();
        },
    };
}
