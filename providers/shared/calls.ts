// Retries and pacing, shared by every vendor. A vendor client turns each answer into a result or a
// VendorError of some kind; this decides from the kind alone what happens next:
// - rateLimited: the request was not processed, so any call (a create too) waits as long as the
//   vendor asked (Retry-After) or backs off, and tries again; the wait pauses every caller of the
//   same vendor account, because they share the vendor's budget;
// - unavailable: retried when the call is idempotent or surely never arrived;
// - a non-idempotent call (a create) whose answer was lost or that failed with an outage is never
//   repeated here: it becomes outcomeUnknown, and the core's recovery looks for what it made.
// Every call has a bounded total time (KEYFLEET_RETRY_BUDGET_MS, default two minutes). A vendor that
// announces its budget in answer headers (X-RateLimit-Limit / -Remaining) is paced from them too
// (Pacer.observe, rateLimitFrom).
import { clock, sleep } from "./clock.ts";
import { VendorError } from "./errors.ts";

export interface Limits {
    /** Requests per second the vendor allows one account. */
    perSecond?: number;
    /** Requests per hour the vendor allows one account. */
    perHour?: number;
    /**
     * Part of `perSecond` left unused (0.1 = pace at 90%), for the jitter between when a request
     * leaves and when the vendor counts it (a new connection, a busy event loop); default 0.
     */
    headroom?: number;
}

/** One vendor account's pace: at most `perSecond` and `perHour` requests, and a shared pause after a 429. */
export class Pacer {
    private next = 0;
    /** When the last request was let go, on the monotonic clock (performance.now()). */
    private lastSent = Number.NEGATIVE_INFINITY;
    private pausedUntil = 0;
    private hour: number[] = [];
    private interval: number;
    /** The interval the declared limits give; what a vendor's headers say only ever slows it. */
    private readonly declared: number;
    private readonly headroom: number;
    private readonly perHour: number;
    /** Requests that had to wait for the pace, and the 429 pauses taken, for the benchmark. */
    readonly stats = { waited: 0, pauses: 0 };

    constructor(limits: Limits = {}) {
        this.headroom = Math.min(Math.max(limits.headroom ?? 0, 0), 0.9);
        this.declared = this.interval = limits.perSecond ? 1000 / (limits.perSecond * (1 - this.headroom)) : 0;
        this.perHour = limits.perHour ?? 0;
    }

    /**
     * What the vendor said of this account's budget in an answer (see rateLimitFrom): a lower limit
     * than the declared one slows the pace to it (with the same headroom), and nothing remaining
     * pauses every caller, so the next request does not meet a 429: for one interval of the
     * announced limit when there is one (the pace already spreads the window; a whole window would
     * idle past its reset, which no header tells), else for the whole window. Headers never make
     * the pace faster than the declared limits.
     */
    observe(budget: { limit?: number; remaining?: number; windowMs: number }) {
        const limit = budget.limit && budget.limit > 0 ? budget.limit : undefined;
        if (limit) this.interval = Math.max(this.declared, budget.windowMs / (limit * (1 - this.headroom)));
        if (budget.remaining === 0) this.pause(limit ? budget.windowMs / limit : budget.windowMs);
    }

    /**
     * Resolves when the next request of this account may go: each caller reserves its own slot, so
     * waiters after a 429 go one after another instead of all at once. Throws rateLimited when the
     * wait would pass `deadline`.
     */
    async slot(deadline = Infinity): Promise<void> {
        // Pacing is about elapsed time, so it runs on the monotonic clock; only the caller's
        // deadline is on the core's clock (which tests and KEYFLEET_CLOCK_OFFSET_MS may move).
        for (;;) {
            const now = performance.now();
            let at = Math.max(now, this.next, this.pausedUntil);
            if (this.perHour) {
                this.hour = this.hour.filter((t) => t > now - 3_600_000);
                if (this.hour.length >= this.perHour) at = Math.max(at, this.hour[this.hour.length - this.perHour] + 3_600_000);
            }
            if (clock.now() + (at - now) > deadline) {
                throw new VendorError("rateLimited", `the vendor's rate limit would delay this call past the retry budget (${Math.ceil((at - now) / 1000)} s)`, { notProcessed: true });
            }
            // Callers that have to wait go one after another (at least SPREAD_MS apart, so the end of
            // a 429 pause does not release them all at once); otherwise keep the account's own pace.
            this.next = at > now ? at + Math.max(this.interval, SPREAD_MS) : this.interval ? at + this.interval : 0;
            if (at <= now) {
                if (this.perHour) this.hour.push(now);
                return this.went();
            }
            this.stats.waited++;
            const pausedUntil = this.pausedUntil;
            await sleep(at - now);
            // A 429 that arrived while this caller slept pauses it too; otherwise the slot is its own.
            if (this.pausedUntil <= pausedUntil || this.pausedUntil <= at) {
                if (this.perHour) this.hour.push(at);
                return this.went();
            }
        }
    }

