// How keyfleet reports a failed vendor call: the operation, the object, the vendor's status and
// message, and what to do about it, e.g.
//   creating Nexus key "ci" for tenant 578e… failed: 409 name exists; rename it or adopt it
// Messages never carry a key value or a credential: objects are named by name and tenant (or a
// fingerprint), and transport errors by origin, never by a path that could hold a key id.

/** An answer from a vendor other than success, or no answer at all (status 0). */
export class VendorError extends Error {
    readonly status: number;
    readonly vendorMessage: string;
    /** What to do, when the client knows better than the status alone (a refused login, say). */
    readonly hint?: string;
    constructor(status: number, vendorMessage: string, hint?: string) {
        super(status === 0 ? vendorMessage : `${status} ${vendorMessage}`);
        this.name = "VendorError";
        this.status = status;
        this.vendorMessage = vendorMessage;
        this.hint = hint;
    }
}

/** Shortens an identifier that is not secret but long (a tenant UUID) for messages. */
export function short(id: string): string {
    return id.length > 8 ? `${id.slice(0, 4)}…` : id;
}

/** Wraps `err` into the one error shape keyfleet shows; `fix` is chosen from the status. */
export function operationFailed(operation: string, object: string, err: unknown, fix?: (status: number) => string | undefined): Error {
    const status = err instanceof VendorError ? err.status : -1;
    const reason = err instanceof Error ? err.message : String(err);
    const own = err instanceof VendorError ? err.hint : undefined;
    const hint = own ?? (status === 0 ? "check the endpoint URL in the stack config and that the service is up" : fix?.(status));
    return new Error(`${operation} ${object} failed: ${reason}${hint ? `; ${hint}` : ""}`);
}
