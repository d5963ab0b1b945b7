// SupportSystem (osTicket): the folder's leaf module. The fields of its YAML section with their schema and
// defaults, its stack settings, its resource type names and output names are declared here once;
// descriptor, lifecycle, resource and client import them from here and this file imports nothing
// of the folder, so the imports run one way and the program process, which reads only an output
// list, never loads a wire client or a database driver.
import type { KeyOutputs } from "../shared/descriptor.ts";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { z } from "zod";
import { keyField, keyFields, keyName } from "../shared/fields.ts";
import { probeSettings } from "../shared/probe.ts";
import { Rotation } from "../shared/rotation.ts";

/** TLS to the database, named after MySQL's own --ssl-mode values. */
export const TLS_MODES = ["disabled", "required", "verify-ca", "verify-identity"] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** The key's name, kept in the row's `notes` as keyfleet's marker (see lifecycle.ts). */
export const SupportSystemName = keyName(200, "keyfleet's name for the key, kept in the help desk's internal note as a marker ([keyfleet:<name>]).");

export const ONE_ADDRESS =
    "the help desk binds each key to one address, compared with the request's source address: give one IPv4 or IPv6 address, or list several under ips: (one key each)";

/** Why `value` is not one address the help desk can bind a key to, or undefined. */
export function addressProblem(value: string): string | undefined {
    const shown = JSON.stringify(value);
    if (value.includes("/")) return `${shown} is a CIDR range; ${ONE_ADDRESS}`;
    if (value.includes("*")) return `${shown} is a wildcard; ${ONE_ADDRESS}`;
    if (value.includes("%")) return `${shown} has a zone index, which never appears in a request's source address; ${ONE_ADDRESS}`;
    const family = net.isIP(value);
    if (family === 0) {
        const hostName = /[A-Za-z]/.test(value) && /^[A-Za-z0-9.-]+$/.test(value) && !value.includes(":");
        return hostName ? `${shown} is a host name; ${ONE_ADDRESS}` : `${shown} is not a valid IPv4 or IPv6 address; ${ONE_ADDRESS}`;
    }
    // The unspecified address is what a server binds to, never a client's source address: a row
    // for it is one that no request can match (the help desk compares the stored address with
    // REMOTE_ADDR), so the key would be made and never work.
    if ((family === 4 && value === "0.0.0.0") || (family === 6 && canonicalAddress(value) === "::")) {
        return `${shown} is the unspecified address, which is never a request's source address, so no request could use the key; ${ONE_ADDRESS}`;
    }
    if (family === 6) {
        const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonicalAddress(value));
        if (mapped) {
            const n = (parseInt(mapped[1], 16) << 16) | parseInt(mapped[2], 16);
            const v4 = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
            return `${shown} is an IPv4-mapped IPv6 address; the help desk sees such a client as ${v4}: write that address`;
        }
    }
    return undefined;
}

/**
 * The address as the help desk sees a client's source address: IPv4 as written (no leading zeros
 * pass validation), IPv6 in its RFC 5952 form (lower case, zeros compressed), since the help desk
 * compares the stored address with the remote address as strings.
 */
export function canonicalAddress(value: string): string {
    if (net.isIP(value) !== 6) return value;
    return new URL(`http://[${value}]`).hostname.slice(1, -1);
}

/** zod's own JSON Schema of an address type (format and pattern), without its `$schema`. */
export function address(schema: z.ZodType): Record<string, unknown> {
    const { $schema: _, ...json } = z.toJSONSchema(schema);
    return json;
}

