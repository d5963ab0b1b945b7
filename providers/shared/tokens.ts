// One access token per credential per process, shared by every resource the dynamic provider
// serves. A login starts only when there is no token, the token's lifetime is over, or the vendor
// refused it; every caller that needs a token meanwhile waits for that one login instead of making
// its own (20 parallel creates after an expiry make one login, not 20). A refusal evicts the token
// only if it is still the cached one, so a stale refusal never throws away a newer token.
import { clock } from "./clock.ts";
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
