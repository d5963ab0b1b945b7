// keySchedule (providers/shared/rotation.ts), the one schedule of the report, up's summary and
// drift, and driftFindings (ops/findings.ts) on engine events shaped as the event log writes them.
// The e2e suites (report, gitops, fleet) check both over the real engine; these pin the rules.
import { describe, expect, it } from "vitest";
import { driftFindings, vendorRenewals, type DriftEvent } from "../ops/findings.ts";
import { beyondtrust } from "../providers/beyondtrust/descriptor.ts";
import { keySchedule } from "../providers/shared/rotation.ts";

const DAY = 86_400_000;
const now = Date.parse("2027-01-10T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("keySchedule", () => {
    const base = { created: iso(now - DAY), rotation: { every: "90d" }, now };

    it("revoked or disabled: no next rotation, whatever the policy", () => {
        for (const standing of ["revoked", "disabled"] as const) {
            expect(keySchedule({ ...base, standing, expires: null })).toEqual({ standing, expires: null, next: null, expiresFirst: false });
        }
    });

    it("a vendor's renewal that comes before rotation by age is the next rotation", async () => {
        const lc = (await beyondtrust.provider()).vendor!.expiry!;
        const o = { created: iso(now - 20 * 3_600_000), expires: iso(now + 4 * 3_600_000), ttl: null, renewBefore: null };
        const s = keySchedule({ ...base, standing: "active", expires: o.expires, renewal: (t) => lc.renewal!(o, o, t) });
        // 24 h lifetime, a tenth of it is 2.4 h: renewal at expiry − 2.4 h, not in 89 days.
        expect(Math.abs(Date.parse(s.next!.at) - (now + 1.6 * 3_600_000))).toBeLessThanOrEqual(60_000);
        expect(s.next!.by).toBe("renewal");
        expect(s.expiresFirst).toBe(false);
    });

    it("a key that expires before its rotation, or with none, is flagged; one past its expiry is expired", () => {
        expect(keySchedule({ ...base, standing: "active", expires: iso(now + 5 * DAY) }).expiresFirst).toBe(true);
        expect(keySchedule({ ...base, rotation: null, standing: "active", expires: iso(now + 5 * DAY) })).toMatchObject({ next: null, expiresFirst: true });
        expect(keySchedule({ ...base, standing: "active", expires: iso(now + 200 * DAY) }).expiresFirst).toBe(false);
        expect(keySchedule({ ...base, standing: "active", expires: iso(now - 1) })).toMatchObject({ standing: "expired", expiresFirst: false });
    });

    it("the core's recorded nextRotation wins over the policy (it knows pause and offset); null means none", () => {
        expect(keySchedule({ ...base, standing: "active", expires: null, recordedNext: null }).next).toBeNull();
        expect(keySchedule({ ...base, standing: "active", expires: null, recordedNext: iso(now + 3 * DAY) }).next!.at).toBe(iso(now + 3 * DAY));
    });
});

describe("driftFindings", () => {
    const urn = (type: string, name: string) => `urn:pulumi:s::keyfleet::${type}::${name}`;
    const NX = "pulumi-nodejs:dynamic/nexus:TenantKey";
    const BT = "pulumi-nodejs:dynamic/beyondtrust:SessionKey";
    const refresh = (type: string, name: string, old: Record<string, unknown>, next: Record<string, unknown> | null): DriftEvent => ({
        resOutputsEvent: { metadata: { op: "refresh", urn: urn(type, name), type, old: { outputs: old }, new: next ? { outputs: next } : null } },
    });
    const step = (op: string, type: string, name: string, inputs: Record<string, unknown> = {}, old: Record<string, unknown> = {}): DriftEvent => ({
        resourcePreEvent: { metadata: { op, urn: urn(type, name), type, old: { inputs: old, outputs: old }, new: { inputs } } },
    });

    it("names each finding by what it is", async () => {
        const btKey = { vendor: "beyondtrust", created: iso(now - 20 * 3_600_000), expires: iso(now + 4 * 3_600_000), ttl: null, renewBefore: null };
        const f = driftFindings(
            [
                refresh(NX, "changed", { enabled: true, name: "changed" }, { enabled: false, name: "changed" }),
                step("update", NX, "changed", { enabled: true }, { enabled: false }),
                refresh(NX, "gone", { name: "gone" }, null),
                step("create", NX, "gone"),
                step("create", NX, "new"),
                refresh(NX, "yaml", { name: "yaml", permissions: ["a"] }, { name: "yaml", permissions: ["a"] }),
                step("update", NX, "yaml", { permissions: ["b"] }, { permissions: ["a"] }),
                refresh(NX, "old", { name: "old", created: iso(now - 100 * DAY) }, { name: "old", created: iso(now - 100 * DAY) }),
                step("replace", NX, "old", { rotationDue: "older than 90d" }),
                refresh(NX, "soon", { name: "soon", expires: iso(now + 5 * DAY) }, { name: "soon", expires: iso(now + 5 * DAY) }),
                // On the moved clock BeyondTrust's read drops a key that expires within the window.
                refresh(BT, "session", btKey, null),
                step("create", BT, "session"),
            ],
            { now, within: "7d", renewals: await vendorRenewals() },
        );
        const by = new Map(f.map((x) => [x.key, x]));
        expect(by.get("changed")).toMatchObject({ kind: "changed at the vendor", detail: expect.stringContaining("enabled: true → false") });
        expect(by.get("gone")).toMatchObject({ kind: "missing at the vendor" });
        expect(by.get("new")).toEqual({ key: "new", kind: "not yet applied", detail: "new in the YAML" });
        expect(by.get("yaml")).toMatchObject({ kind: "not yet applied", detail: 'the YAML changed: permissions: ["a"] → ["b"]' });
        expect(by.get("old")).toMatchObject({ kind: "rotation due", detail: "rotation due within 7d: older than 90d" });
        expect(by.get("soon")).toMatchObject({ kind: "expiring", detail: `expires within 7d, on ${iso(now + 5 * DAY)}, and nothing rotates it` });
        expect(by.get("session")!.kind).toBe("expiring");
        expect(by.get("session")!.detail).toMatch(/^expires within 7d, on .*; its next rotation replaces it first, on .*\(session key expires/);
        expect(f).toHaveLength(7);
    });
});
