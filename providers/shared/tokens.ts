// One access token per credential per process, shared by every resource the dynamic provider
// serves. A login starts only when there is no token, the token's lifetime is over, or the vendor
// refused it; every caller that needs a token meanwhile waits for that one login instead of making
// its own (20 parallel creates after an expiry make one login, not 20). A refusal evicts the token
// only if it is still the cached one, so a stale refusal never throws away a newer token.
import { clock } from "./clock.ts";
import { VendorError } from "./errors.ts";
import { rememberSecret } from "./redact.ts";

export interface Token {
    value: string;
    /** Lifetime the vendor gave, in milliseconds. */
    lifetimeMs: number;
}

interface Entry {
    pending: Promise<string>;
    value?: string;
    renewAt?: number;
}

/** Tokens are renewed this long before the vendor says they expire (or at half their life if shorter). */
const MARGIN_MS = 60_000;

export class TokenCache {
    private readonly entries = new Map<string, Entry>();
    /** Logins started, by cache key; the benchmark and tests read it. */
    readonly logins = new Map<string, number>();

    /** A valid token for `key`, logging in with `login` only when no usable one is cached or on its way. */
    get(key: string, login: () => Promise<Token>): Promise<string> {
        const entry = this.entries.get(key);
        if (entry && (entry.value === undefined || (entry.renewAt ?? 0) > clock.now())) return entry.pending;
        // No await between the check above and the set below: concurrent callers see this entry.
        const fresh: Entry = { pending: Promise.resolve("") };
        fresh.pending = login().then(
            (token) => {
                // A token is a credential for its lifetime: never in what the process prints.
                rememberSecret(token.value);
                fresh.value = token.value;
                fresh.renewAt = clock.now() + Math.max(token.lifetimeMs - MARGIN_MS, token.lifetimeMs / 2);
                return token.value;
            },
            (err) => {
                if (this.entries.get(key) === fresh) this.entries.delete(key);
                throw err;
            },
        );
        this.entries.set(key, fresh);
        this.logins.set(key, (this.logins.get(key) ?? 0) + 1);
        return fresh.pending;
    }

    /** The vendor refused `value`: forget it, unless a newer token has replaced it already. */
    refused(key: string, value: string) {
        const entry = this.entries.get(key);
        if (entry?.value === value) this.entries.delete(key);
    }

    clear() {
        this.entries.clear();
        this.logins.clear();
    }
}

/** The process-wide cache every vendor client uses. */
export const tokens = new TokenCache();

/**
 * One request with the token of `key`. A token the vendor refuses (`isRefused` of its answer) is
 * forgotten and the request sent once more with a new login's, because tokens die before their time
 * (a restarted login service, a regenerated secret); a second refusal is the answer. A failed login
 * means the request itself was never sent, so its error is marked not processed: never an unknown
 * outcome, always safe to try again. `beforeRetry` runs before the resend (a vendor's pacing slot).
 */
export async function withToken<R>(
    cache: TokenCache,
    key: string,
    login: () => Promise<Token>,
    request: (token: string) => Promise<R>,
    isRefused: (answer: R) => boolean,
    beforeRetry?: () => Promise<void>,
): Promise<{ answer: R; token: string }> {
    for (let attempt = 1; ; attempt++) {
        const token = await cache.get(key, login).catch((err: unknown) => {
            if (!(err instanceof VendorError)) throw err;
            throw new VendorError(err.kind, err.vendorMessage, { code: err.code, hint: err.hint, retryAfterMs: err.retryAfterMs, notProcessed: true });
        });
        const answer = await request(token);
        if (attempt === 1 && isRefused(answer)) {
            cache.refused(key, token);
            await beforeRetry?.();
            continue;
        }
        return { answer, token };
    }
}