export const IpAddress = z
    .string()
    .superRefine((v, ctx) => {
        const problem = addressProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .describe("One IPv4 or IPv6 address (not a CIDR range, wildcard or host name): the source address the help desk accepts the key from. Immutable: a new address replaces the key.")
    // The JSON Schema an editor checks: an address of either family, as zod's own ipv4/ipv6 say it
    // (format and pattern); the loader's refinement above gives the plain-word reasons.
    .meta({
        anyOf: [
            { ...address(z.ipv4()), description: "An IPv4 address, four numbers 0-255.", examples: ["203.0.113.7"] },
            {
                ...address(z.ipv6()),
                // An IPv4-mapped address (::ffff:c000:207) reaches the help desk as the IPv4 one: refused, as addressProblem does.
                not: { pattern: "^(?:(?:0{1,4}:){0,4}0{1,4})?::(?:0{1,4}:){0,4}[fF]{4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}$|^(?:0{1,4}:){5}[fF]{4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}$" },
                description: "An IPv6 address, any case, zeros compressed or not; not IPv4-mapped (::ffff:…): write the IPv4 address.",
                examples: ["2001:db8::7"],
            },
        ],
        examples: ["203.0.113.7", "2001:db8::7"],
    });

export const ADOPT_ERROR = "adopt takes true (the row whose notes carry this key's marker) or a row id (the `id` column); never write a key value here";
export const ADOPT = z
    .union([z.literal(true), z.int().positive(), z.string().regex(/^[1-9][0-9]{0,9}$/, { error: ADOPT_ERROR })], { error: ADOPT_ERROR })
    .describe("Take over an existing row once, instead of creating one: true for the row whose notes carry this key's marker, or the row's id.");

export const MARKER_TEXT = "[keyfleet:";

export const InternalNote = z
    .string()
    .max(10_000, { error: "must be at most 10000 characters" })
    .refine((v) => !v.includes(MARKER_TEXT), { error: `must not contain "${MARKER_TEXT}", keyfleet's marker` })
    .describe("The key's internal note in the admin panel; keyfleet adds its marker on a line of its own after it.");

/** Characters of a name written percent-encoded in the marker; see lifecycle.ts's header. */
const ESCAPED = /[%[\]<>&"'\\\p{Cc}]|\s/u;

export function marker(name: string): string {
    let out = "";
    const chars = [...name];
    chars.forEach((ch, i) => {
        const single = ch === " " && i > 0 && i < chars.length - 1 && chars[i - 1] !== " " && chars[i + 1] !== " ";
        out += !single && ESCAPED.test(ch) ? encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : ch;
    });
    return `[keyfleet:${out}]`;
}

/** The `notes` column for a key: the user's note, then the marker on a line of its own. */
export function composeNotes(name: string, note: string | null): string {
    return note ? `${note}\n${marker(name)}` : marker(name);
}

const cleanNote = (v: unknown): string | null => (typeof v === "string" ? v.replace(/\r\n?/g, "\n").trim() || null : null);

/** A right of the help desk's table, granted unless the YAML says false. */
const right = (name: string) =>
    keyField({ yaml: z.boolean().describe(`The right "${name}" (default true, as the help desk's table).`), input: z.boolean(), kind: "mutable", required: false, fallback: true as boolean });

/**
 * The vendor fields of an API key, each declared once: what the YAML takes, the input it becomes,
 * how a change is applied. The lifecycle's inputs, check and diff, the resource's arguments and the
 * program's inputs are derived from this table (providers/shared/fields.ts).
 */
export const SS_FIELDS = keyFields({
    ip: keyField({
        // Optional in the entry, which may list several under ips: instead; keyInputs takes the one address of each key.
        yaml: IpAddress.optional(),
        input: IpAddress,
        kind: "immutable",
        required: true,
        fallback: "",
        // As the help desk compares it with a request's source address (canonicalAddress).
        normalize: (v) => canonicalAddress(String(v ?? "")),
    }),
    active: keyField({ yaml: z.boolean().describe("false disables the key (default true)."), input: z.boolean(), kind: "mutable", required: false, fallback: true as boolean }),
    canCreateTickets: right("Can Create Tickets"),
    canExecCron: right("Can Execute Cron"),
    // The user's internal note (trimmed), or null: the YAML's note.
    internalNote: keyField({ entry: "note", yaml: InternalNote, input: InternalNote, kind: "mutable", required: false, fallback: null as string | null, normalize: cleanNote }),
    // The whole `notes` column keyfleet writes: the internal note and the name's marker, so a change of either updates it.
    notes: keyField({ from: "inputs", kind: "mutable", required: false, fallback: "", normalize: (_v, inputs) => composeNotes(String(inputs.name ?? ""), cleanNote(inputs.internalNote)) }),
});

export const ApiKeyEntry = z
    .strictObject({
        name: SupportSystemName,
        ...SS_FIELDS.yamlShape,
        ips: z.array(IpAddress).min(1).optional().describe("Alternatively: one key per address (the help desk binds each key to one IP)."),
        rotation: Rotation.optional().describe("Overrides defaults.rotation for this key, field by field."),
        adopt: ADOPT.optional(),
    })
    .describe("A SupportSystem API key (a row of the help desk's <prefix>api_key table).");

export const SupportSystemSection = z
    .strictObject({
        apiKeys: z.array(ApiKeyEntry).optional().describe("API keys of the help desk (osTicket), each bound to one client address."),
    })
    .describe("SupportSystem help desk API keys, kept in the help desk's MySQL/MariaDB table <prefix>api_key.");

export type SupportSystemSection = z.infer<typeof SupportSystemSection>;
export type SupportSystemEntry = z.infer<typeof ApiKeyEntry>;

/** The resource name of the key of `entry` for `ip`: by name alone for `ip:`, by name and address for `ips:`. */
export function resourceName(entry: { name: string; ip?: string }, ip: string): string {
    return entry.ip !== undefined ? `supportsystem/${entry.name}` : `supportsystem/${entry.name}/${canonicalAddress(ip)}`;
}

export const port = (v: string) => (/^[0-9]+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : `must be a TCP port (1-65535); it is "${v}"`);

/** How keyfleet reaches the keys: the help desk's database, or its admin panel over HTTP(S). */
export const TRANSPORTS = ["database", "admin"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** The stack's transport, for the pre-flight check (the program's config, else the environment). */
export function configuredTransport(): string {
    let raw: string | undefined;
    try {
        const { getConfig } = createRequire(import.meta.url)("@pulumi/pulumi/runtime/config") as { getConfig(k: string): string | undefined };
        const text = getConfig("keyfleet:supportsystem");
        raw = text ? (JSON.parse(text) as { transport?: string }).transport : undefined;
    } catch {
        raw = undefined;
    }
    return raw || process.env.KEYFLEET_SUPPORTSYSTEM_TRANSPORT || "database";
}
export const database = () => configuredTransport() !== "admin";
export const admin = () => configuredTransport() === "admin";

/** The order is the order lifecycle.ts's connect() reads them in. */
export const SUPPORTSYSTEM_SETTINGS = [
    { key: "supportsystem.host", env: "KEYFLEET_MYSQL_HOST", needed: database, about: "host of the help desk's MySQL/MariaDB server" },
    { key: "supportsystem.port", env: "KEYFLEET_MYSQL_PORT", default: "3306", check: port, about: "its port" },
    { key: "supportsystem.user", env: "KEYFLEET_MYSQL_USER", needed: database, about: "database user; needs SELECT, INSERT, UPDATE and DELETE on the key table" },
    { key: "supportsystem.database", env: "KEYFLEET_MYSQL_DATABASE", needed: database, about: "the help desk's database" },
    {
        key: "supportsystem.tablePrefix",
        env: "KEYFLEET_MYSQL_TABLE_PREFIX",
        default: "ost_",
        check: (v: string) => (/^[A-Za-z0-9_]+$/.test(v) ? undefined : `must be letters, digits and underscores (the help desk's TABLE_PREFIX); it is "${v}"`),
        about: "the help desk's table prefix; the key table is <prefix>api_key",
    },
    {
        key: "supportsystem.tls",
        env: "KEYFLEET_MYSQL_TLS",
        default: "disabled",
        check: (v: string) => ((TLS_MODES as readonly string[]).includes(v) ? undefined : `must be one of ${TLS_MODES.join(", ")}; it is "${v}"`),
        about: `TLS to the server, as MySQL's --ssl-mode: ${TLS_MODES.join(", ")}`,
    },
    {
        key: "supportsystem.tlsCa",
        env: "KEYFLEET_MYSQL_TLS_CA",
        needed: () => false,
        check: (v: string) => (fs.existsSync(v) ? undefined : `names no readable file: "${v}"`),
        about: "PEM file of the CA that signed the server's certificate (verify-ca, verify-identity); default: the system's CAs",
    },
    { key: "supportsystemPassword", env: "KEYFLEET_MYSQL_PASSWORD", secret: true, default: "", about: "the database user's password (none by default)" },
    { key: "supportsystem.apiUrl", env: "KEYFLEET_SUPPORTSYSTEM_API_URL", url: true, needed: () => false, about: "the help desk's web address (its API under /api), for verify: true" },
    // verify: an empty ticket ({}) passes the key checks and is refused before anything is made
    // (400 "No errors", osTicket's parser on an empty body); a key without the ticket right gets
    // 401 "API key not authorized", and a body that reached ticket creation 500 "Unable to create
    // new ticket", both also only after the key itself was accepted (see probeKey in client.ts).
    // Never /tasks/cron, which runs the cron.
    {
        key: "supportsystem.transport",
        env: "KEYFLEET_SUPPORTSYSTEM_TRANSPORT",
        default: "database",
        check: (v: string) => ((TRANSPORTS as readonly string[]).includes(v) ? undefined : `must be one of ${TRANSPORTS.join(", ")}; it is "${v}"`),
        about: "how keys are managed: database (the key table over MySQL) or admin (the staff admin panel over HTTP(S))",
    },
    { key: "supportsystem.url", env: "KEYFLEET_SUPPORTSYSTEM_URL", url: true, needed: admin, about: "admin transport: the help desk's web address (the staff panel is <url>/scp)" },
    { key: "supportsystem.adminUser", env: "KEYFLEET_SUPPORTSYSTEM_ADMIN_USER", needed: admin, about: "admin transport: a staff administrator's user name (no two-factor login)" },
    { key: "supportsystemAdminPassword", env: "KEYFLEET_SUPPORTSYSTEM_ADMIN_PASSWORD", secret: true, needed: admin, about: "admin transport: that administrator's password" },
    {
        key: "supportsystem.adminPaceMs",
        env: "KEYFLEET_SUPPORTSYSTEM_ADMIN_PACE_MS",
        default: "100",
        needed: () => false,
        check: (v: string) => (/^[0-9]+$/.test(v) ? undefined : `must be a number of milliseconds; it is "${v}"`),
        about: "admin transport: milliseconds between two requests to the admin panel",
    },
    ...probeSettings("supportsystem", "KEYFLEET_SUPPORTSYSTEM", { url: "<apiUrl>/api/tickets.json", expect: "400:No errors,401:API key not authorized,500:Unable to create new ticket" }),
] as const;

export type Path = (string | number)[];

/** The help desk's two rights, by the names its admin panel gives them, and the inputs that grant them. */
export const RIGHTS = [
    ["canCreateTickets", "Can Create Tickets"],
    ["canExecCron", "Can Execute Cron"],
] as const;

/** The resource inputs of the key of `entry` for one address besides the core's: one function for declare() and the policy's offline check. */
export function keyInputs(e: SupportSystemEntry, ip: string) {
    return { name: e.name, ...SS_FIELDS.fromEntry(e, { ip }), adopt: e.adopt === undefined ? null : e.adopt === true ? (true as const) : String(e.adopt) };
}

export const SUPPORTSYSTEM_SECRET_OUTPUTS = ["apiKey"] as const;

/**
 * What the report, the summary and the core read of this vendor's key outputs: expiry, standing
 * (the rotation decision and the schedule use the same rule), what a delete leaves.
 */
// osTicket's api_key rows have no expiry; one entry's `ips:` makes a key per address.
export const SUPPORTSYSTEM_KEY_OUTPUTS: KeyOutputs = {
    fieldNames: SS_FIELDS.yamlNames,
    expires: null,
    standing: (o) => (o.active === false ? "disabled" : "active"),
    variant: "ip",
    keptOnDelete: () => "nothing (the row is deleted from the help desk's table)",
};
