// Field schemas more than one vendor uses. Each vendor's YAML section and its provider's `check`
// are built from the same zod schemas, so the rules exist once: what passes the YAML passes check,
// and what check refuses (say, after a hand edit of state) is refused with the same words.
import type * as pulumi from "@pulumi/pulumi";
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

/**
 * Where a field's value comes from. entry: the YAML entry writes it, the resource takes it as an
 * argument. program: the program sets it from where the entry sits (Nexus's kind and tenant, from
 * its list and section), never written in the entry; the resource hands it to fromArgs. inputs:
 * normalize makes it from the other inputs (SupportSystem's notes column, from the name and the
 * note), nobody gives it.
 */
export type FieldSource = "entry" | "program" | "inputs";

/**
 * One vendor field of a key, declared once in the vendor's schema.ts: the YAML's schema, the input
 * the program makes of it, its canonical form, how a change is applied, and its default. The
 * lifecycle's inputs type, check schema, field lists and normalize, the resource's arguments and
 * the program's inputs are all derived from the table (keyFields), so a new field is one entry
 * plus its use in the backend.
 */
export interface KeyField<T, Required extends boolean = boolean, Yaml extends z.ZodType = z.ZodType, Entry extends string = string, Source extends FieldSource = FieldSource> {
    /** What the YAML entry takes, with its description (the JSON Schema shows it); only for a field from the entry. */
    yaml?: Yaml;
    /** The entry's name for the field where it differs from the input's (BeyondTrust's queue is the input targetQueue). */
    entry?: Entry;
    /** Where the value comes from (default entry); see FieldSource. */
    from?: Source;
    /** What the provider's check takes for the input; absent, check leaves the field alone (one normalize makes). */
    input?: z.ZodType;
    /** immutable: a change replaces the key; mutable: an update changes it in place; local: only keyfleet reads it (never a vendor call). */
    kind: "immutable" | "mutable" | "local";
    /** A flag the vendor cannot clear once set (a revoked key stays revoked): clearing it replaces the key. */
    oneWay?: boolean;
    /**
     * Whether the resource must give it (else `fallback` stands in), and the YAML entry too unless
     * its yaml schema is itself optional (SupportSystem's ip, which `ips:` can give instead).
     */
    required: Required;
    /** Whether check requires the input though the YAML and the resource may leave it out (the resource gives the fallback then). */
    inputRequired?: boolean;
    /** The value where the YAML or the resource leaves it out, and where old state lacks it. */
    fallback: T;
    /** The input from the YAML entry's value (default: the value itself, or the fallback). */
    fromEntry?(value: unknown): T;
    /** The canonical form of an input, which the diff compares (default: the value, or the fallback); `inputs` are all of them, as given. */
    normalize?(value: unknown, inputs: Record<string, unknown>): T;
}

export type FieldTable = Record<string, KeyField<any, boolean, z.ZodType, string, FieldSource>>;

type From<F extends FieldTable, K extends keyof F> = F[K] extends KeyField<any, any, any, any, infer S> ? S : never;
/** The fields of a table that come from `source`. */
type Sourced<F extends FieldTable, S extends FieldSource> = { [K in keyof F]: From<F, K> extends S ? K : never }[keyof F];
type EntryName<F extends FieldTable, K extends keyof F> = F[K] extends KeyField<any, any, any, infer E, any> ? ([E] extends [never] ? K : E) : K;

/** The YAML entry's shape a table declares, typed field by field (so the entry's type is inferred). */
export type YamlShape<F extends FieldTable> = {
    [K in Sourced<F, "entry"> as EntryName<F, K>]: F[K] extends KeyField<any, infer R, infer Y, any, any> ? (R extends true ? Y : z.ZodOptional<Y>) : never;
};

/** The inputs a field table declares, as the lifecycle holds them. */
export type FieldValues<F extends FieldTable> = { -readonly [K in keyof F]: F[K]["fallback"] };

/** The inputs the YAML entry gives (the fields from the entry). */
export type EntryValues<F extends FieldTable> = Pick<FieldValues<F>, Sourced<F, "entry">>;

/** What the program sets of a resource's inputs (the fields from the program), for fromArgs. */
export type ProgramArgs<F extends FieldTable> = { [K in Sourced<F, "program">]: pulumi.Input<F[K]["fallback"]> };

