// The shared diff and rotation rules, as pure functions of state and desired inputs.
import { describe, expect, it } from "vitest";
import { planDiff, type FieldSpec } from "../providers/shared/diff.ts";
import { durationMs, rotationReason } from "../providers/shared/rotation.ts";
import { NEXUS_FIELDS, normalize, type NexusKeyInputs } from "../providers/nexus/provider.ts";

const DAY = 86_400_000;
const now = Date.parse("2026-11-23T00:00:00Z");
const base = normalize({ kind: "tenant", tenant: "578ec98e-f07c-46ad-9675-f36c22f3ba9f", name: "ci", permissions: ["nexus:consumer:chat"] });
const state = (over: Partial<NexusKeyInputs> = {}, created = new Date(now - 10 * DAY).toISOString()) => ({ ...base, ...over, created });

describe("durations", () => {
    it("reads hours, days and weeks and refuses anything else", () => {
        expect(durationMs("12h")).toBe(12 * 3_600_000);
        expect(durationMs("90d")).toBe(90 * DAY);
        expect(durationMs("2w")).toBe(14 * DAY);
        for (const bad of ["0d", "90", "1.5d", "90 days", "3m"]) expect(() => durationMs(bad)).toThrow(/not a duration/);
    });
});

describe("rotation", () => {
    it("rotates a key older than `every`, not a younger one", () => {
        expect(rotationReason({ created: new Date(now - 91 * DAY).toISOString() }, { rotation: { every: "90d" } }, now)).toBe("older than 90d");
        expect(rotationReason({ created: new Date(now - 89 * DAY).toISOString() }, { rotation: { every: "90d" } }, now)).toBeUndefined();
    });

    it("rotates when the generation changes, with or without an age policy", () => {
        expect(rotationReason({ rotation: { generation: 1 } }, { rotation: { generation: 2 } }, now)).toBe("rotation generation 1 → 2");
        expect(rotationReason({ rotation: null }, { rotation: { generation: 1 } }, now)).toBe("rotation generation 0 → 1");
        expect(rotationReason({ rotation: { generation: 0, every: "1w" } }, { rotation: { generation: 0, every: "1w" } }, now)).toBeUndefined();
    });
});

describe("planDiff", () => {
    it("reports no change when nothing changed", () => {
        expect(planDiff(NEXUS_FIELDS, state(), base, now)).toMatchObject({ changes: false, replaces: [] });
    });

    it("replaces exactly the immutable fields that changed", () => {
        const next = { ...base, permissions: ["nexus:consumer:chat", "nexus:designer:chat"] };
        expect(planDiff(NEXUS_FIELDS, state(), next, now)).toMatchObject({ changes: true, replaces: ["permissions"], deleteBeforeReplace: false });
    });

    it("updates mutable fields in place", () => {
        expect(planDiff(NEXUS_FIELDS, state(), { ...base, enabled: false, expires: "2027-01-01T00:00:00.000Z" }, now)).toMatchObject({ changes: true, replaces: [] });
    });

    it("replaces a revoked key asked to be live again, since Nexus cannot reinstate it", () => {
        expect(planDiff(NEXUS_FIELDS, state({ revoked: true }), base, now).replaces).toEqual(["revoked"]);
        expect(planDiff(NEXUS_FIELDS, state(), { ...base, revoked: true }, now).replaces).toEqual([]);
    });

    it("rotates with no input change once the key is too old", () => {
        const policy = { ...base, rotation: { every: "7d" } };
        const old = { ...state({ rotation: { every: "7d" } }) };
        expect(planDiff(NEXUS_FIELDS, old, policy, now)).toMatchObject({ changes: true, replaces: ["rotation"], rotation: "older than 7d" });
        expect(planDiff(NEXUS_FIELDS, old, policy, now - 5 * DAY)).toMatchObject({ changes: false, replaces: [] });
    });

    it("derives replaces from whatever fields a provider lists as immutable", () => {
        type I = { a: string; b: string; c: string };
        const spec: FieldSpec<I> = { immutable: ["a"], mutable: ["b"], local: ["c"] };
        expect(planDiff(spec, { a: "1", b: "1", c: "1" }, { a: "2", b: "2", c: "1" }, now)).toMatchObject({ replaces: ["a"], stables: [] });
        expect(planDiff(spec, { a: "1", b: "1", c: "1" }, { a: "1", b: "1", c: "2" }, now)).toMatchObject({ changes: true, replaces: [], stables: ["a"] });
    });
});
