// The link between an entry's `deliver:` and the rotation the core hands its key, through the real
// program code (api/environment.ts with each vendor's declare) under Pulumi's mocks: which resources
// the program registers, with which inputs and dependencies. No engine and no vendor is involved;
// the end-to-end delivery suites (delivery*.e2e) run the same through the engine.
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LastRunKey } from "../providers/shared/descriptor.ts";

const CC = "578ec98e-f07c-46ad-9675-f36c22f3ba9f";
const DAY = 86_400_000;
/** How the engine's wire format marks a secret value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

type Registered = { type: string; name: string; inputs: Record<string, unknown> };
const registered: Registered[] = [];
const saved = { ...process.env };

beforeAll(() => {
    Object.assign(process.env, {
        KEYFLEET_NEXUS_AUTH_URL: "http://127.0.0.1:9",
        KEYFLEET_NEXUS_URL: "http://127.0.0.1:9",
        KEYFLEET_NEXUS_CLIENT_SECRET: "client-secret-for-mocks",
        KEYFLEET_NEXUS_TENANT_PASSWORD: "tenant-password-for-mocks",
    });
    pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                return { id: `${args.name}-id`, state: args.inputs };
            },
            call: (args) => args.inputs,
        },
        "keyfleet",
        "mocked",
        false,
    );
});
afterAll(() => {
    process.env = saved;
});

describe("deliver: linked to the rotation the core hands each key", () => {
    it("a key with consumers gets one delivery per consumer, its rotation merged with the defaults, and the previous slot held; a key without has none", { timeout: 30_000 }, async () => {
        const { declareEnvironment } = await import("../api/environment.ts");
        const created = new Date(Date.now() - 100 * DAY).toISOString();
        const record = (id: string): LastRunKey => ({ id, created, rotation: { every: "90d" }, expires: null, previousRetireAt: null });
        const out = await declareEnvironment(
            {
                document: {
                    defaults: { rotation: { every: "90d" } },
                    nexus: {
                        contactCenter: CC,
                        tenantKeys: [
                            { name: "web chat", rotation: { overlap: "2d" }, deliver: [{ file: ".keyfleet/delivered/web-chat.key" }, { name: "k8s", run: "kubectl apply -f -", stdin: true }] },
                            { name: "plain" },
                        ],
                    },
                },
            },
            async () => ({
                keys: { "nexus/tenant/web chat": record("key-web"), "nexus/tenant/plain": record("key-plain") },
                endedAt: new Date(Date.now() - DAY).toISOString(),
                inState: async () => new Map([["nexus/tenant/web chat", "key-web"], ["nexus/tenant/plain", "key-plain"]]),
            }),
        );
        // Every resource is registered once the record resolves (it waits for each key and delivery).
        await new Promise<void>((resolve) => out.keyIds.apply(() => resolve()));
        const key = (n: string) => registered.find((r) => r.name === n && r.type.startsWith("pulumi-nodejs:dynamic"))!;
        const web = key("nexus/tenant/web chat");
        const plain = key("nexus/tenant/plain");
        // The core's inputs: the defaults merged field by field with the entry's own, the rotation
        // due by age (100 days against 90), and the consumers' key held in the previous slot.
        expect(web.inputs.rotation).toMatchObject({ every: "90d", overlap: "2d" });
        expect(String(web.inputs.rotationDue)).toMatch(/^rotation due: /);
        expect(web.inputs.holdPrevious).toBe("key-web");
        expect(web.inputs.predecessor).toBe("key-web");
        expect(plain.inputs.rotation).toMatchObject({ every: "90d" });
        expect(plain.inputs.holdPrevious ?? null).toBeNull();
        // One command per consumer, each for this key (its name in the environment), none for plain.
        const deliveries = registered.filter((r) => r.type === "command:local:Command");
        expect(deliveries.map((d) => d.name).sort()).toEqual(deliveries.map((d) => d.name).filter((n) => n.startsWith("nexus/tenant/web chat/")).sort());
        expect(deliveries).toHaveLength(2);
        // The environment carries the key's value, so the engine holds it as a secret (its signature).
        const environment = (d: Registered) => {
            const e = d.inputs.environment as Record<string, unknown>;
            expect(e[SECRET_SIG], d.name).toBeDefined();
            return e.value as Record<string, unknown>;
        };
        for (const d of deliveries) expect(environment(d).KEYFLEET_KEY_NAME).toBe("nexus/tenant/web chat");
        expect(deliveries.some((d) => environment(d).KEYFLEET_FILE === ".keyfleet/delivered/web-chat.key")).toBe(true);
        expect(deliveries.some((d) => d.inputs.create === "kubectl apply -f -")).toBe(true);
    });
});
