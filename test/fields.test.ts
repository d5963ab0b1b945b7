// The field table (providers/shared/fields.ts) as pure functions: what one table of fields derives
// for the YAML, the program, check, the diff and the resource. No sandbox, no network.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { keyField, keyFields } from "../providers/shared/fields.ts";
import { nexusLifecycle } from "../providers/nexus/lifecycle.ts";

const T = keyFields({
    kind: keyField({ input: z.enum(["a", "b"]), from: "program", kind: "immutable", required: true, fallback: "a" as "a" | "b" }),
    queue: keyField({ entry: "q", yaml: z.string(), input: z.string(), kind: "immutable", required: true, fallback: "", normalize: (v) => String(v ?? "").toLowerCase() }),
    size: keyField({ yaml: z.int(), input: z.int(), kind: "mutable", required: false, inputRequired: true, fallback: 1 }),
    off: keyField({ yaml: z.boolean(), input: z.boolean(), kind: "mutable", oneWay: true, required: false, fallback: false as boolean }),
    note: keyField({ yaml: z.string(), input: z.string(), kind: "local", required: false, fallback: null as string | null }),
    both: keyField({ from: "inputs", kind: "mutable", required: false, fallback: "", normalize: (_v, inputs) => `${String(inputs.queue)}/${String(inputs.size ?? 1)}` }),
});

describe("keyFields", () => {
    it("lists the diff's fields by kind, in the table's order, with the one-way flags", () => {
        expect(T.immutable).toEqual(["kind", "queue"]);
        expect(T.mutable).toEqual(["size", "off", "both"]);
        expect(T.local).toEqual(["note"]);
        expect(T.oneWay).toEqual(["off"]);
    });

    it("gives the YAML entry only the fields it writes, under the entry's names, optional unless required", () => {
        const entry = z.strictObject(T.yamlShape);
        expect(Object.keys(T.yamlShape)).toEqual(["q", "size", "off", "note"]);
        expect(entry.safeParse({ q: "x" }).success).toBe(true);
        expect(entry.safeParse({}).success).toBe(false);
        expect(entry.safeParse({ q: "x", queue: "x" }).success).toBe(false);
        expect(entry.safeParse({ q: "x", kind: "a" }).success).toBe(false);
    });

    it("makes the inputs of an entry from its names, with fallbacks, and takes what the program gives instead", () => {
        expect(T.fromEntry({ q: "X", size: 3 })).toEqual({ queue: "X", size: 3, off: false, note: null });
        expect(T.fromEntry({ q: "X" }, { queue: "Y" })).toEqual({ queue: "Y", size: 1, off: false, note: null });
    });

    it("checks the inputs that have a schema: required and inputRequired as written, the rest nullish", () => {
        const check = z.object(T.inputShape);
        expect(Object.keys(T.inputShape)).toEqual(["kind", "queue", "size", "off", "note"]);
        expect(check.safeParse({ kind: "a", queue: "x", size: 2, off: null, note: undefined }).success).toBe(true);
        expect(check.safeParse({ kind: "a", queue: "x", off: null }).success).toBe(false);
        expect(check.safeParse({ kind: "a", queue: "x", size: null }).success).toBe(false);
    });

    it("normalizes every field, one made from the other inputs", () => {
        expect(T.normalize({ kind: "b", queue: "AB", size: 4 })).toEqual({ kind: "b", queue: "ab", size: 4, off: false, note: null, both: "AB/4" });
        expect(T.normalize({})).toEqual({ kind: "a", queue: "", size: 1, off: false, note: null, both: "undefined/1" });
    });

    it("makes the resource's inputs from its arguments and the program's fields, never one normalize makes", () => {
        expect(T.fromArgs({ queue: "x", note: "n" }, { kind: "b" })).toEqual({ kind: "b", queue: "x", size: 1, off: false, note: "n" });
    });
});

describe("a vendor's check", () => {
    it("still requires a Nexus key's permissions, which the resource always gives", () => {
        const r = nexusLifecycle.model.schema.safeParse({ kind: "tenant", tenant: "578ec98e-f07c-46ad-9675-f36c22f3ba9f", name: "k" });
        expect(r.success).toBe(false);
        expect(r.error?.issues.map((i) => i.path.join("."))).toEqual(["permissions"]);
    });
});

describe("each vendor's table gives the field lists and defaults its hand-written model had (202bf6b)", () => {
    it("the diff's field lists, in their order", async () => {
        const { nexusLifecycle } = await import("../providers/nexus/lifecycle.ts");
        const { sessionKeyLifecycle } = await import("../providers/beyondtrust/lifecycle.ts");
        const { supportCenterLifecycle } = await import("../providers/supportcenter/lifecycle.ts");
        const { supportSystemLifecycle } = await import("../providers/supportsystem/lifecycle.ts");
        expect(nexusLifecycle.model.fields).toEqual({ immutable: ["kind", "tenant", "permissions"], mutable: ["name", "enabled", "revoked", "expires"], local: ["rotation", "adopt"], oneWay: ["revoked"] });
        expect({ ...sessionKeyLifecycle.model.fields, oneWay: undefined }).toEqual({
            immutable: ["targetQueue", "ttl", "externalKey", "custom", "priority", "skills", "urlHostname"],
            mutable: [],
            local: ["name", "renewBefore", "rotation", "adopt"],
            oneWay: undefined,
        });
        expect({ ...supportCenterLifecycle.model.fields, oneWay: undefined }).toEqual({ immutable: [], mutable: ["name", "roles", "expires", "description", "status", "owner"], local: ["rotation", "adopt", "reassignComment"], oneWay: undefined });
        expect({ ...supportSystemLifecycle.model.fields, oneWay: undefined }).toEqual({ immutable: ["ip"], mutable: ["active", "canCreateTickets", "canExecCron", "internalNote", "notes"], local: ["rotation", "adopt"], oneWay: undefined });
    });

    it("defaults where state lacks a field, and each Nexus kind's default permission", async () => {
        const { nexusLifecycle } = await import("../providers/nexus/lifecycle.ts");
        const { supportCenterLifecycle } = await import("../providers/supportcenter/lifecycle.ts");
        expect(supportCenterLifecycle.model.normalize({ owner: "admin" })).toMatchObject({ roles: [], expires: null, description: null, status: "active", owner: "admin", reassignComment: null });
        const tenant = nexusLifecycle.model.normalize({ kind: "tenant", tenant: "578EC98E-F07C-46AD-9675-F36C22F3BA9F", permissions: ["b", "a", "a"] });
        expect(tenant).toMatchObject({ kind: "tenant", tenant: "578ec98e-f07c-46ad-9675-f36c22f3ba9f", permissions: ["a", "b"], enabled: true, revoked: false, expires: null });
        expect(nexusLifecycle.model.normalize({ kind: "cluster", tenant: "x" })).toMatchObject({ tenant: "*" });
        // Two keys' defaults are two arrays: one resource's inputs never share one with another's.
        const { keyInputs } = await import("../providers/beyondtrust/schema.ts");
        const [a, b] = [keyInputs({ name: "a", queue: "general" } as never), keyInputs({ name: "b", queue: "general" } as never)];
        expect(a.skills).toEqual([]);
        expect(a.skills).not.toBe(b.skills);
    });
});
