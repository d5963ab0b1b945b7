// How keyfleet reports a failed vendor call: the operation, the object, the vendor's answer and what
// to do about it, e.g.
//   creating <vendor> key "ci" for tenant 578e… failed: 409 name exists; rename it or adopt it
// A failure has a transport-neutral kind, so that a vendor reached over SQL fits as well as one over
// HTTP: each vendor client maps its own statuses (HTTP codes, envelope codes, SQL error numbers) to
// a kind, and the core decides retries, recovery and the hint from the kind alone.
// Messages never carry a key value or a credential: objects are named by name and scope (or a
// fingerprint), and transport errors by origin, never by a path that could hold a key id.

export type ErrorKind =
    /** The vendor refused because of what exists (a name taken, a key that cannot be reinstated). */
    | "conflict"
    /** The object is not there. */
    | "notFound"
    /** The credentials were refused. */
    | "unauthorized"
    /** The credentials are valid but may not do this. */
    | "forbidden"
    /** Too many requests; the vendor did not process this one. */
    | "rateLimited"
    /** The service did not answer, or failed, and did not process the request. */
    | "unavailable"
    /** The request may or may not have been carried out: the answer was lost. */
    | "outcomeUnknown"
    /** The vendor answered something keyfleet cannot read (a field missing, a body of another shape). */
    | "invalidAnswer"
    /** The vendor rejected the request itself (a field out of range). */
    | "rejected";

export interface VendorErrorOptions {
    /** The vendor's own code for the failure, as it is shown: "409", "4008", "ER_DUP_ENTRY". */
    code?: string | number;
    /** What to do, when the client knows better than the kind alone (a refused login, say). */
    hint?: string;
    /** How long the vendor asked to wait before trying again (Retry-After). */
    retryAfterMs?: number;
    /**
     * The vendor surely did not carry the request out (a SQL transaction rolled back before its
     * commit, a connection refused): safe to repeat even for a create, whatever the code says.
     */
    notProcessed?: boolean;
}

/** An answer from a vendor other than success, or no answer at all. */
export class VendorError extends Error {
    readonly kind: ErrorKind;
    readonly code?: string;
    readonly vendorMessage: string;
    readonly hint?: string;
    readonly retryAfterMs?: number;
    readonly notProcessed: boolean;
    constructor(kind: ErrorKind, vendorMessage: string, options: VendorErrorOptions = {}) {
        const code = options.code === undefined ? undefined : String(options.code);
        super(code ? `${code} ${vendorMessage}` : vendorMessage);
        this.name = "VendorError";
        this.kind = kind;
        this.code = code;
        this.vendorMessage = vendorMessage;
        this.hint = options.hint;
        this.retryAfterMs = options.retryAfterMs;
        this.notProcessed = options.notProcessed ?? false;
    }
}

export function isKind(err: unknown, ...kinds: ErrorKind[]): err is VendorError {
    return err instanceof VendorError && kinds.includes(err.kind);
}

/** What to do about each kind when neither the client nor the operation knows better. */
const DEFAULT_HINTS: Record<ErrorKind, string> = {
    conflict: "the vendor refused because of an existing object; check the YAML against what the vendor holds",
    notFound: "the object is gone from the vendor; run `pulumi refresh` to drop it from state",
    unauthorized: "check the credentials in the stack config",
    forbidden: "the account keyfleet uses may not do this; give it the right or use another account",
    rateLimited: "the vendor kept refusing with its rate limit; run again later or with fewer parallel operations (`pulumi up --parallel 4`)",
    unavailable: "the service did not answer or failed; check the endpoint in the stack config and that the service is up, then run again",
    outcomeUnknown: "the answer was lost, so keyfleet cannot tell whether it was carried out; the next `pulumi up` finds out and reconciles it",
    invalidAnswer: "the vendor answered in a shape keyfleet does not know; check that the endpoint is the right product and version",
    rejected: "check the key's entry in the YAML",
};

/**
 * What a vendor said, fit for a message: each of `secrets` it echoed (a key value, a token, a
 * password) masked first, so shortening can never leave half of one behind, then on one line and at
 * most `max` characters. Every client words vendor answers through this one function.
 */
export function vendorWords(text: string, secrets: readonly (string | undefined)[] = [], max = 200): string {
    const masked = secrets.filter((s): s is string => typeof s === "string" && s.length > 0).reduce((out, s) => out.replaceAll(s, "[redacted]"), text);
    const line = masked.replace(/\s+/g, " ").trim() || "no details";
    return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** Shortens an identifier that is not secret but long (a tenant UUID) for messages. */
export function short(id: string): string {
    return id.length > 8 ? `${id.slice(0, 4)}…` : id;
}

export type Fixes = Partial<Record<ErrorKind, string>>;

/** Wraps `err` into the one error shape keyfleet shows; the hint is the client's, else the operation's for the kind, else the kind's default. */
export function operationFailed(operation: string, object: string, err: unknown, fixes: Fixes = {}): VendorError | Error {
    const reason = err instanceof Error ? err.message : String(err);
    if (!(err instanceof VendorError)) return new Error(`${operation} ${object} failed: ${reason}`);
    const hint = err.hint ?? fixes[err.kind] ?? DEFAULT_HINTS[err.kind];
    const wrapped = new VendorError(err.kind, `${operation} ${object} failed: ${reason}${hint ? `; ${hint}` : ""}`, { retryAfterMs: err.retryAfterMs, notProcessed: err.notProcessed });
    return wrapped;
}
