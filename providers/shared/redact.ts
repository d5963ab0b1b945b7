// The secrets one process has handled (credentials read from settings, key values made or read),
// so that text leaving it by a way that is not the engine's (a provider's stderr, which the engine
// streams as is, unmasked) can have them taken out first: toolchain/dynamic-provider.ts redacts
// every stderr line with it.
//
// One set per process, on a global symbol: the plugin and the provider code it loads may be
// separate module instances of this file (a path here, a package name there).
const STORE = Symbol.for("keyfleet.redact.secrets");
const secrets: Set<string> = ((globalThis as Record<symbol, unknown>)[STORE] ??= new Set<string>()) as Set<string>;

/** Shorter values would take out ordinary words (a password "admin"); they are never keys. */
const MIN = 6;

/** Remembers a secret (and each string inside it, when it is a JSON document such as a map of owners). */
export function rememberSecret(value: unknown): void {
    if (typeof value === "string") {
        if (value.length >= MIN) secrets.add(value);
        const t = value.trim();
        if (t.startsWith("{") || t.startsWith("[")) {
            try {
                rememberSecret(JSON.parse(t));
            } catch {
                // not JSON: the whole text is remembered
            }
        }
    } else if (value && typeof value === "object") {
        for (const v of Object.values(value)) rememberSecret(v);
    }
}

/** The text with every remembered secret replaced by [secret], longest first (a key holding a shorter one). */
export function redact(text: string): string {
    if (secrets.size === 0) return text;
    for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (text.includes(s)) text = text.split(s).join("[secret]");
    return text;
}
