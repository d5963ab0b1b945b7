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
