// The shared diff and rotation rules, as pure functions of state and desired inputs.
import { describe, expect, it } from "vitest";
import { planDiff, type FieldSpec } from "../providers/shared/diff.ts";
import { durationMs, mergeRotation, nextRotationAt, overlapMs, rotationReason } from "../providers/shared/rotation.ts";
import { nexusLifecycle, type NexusKeyInputs } from "../providers/nexus/lifecycle.ts";

const DAY = 86_400_000;
const now = Date.parse("2026-11-23T00:00:00Z");
const FIELDS = nexusLifecycle.model.fields;
const base = { ...nexusLifecycle.model.normalize({ kind: "tenant", tenant: "578ec98e-f07c-46ad-9675-f36c22f3ba9f", permissions: ["nexus:consumer:chat"] }), name: "ci", rotation: null } as NexusKeyInputs;
const state = (over: Partial<NexusKeyInputs> = {}) => ({ ...base, ...over });
const ago = (days: number) => new Date(now - days * DAY).toISOString();

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
        expect(rotationReason({}, ago(91), { rotation: { every: "90d" } }, now)).toBe("older than 90d");
        expect(rotationReason({}, ago(89), { rotation: { every: "90d" } }, now)).toBeUndefined();
    });

    it("rotates when the generation changes, with or without an age policy", () => {
        expect(rotationReason({ rotation: { generation: 1 } }, ago(1), { rotation: { generation: 2 } }, now)).toBe("rotation generation 1 → 2");
        expect(rotationReason({ rotation: null }, ago(1), { rotation: { generation: 1 } }, now)).toBe("rotation generation 0 → 1");
        expect(rotationReason({ rotation: { generation: 0, every: "1w" } }, ago(1), { rotation: { generation: 0, every: "1w" } }, now)).toBeUndefined();
    });

    it("merges a key's rotation with the defaults field by field (defect 10)", () => {
        expect(mergeRotation({ every: "90d" }, { generation: 2 })).toEqual({ every: "90d", generation: 2 });
        expect(mergeRotation({ every: "90d", generation: 1 }, { every: "30d" })).toEqual({ every: "30d", generation: 1 });
        expect(mergeRotation(undefined, { generation: 0 })).toEqual({ generation: 0 });
        expect(mergeRotation(undefined, undefined)).toBeNull();
    });
});

describe("planDiff", () => {
    it("reports no change when nothing changed", () => {
        expect(planDiff(FIELDS, state(), base)).toMatchObject({ changes: false, replaces: [] });
    });

    it("replaces exactly the immutable fields that changed", () => {
        const next = { ...base, permissions: ["nexus:consumer:chat", "nexus:designer:chat"] };
        expect(planDiff(FIELDS, state(), next)).toMatchObject({ changes: true, replaces: ["permissions"], deleteBeforeReplace: false });
    });

    it("updates mutable fields in place", () => {
        expect(planDiff(FIELDS, state(), { ...base, enabled: false, expires: "2027-01-01T00:00:00.000Z" })).toMatchObject({ changes: true, replaces: [] });
    });

    it("replaces a revoked key asked to be live again, since Nexus cannot reinstate it", () => {
        expect(planDiff(FIELDS, state({ revoked: true }), base).replaces).toEqual(["revoked"]);
        expect(planDiff(FIELDS, state(), { ...base, revoked: true }).replaces).toEqual([]);
    });

    it("names each differing field for the plan, replacing or in place, and never the pseudo-field rotation", () => {
        const next = { ...base, enabled: false, permissions: ["nexus:consumer:chat", "nexus:designer:chat"] };
        expect(planDiff(FIELDS, state(), next, "older than 7d").detailedDiff).toEqual({ enabled: "update", permissions: "update-replace" });
        // Set on one side only: added or removed, not `null => value`.
        expect(planDiff(FIELDS, state(), { ...base, expires: "2030-01-01T00:00:00.000Z" }).detailedDiff).toEqual({ expires: "add" });
        expect(planDiff(FIELDS, state({ expires: "2030-01-01T00:00:00.000Z" }), { ...base, expires: null }).detailedDiff).toEqual({ expires: "delete" });
        expect(planDiff(FIELDS, state({ revoked: true }), base).detailedDiff).toEqual({ revoked: "update-replace" });
        expect(planDiff(FIELDS, state(), base).detailedDiff).toEqual({});
    });

    it("replaces with no input change when a rotation is due", () => {
        expect(planDiff(FIELDS, state(), base, "older than 7d")).toMatchObject({ changes: true, replaces: ["rotation"], rotation: "older than 7d" });
    });

    it("derives replaces from whatever fields a provider lists as immutable", () => {
        type I = { a: string; b: string; c: string };
        const spec: FieldSpec<I> = { immutable: ["a"], mutable: ["b"], local: ["c"] };
        expect(planDiff(spec, { a: "1", b: "1", c: "1" }, { a: "2", b: "2", c: "1" })).toMatchObject({ replaces: ["a"], stables: [] });
        expect(planDiff(spec, { a: "1", b: "1", c: "1" }, { a: "1", b: "1", c: "2" })).toMatchObject({ changes: true, replaces: [], stables: ["a"] });
    });
});

describe("pause, offset and overlap", () => {
    it("paused stops rotation by age, not by generation", () => {
        expect(rotationReason({}, ago(91), { rotation: { every: "90d", paused: true } }, now)).toBeUndefined();
        expect(rotationReason({ rotation: { generation: 1, paused: true } }, ago(1), { rotation: { generation: 2, paused: true } }, now)).toBe("rotation generation 1 → 2");
        expect(nextRotationAt({ every: "90d", paused: true }, ago(1))).toBeUndefined();
    });

    it("offset puts a key on a fixed schedule: due within its first `every`, keys with other offsets at other times", () => {
        const made = ago(3);
        const a = nextRotationAt({ every: "10d", offset: 0 }, made)!;
        const b = nextRotationAt({ every: "10d", offset: "5d" }, made)!;
        for (const t of [a, b]) {
            expect(t).toBeGreaterThan(Date.parse(made));
            expect(t).toBeLessThanOrEqual(Date.parse(made) + 10 * DAY);
        }
        expect(Math.abs(a - b)).toBe(5 * DAY);
        expect(a % (10 * DAY)).toBe(0);
        // Once rotated at its slot, the next slot is one `every` later.
        expect(nextRotationAt({ every: "10d", offset: 0 }, new Date(a + 60_000).toISOString())).toBe(a + 10 * DAY);
        expect(rotationReason({}, made, { rotation: { every: "10d", offset: "5d" } }, b)).toMatch(/^due on its 10d schedule \(offset 5d\)/);
        expect(rotationReason({}, made, { rotation: { every: "10d", offset: "5d" } }, b - 1)).toBeUndefined();
    });

    it("overlap of 0 (or 0d) keeps replacement; the merge keeps every field of the defaults", () => {
        expect(overlapMs({ overlap: 0 })).toBe(0);
        expect(overlapMs({ overlap: "0d" })).toBe(0);
        expect(overlapMs({ overlap: "7d" })).toBe(7 * DAY);
        expect(mergeRotation({ every: "90d", overlap: "7d", verify: true }, { offset: "3d", verify: false })).toEqual({ every: "90d", overlap: "7d", verify: false, offset: "3d" });
    });
});
