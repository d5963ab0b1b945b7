// Field schemas more than one vendor uses. Each vendor's YAML section and its provider's `check`
// are built from the same zod schemas, so the rules exist once: what passes the YAML passes check,
// and what check refuses (say, after a hand edit of state) is refused with the same words.
import { z } from "zod";

/** A key name: not blank (a name of only spaces is refused), at most `max` characters. */
export function keyName(max: number, about: string) {
    return z
        .string()
        .max(max, { error: `must be at most ${max} characters` })
        .regex(/\S/, { error: "must not be blank" })
        // A newline or NUL reaches the vendor's UI, logs and SQL as is; no product's names hold them.
        .regex(/^[^\u0000-\u001f\u007f]*$/, { error: "must not contain control characters (a newline, a tab, NUL)" })
        .describe(about);
}

/** A date or a date and time in the YAML. A bare date means the end of that day, UTC. */
export const ExpiryDate = z
    .union(
        [
            // The JSON Schema's patterns for these are ~200 characters: each branch says in words what it takes.
            z.iso.date().describe("A calendar date, YYYY-MM-DD: the key stops working at the end of that day, UTC.").meta({ examples: ["2027-06-30"] }),
            z.iso
                .datetime({ offset: true })
                .describe("A date and time with its offset, YYYY-MM-DDThh:mm:ss and Z or ±hh:mm.")
                .meta({ examples: ["2027-06-30T12:00:00Z", "2027-06-30T14:00:00+02:00"] }),
        ],
        { error: "must be a date (2027-01-31) or a date and time (2027-01-31T12:00:00Z)" },
    )
    .describe("When the key stops working. A date (2027-06-30) means the end of that day, UTC: 2027-06-30T23:59:59Z.")
    .meta({ examples: ["2027-06-30", "2027-06-30T12:00:00Z"] });

/** The instant an expiry from the YAML means: a bare date is the last second of that day, UTC. */
export function expiryInstant(value: string): string {
    return /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T23:59:59.000Z` : new Date(value).toISOString();
}

/** An expiry as the provider holds it: an ISO 8601 instant, or null for never. */
export const ExpiryInstant = z
    .string()
    .refine((v) => !Number.isNaN(Date.parse(v)), { error: "must be an ISO 8601 time" })
    .nullable();