    /**
     * Keeps the spacing from the request that actually went last: callers woken late (a busy event
     * loop) would otherwise go together with those due after them, over the rate within a second.
     * Measured on the monotonic clock, so a clock moved back (a test, a system clock step) never
     * stalls the pace; each caller reserves its send time, so nobody sleeps twice.
     */
    private async went(): Promise<void> {
        if (!this.interval) return;
        const now = performance.now();
        const at = Math.max(now, this.lastSent + this.interval);
        this.lastSent = at;
        if (at > now) await sleep(at - now);
    }

    pause(ms: number) {
        this.stats.pauses++;
        this.pausedUntil = Math.max(this.pausedUntil, performance.now() + ms);
    }
}

/**
 * X-RateLimit-Limit and X-RateLimit-Remaining of an answer, when the vendor sends them (whole
 * numbers; anything else is ignored), for Pacer.observe; undefined when it sends neither.
 */
export function rateLimitFrom(headers: Record<string, string | string[] | undefined>): { limit?: number; remaining?: number } | undefined {
    const read = (name: string) => {
        const raw = headers[name];
        const v = Array.isArray(raw) ? raw[0] : raw;
        return v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined;
    };
    const limit = read("x-ratelimit-limit");
    const remaining = read("x-ratelimit-remaining");
    return limit === undefined && remaining === undefined ? undefined : { limit, remaining };
}

/** Gap between waiters released by the end of a 429 pause. */
const SPREAD_MS = 25;

const pacers = new Map<string, Pacer>();

/** The process-wide pace of one vendor account (by any stable name: vendor, endpoint and user). */
export function pacerFor(account: string, limits: Limits = {}): Pacer {
    let pacer = pacers.get(account);
    if (!pacer) pacers.set(account, (pacer = new Pacer(limits)));
    return pacer;
}

export interface CallPolicy {
    /** Whether repeating the call is harmless (reads, updates to a value, deletes, token requests). */
    idempotent: boolean;
    pacer?: Pacer;
    /** Total time for all attempts; the default is KEYFLEET_RETRY_BUDGET_MS or two minutes. */
    budgetMs?: number;
}

function budget(): number {
    const v = Number(process.env.KEYFLEET_RETRY_BUDGET_MS);
    return Number.isFinite(v) && v > 0 ? v : 120_000;
}

/** Runs `attempt` under the policy above. */
export async function callVendor<T>(policy: CallPolicy, attempt: () => Promise<T>): Promise<T> {
    const deadline = clock.now() + (policy.budgetMs ?? budget());
    for (let n = 1; ; n++) {
        await policy.pacer?.slot(deadline);
        try {
            return await attempt();
        } catch (err) {
            if (!(err instanceof VendorError)) throw err;
            const backoff = Math.min(200 * 2 ** (n - 1), 5_000);
            if (err.kind === "rateLimited") {
                const wait = err.retryAfterMs ?? backoff;
                if (clock.now() + wait > deadline) throw err;
                policy.pacer?.pause(wait);
                if (!policy.pacer) await sleep(wait);
                continue;
            }
            if (err.kind === "unavailable" || err.kind === "outcomeUnknown") {
                // An outage answer to a create may come after the vendor committed it; only a request that
                // never arrived or that the vendor surely did not carry out (a refused connection, a failed
                // login before it, a SQL transaction rolled back before its commit) is safe to send again.
                const unsent = err.kind === "unavailable" && err.notProcessed;
                if (!policy.idempotent && !unsent) {
                    throw err.kind === "outcomeUnknown" ? err : new VendorError("outcomeUnknown", err.vendorMessage, { code: err.code, hint: err.hint });
                }
                if (clock.now() + backoff > deadline) throw err.kind === "outcomeUnknown" ? new VendorError("unavailable", err.vendorMessage, { code: err.code, hint: err.hint }) : err;
                await sleep(backoff);
                continue;
            }
            throw err;
        }
    }
}
