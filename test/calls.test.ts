// The core's retries and pacing, as pure mechanisms (vendor-neutral): a vendor's Retry-After never
// holds a caller past its budget, and waiters after a pause go one by one.
import { describe, expect, it } from "vitest";
import { callVendor, Pacer } from "../providers/shared/calls.ts";
import { VendorError } from "../providers/shared/errors.ts";

describe("callVendor", () => {
    it("a long Retry-After fails the caller within its budget and does not hold others past theirs (defect 6)", async () => {
        const pacer = new Pacer();
        const started = Date.now();
        const a = callVendor({ idempotent: true, pacer, budgetMs: 200 }, async () => {
            throw new VendorError("rateLimited", "slow down", { code: 429, retryAfterMs: 600_000 });
        }).catch((e) => e);
        expect(((await a) as VendorError).kind).toBe("rateLimited");
        // A pause that long is not taken at all when it would pass the budget; a shorter one is.
        let calls = 0;
        const b = await callVendor({ idempotent: false, pacer, budgetMs: 2_000 }, async () => {
            if (++calls === 1) throw new VendorError("rateLimited", "slow down", { code: 429, retryAfterMs: 100 });
            return "done";
        });
        expect(b).toBe("done");
        expect(calls).toBe(2);
        expect(Date.now() - started).toBeLessThan(1_500);
    });

    it("never repeats a non-idempotent call whose answer was lost, and repeats one that never left", async () => {
        let sent = 0;
        const lost = await callVendor({ idempotent: false, budgetMs: 1_000 }, async () => {
            sent++;
            throw new VendorError("outcomeUnknown", "no answer");
        }).catch((e) => e);
        expect((lost as VendorError).kind).toBe("outcomeUnknown");
        expect(sent).toBe(1);
        let tries = 0;
        const ok = await callVendor({ idempotent: false, budgetMs: 2_000 }, async () => {
            if (++tries === 1) throw new VendorError("unavailable", "cannot reach", { notProcessed: true });
            return tries;
        });
        expect(ok).toBe(2);
        // A 5xx to a create may come after a commit: it becomes an unknown outcome, not a retry.
        const fiveHundred = await callVendor({ idempotent: false, budgetMs: 1_000 }, async () => {
            throw new VendorError("unavailable", "internal error", { code: 500 });
        }).catch((e) => e);
        expect((fiveHundred as VendorError).kind).toBe("outcomeUnknown");
    });
});

describe("Pacer", () => {
    it("keeps an account under its per-second rate", async () => {
        const pacer = new Pacer({ perSecond: 20 });
        const started = Date.now();
        await Promise.all(Array.from({ length: 30 }, () => pacer.slot()));
        // 30 slots at 20/s take at least (30 - 1) / 20 s.
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    });

    it("releases the waiters of a pause one after another", async () => {
        const pacer = new Pacer();
        pacer.pause(100);
        const times: number[] = [];
        await Promise.all(Array.from({ length: 5 }, () => pacer.slot().then(() => times.push(Date.now()))));
        times.sort((a, b) => a - b);
        expect(times[4] - times[0]).toBeGreaterThanOrEqual(4 * 20);
    });
});

describe("Pacer with a per-second rate", () => {
    it("is not stalled by a clock moved back, and keeps its spacing on the monotonic clock", async () => {
        const { setClock } = await import("../providers/shared/clock.ts");
        const pacer = new Pacer({ perSecond: 20 });
        const restore = setClock(() => Date.now() + 3_600_000);
        await pacer.slot();
        restore();
        const started = performance.now();
        await pacer.slot();
        expect(performance.now() - started).toBeLessThan(500);
    });

    it("leaves headroom under the vendor's rate", async () => {
        const pacer = new Pacer({ perSecond: 20, headroom: 0.1 });
        const times: number[] = [];
        await Promise.all(Array.from({ length: 19 }, () => pacer.slot().then(() => times.push(performance.now()))));
        times.sort((a, b) => a - b);
        // 18 gaps of 1000 / 18 ms: at least 950 ms for 19 sends at 18/s.
        expect(times[18] - times[0]).toBeGreaterThanOrEqual(950);
    });
});