/** The resource arguments a field table declares: required fields required, the rest optional. */
export type FieldArgs<F extends FieldTable> = { [K in Sourced<F, "entry"> as F[K]["required"] extends true ? K : never]: pulumi.Input<F[K]["fallback"]> } & {
    [K in Sourced<F, "entry"> as F[K]["required"] extends true ? never : K]?: pulumi.Input<F[K]["fallback"]>;
};

/**
 * A field, typed from its fallback. The return is NoInfer: inferred from the table it sits in, `entry`
 * and `from` would widen to string and FieldSource, and the YAML shape and arguments lose their names.
 */
export function keyField<T, const R extends boolean, Y extends z.ZodType, const E extends string = never, const S extends FieldSource = "entry">(f: KeyField<T, R, Y, E, S>): NoInfer<KeyField<T, R, Y, E, S>> {
    return f;
}

const isGiven = (v: unknown) => v !== undefined && v !== null;

/** What the table derives; see KeyField. */
export function keyFields<F extends FieldTable>(table: F) {
    const names = Object.keys(table) as (keyof F & string)[];
    const of = (kind: KeyField<unknown>["kind"]) => names.filter((n) => table[n]!.kind === kind);
    const from = (source: FieldSource) => names.filter((n) => (table[n]!.from ?? "entry") === source);
    const entryFields = from("entry");
    const checked = names.filter((n) => table[n]!.input);
    // A copy per use: one resource's inputs never share an array or object with another's.
    const fallback = (n: keyof F & string) => structuredClone(table[n]!.fallback);
    return {
        table,
        /** The field lists of the diff, for FieldSpec. */
        immutable: of("immutable"),
        mutable: of("mutable"),
        local: of("local"),
        oneWay: names.filter((n) => table[n]!.oneWay),
        /** For what the operator reads (plans, drift): the YAML's name of an input where it differs, null for one the YAML never names (made from other fields). */
        yamlNames: Object.fromEntries(
            names.flatMap((n): [string, string | null][] => ((table[n]!.from ?? "entry") === "inputs" ? [[n, null]] : table[n]!.entry && table[n]!.entry !== n ? [[n, table[n]!.entry!]] : [])),
        ) as Readonly<Record<string, string | null>>,
        /** The YAML entry's shape (z.strictObject({...yamlShape, ...})). */
        yamlShape: Object.fromEntries(entryFields.map((n) => [table[n]!.entry ?? n, table[n]!.required ? table[n]!.yaml! : table[n]!.yaml!.optional()])) as YamlShape<F>,
        /** check's shape for the inputs. */
        inputShape: Object.fromEntries(checked.map((n) => [n, table[n]!.required || table[n]!.inputRequired ? table[n]!.input! : table[n]!.input!.nullish()])) as Record<keyof F, z.ZodType>,
        /** The inputs from a YAML entry; `given` are values the program has instead of the entry's (the address of one of `ips:`). */
        fromEntry(entry: Record<string, unknown>, given: Partial<EntryValues<F>> = {}): EntryValues<F> {
            return Object.fromEntries(
                entryFields.map((n) => {
                    const f = table[n]!;
                    const v = entry[f.entry ?? n];
                    return [n, n in given ? given[n as keyof typeof given] : f.fromEntry ? f.fromEntry(v) : isGiven(v) ? v : fallback(n)];
                }),
            ) as EntryValues<F>;
        },
        /** Every field present in its canonical form. */
        normalize(raw: Record<string, unknown>): FieldValues<F> {
            return Object.fromEntries(names.map((n) => [n, table[n]!.normalize ? table[n]!.normalize!(raw[n], raw) : isGiven(raw[n]) ? raw[n] : fallback(n)])) as FieldValues<F>;
        },
        /** The resource's inputs from its arguments and what the program sets: what the program left out takes the fallback. */
        fromArgs(args: object, ...program: keyof ProgramArgs<F> extends never ? [] : [ProgramArgs<F>]): Record<keyof F, unknown> {
            const values = entryFields.map((n) => [n, (args as Record<string, unknown>)[n] ?? fallback(n)]);
            return { ...program[0], ...Object.fromEntries(values) } as Record<keyof F, unknown>;
        },
    };
}
