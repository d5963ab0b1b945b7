// One answer shared by every key of the process for a short while. A refresh reads every key at
// once; a vendor whose API lists keys (paged) or whose store can be read in one query serves all of
// those reads with one walk instead of one call per key. Any write through the same client
// forgets the snapshot, so a read after a change never sees the world before it.
import { clock } from "./clock.ts";

interface Entry<T> {
    at: number;
    value: Promise<T>;
}

export class Snapshot<T> {
    private entries = new Map<string, Entry<T>>();
    private readonly ttlMs: number;

    constructor(ttlMs = 10_000) {
        this.ttlMs = ttlMs;
    }

    /** The shared answer for `key`, loading it when there is none or it is older than the lifetime. */
    get(key: string, load: () => Promise<T>): Promise<T> {
        const now = clock.now();
        const entry = this.entries.get(key);
        if (entry && now - entry.at < this.ttlMs) return entry.value;
        const value = load();
        const fresh = { at: now, value };
        this.entries.set(key, fresh);
        value.catch(() => {
            if (this.entries.get(key) === fresh) this.entries.delete(key);
        });
        return value;
    }

    /** Forgets every snapshot (after a write). */
    forget() {
        this.entries.clear();
    }
}
