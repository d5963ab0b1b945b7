// Every string a value holds, for scans of state and vendor records: nested objects and lists, and
// strings that are themselves JSON (a decrypted secret is its JSON text, {"plaintext": "\"…\""}).
export function strings(value: unknown, out = new Set<string>()): Set<string> {
    if (typeof value === "string") {
        out.add(value);
        if (/^["{[]/.test(value)) {
            try {
                strings(JSON.parse(value), out);
            } catch {
                // not JSON after all
            }
        }
    } else if (Array.isArray(value)) for (const v of value) strings(v, out);
    else if (value && typeof value === "object") for (const v of Object.values(value)) strings(v, out);
    return out;
}
