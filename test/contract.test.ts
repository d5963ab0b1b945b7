// The contract refuses an incoherent vendor at compile time (test/typecheck.test.ts runs tsc over
// this file: an `@ts-expect-error` that no longer finds its error fails the typecheck), and the
// core reads capabilities by presence.
import { describe, expect, it } from "vitest";
import type { VendorKeys } from "../providers/shared/contract.ts";
import { MemStore, memoryVendor, type MemInputs, type MemOutputs, type MemRecord } from "./helpers/memory-vendor.ts";

type Mem = VendorKeys<MemInputs, MemOutputs, MemRecord, { store: MemStore }>;
const { model, backend, discovery } = memoryVendor(new MemStore(), { discovery: true }) as Mem & { discovery: NonNullable<Mem["discovery"]> };
const rename = async () => {};

describe("the vendor contract", () => {
    it("takes unique names only with discovery, and a name limit only with rename", () => {
        const coherent: Mem = { model, backend, discovery, uniqueNames: { rename, nameMax: 50 } };
        // @ts-expect-error unique names without discovery: a name held by a lost create could never be resolved
        const noDiscovery: Mem = { model, backend, uniqueNames: { rename, nameMax: 50 } };
        // @ts-expect-error a rename without the vendor's longest name
        const noMax: Mem = { model, backend, discovery, uniqueNames: { rename } };
        // @ts-expect-error discovery without find
        const noFind: Mem = { model, backend, discovery: { adopts: () => true } };
        // @ts-expect-error an expiry that can neither set an end nor renew
        const emptyExpiry: Mem = { model, backend, expiry: {} };
        // @ts-expect-error a value output the vendor's outputs do not have (previousValue would be null, the value not redacted)
        const typo: Mem = { model: { ...model, valueOutput: "apikey" }, backend };
        // The refusals above are the test (tsc over this file, test/typecheck.test.ts); at run time these are plain objects.
        expect([coherent, noDiscovery, noMax, noFind, emptyExpiry, typo].every((v) => v.backend === backend)).toBe(true);
    });
});
