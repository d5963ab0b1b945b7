// SupportSystem API keys: the narrow lifecycle the core's key provider drives
// (providers/shared/provider.ts), the inputs and outputs of a key resource, and its connection.
//
// A key is one row of the help desk's table `<prefix>api_key`. The resource id is the row id (not
// secret); the key value, 32 upper-case hexadecimal characters as the help desk itself makes them,
// is the secret output `apiKey`. The address is immutable (the help desk has no way to move a key;
// a new address makes a new row first, and the old row is deleted after); the active flag, the two
// rights and the note are updated in place, with `updated` set as the admin panel does.
//
// THE MARKER. The help desk has no name for a key, only an internal note, so keyfleet keeps the
// key's name in `notes`, on a line of its own after the user's note:
//
//     Contact form on the public site
//     [keyfleet:web form]
//
// - The name is written as is, except that `%`, `[`, `]`, `<`, `>`, `&`, quotes, backslashes,
//   control characters and any whitespace other than single spaces between words are
//   percent-encoded as UTF-8 (`[keyfleet:a%5Bb%5D]` is the name `a[b]`). So a marker is always one
//   line without brackets inside, and survives an admin panel that keeps notes as HTML.
// - Reading takes the LAST `[keyfleet:…]` in the notes (anywhere, even wrapped in markup); the
//   user's note is the rest, trimmed. A note in the YAML may not contain `[keyfleet:` itself.
// - A row is this resource's key when its marker names the key AND its address is the key's:
//   `ips:` gives one name several rows, one per address.
// keyfleet finds its rows by the marker for `adopt: true` and to recover a create whose
// connection was lost after COMMIT (the row is found and taken over, never inserted again).
import crypto from "node:crypto";
import { z } from "zod";
import { parse as parseHtml } from "node-html-parser";
import type { CoreInputs, CoreOutputs, VendorKeys } from "../shared/contract.ts";
import { keyProvider } from "../shared/provider.ts";
import { judge } from "../shared/probe.ts";
import { Rotation } from "../shared/rotation.ts";
import { Settings, type RawConfig } from "../shared/settings.ts";
import { VendorError } from "../shared/errors.ts";
import { SupportSystemAdminClient } from "./admin.ts";
import { closeAll, DuplicateApiKey, probeKey, probeRefusal, SupportSystemClient, type StoredText, type ApiKeyChanges, type ApiKeyRow } from "./client.ts";
import type { FieldValues } from "../shared/fields.ts";
import { ADOPT, SS_FIELDS, SUPPORTSYSTEM_SETTINGS, SupportSystemName, type TlsMode, SUPPORTSYSTEM_KEY_OUTPUTS, SUPPORTSYSTEM_SECRET_OUTPUTS } from "./schema.ts";

/** The core's inputs and the vendor fields SS_FIELDS declares (schema.ts documents each). */
export type SupportSystemKeyInputs = CoreInputs &
    FieldValues<typeof SS_FIELDS.table> & {
        /**
         * Where the entry's name and note are in the YAML ("config/prod.yaml:7:15
         * supportsystem.apiKeys[0].note"), for refusals that only the database can decide (its character
         * set). In no field list: a moved line is no change.
         */
        yamlAt: { name?: string; note?: string } | null;
    };

export interface SupportSystemKeyOutputs extends SupportSystemKeyInputs, CoreOutputs {
    /** The API key. Secret. */
    apiKey: string;
    /** The row id, also the resource id. */
    keyId: number;
    /** When the row was last changed (by keyfleet or the admin panel). */
    updated: string;
}


/** A key value as the help desk makes it: 16 random bytes as 32 upper-case hexadecimal characters. */
export function newApiKey(): string {
    return crypto.randomBytes(16).toString("hex").toUpperCase();
}

/** Where create draws key values from; tests replace it to force a collision. */
export const keySource = { next: newApiKey };

/** Attempts at a key value that collides with no other row (a collision of 128 random bits means a broken random source). */
const KEY_ATTEMPTS = 5;

export { composeNotes, marker } from "./schema.ts";

const MARKER = /\[keyfleet:([^[\]<>&"'\\\r\n]*)\]/g;

/** The name in the row's last marker (or undefined), and the user's note around it (or null). */
export function parseNotes(notes: string | null): { name?: string; note: string | null } {
    const text = (notes ?? "").replace(/\r\n?/g, "\n");
    let last: RegExpExecArray | undefined;
    for (const m of text.matchAll(MARKER)) last = m;
    let name: string | undefined;
    if (last) {
        try {
            name = decodeURIComponent(last[1]);
        } catch {
            name = undefined;
        }
    }
    if (name === undefined || !/\S/.test(name)) return { note: text.trim() || null };
    const rest = (text.slice(0, last!.index) + text.slice(last!.index + last![0].length)).trim();
    return { name, note: rest || null };
}

/**
 * Whether the notes a help desk shows are the notes keyfleet wrote, as its admin panel keeps them:
 * the panel's sanitizer (Format::sanitize) compacts white space (the marker's line break becomes a
 * space), rewrites entities and drops some attributes and elements, so only the text and the
 * elements count. A change of text or markup is still drift; one of white space or attributes
 * only is not (tolerated, so that a note with markup does not drift on every run).
 */
export function sameNotes(shown: string | null, wanted: string | null): boolean {
    if ((shown ?? "") === (wanted ?? "")) return true;
    const canon = (x: string | null) => {
        const doc = parseHtml(x ?? "");
        return `${doc.text.replace(/\s+/g, " ").trim()}\0${doc.querySelectorAll("*").map((e) => e.tagName).join(",")}`;
    };
    return canon(shown) === canon(wanted);
}

/** The inputs `check` accepts: the YAML's field schemas (the address already canonical). */
const SupportSystemInputs = z.object({ name: SupportSystemName, ...SS_FIELDS.inputShape, rotation: Rotation.nullish(), adopt: ADOPT.nullish() });

interface Connection {
    client: SupportSystemClient | SupportSystemAdminClient;
    /** The probe's stack settings (rotation.verify). */
    probe: { apiUrl?: string; url?: string; expect: string };
}

function connect(settings: Settings): Connection {
    const [host, port, user, database, tablePrefix, tls, tlsCa, password, apiUrl, transport, url, adminUser, adminPassword, adminPace, probeUrl, probeExpect] = SUPPORTSYSTEM_SETTINGS;
    const probe = { apiUrl: settings.get(apiUrl) ?? settings.get(url), url: settings.get(probeUrl), expect: settings.require(probeExpect) };
    if (settings.require(transport) === "admin") {
        const client = new SupportSystemAdminClient({
            url: settings.require(url),
            user: settings.require(adminUser),
            password: settings.require(adminPassword),
            paceMs: Number(settings.require(adminPace)),
        });
        return { client, probe };
    }
    const client = new SupportSystemClient({
        host: settings.require(host),
        port: Number(settings.require(port)),
        user: settings.require(user),
        database: settings.require(database),
        prefix: settings.require(tablePrefix),
        tls: settings.require(tls) as TlsMode,
        tlsCa: settings.get(tlsCa),
        password: settings.get(password) ?? "",
    });
    return { client, probe: { apiUrl: settings.get(apiUrl), url: settings.get(probeUrl), expect: settings.require(probeExpect) } };
}

/**
 * The name and the note go into `notes`, whose character set (utf8mb3 in osTicket's schema) may not
 * hold every character the YAML does: refused here, before any write, at their place in the YAML.
 */
async function refuseUnstorable(client: Connection["client"], inputs: SupportSystemKeyInputs): Promise<void> {
    if (!(client instanceof SupportSystemClient)) return;
    const fallback = (field: string) => `${supportSystemLifecycle.model.describe(inputs)}: ${field}`;
    await client.refuseUnstorable([
        { column: "notes", text: inputs.name, field: inputs.yamlAt?.name ?? fallback("name") },
        { column: "notes", text: inputs.internalNote ?? "", field: inputs.yamlAt?.note ?? fallback("note") },
    ]);
}

/**
 * The program's pre-flight (descriptor.preflight): each text the key table cannot store, as its
 * refusal with the fix. An unreachable database refuses nothing here: the provider's own check
 * before each write still applies, and reports the database's failure with its hint.
 */
export async function unstorable(texts: readonly StoredText[], raw: RawConfig): Promise<string[]> {
    const settings = new Settings();
    settings.configure(raw);
    let client: Connection["client"];
    try {
        client = connect(settings).client;
    } catch {
        return [];
    }
    if (!(client instanceof SupportSystemClient)) return [];
    const problems: string[] = [];
    try {
        for (const t of texts) {
            try {
                await client.refuseUnstorable([t]);
            } catch (err) {
                if (!(err instanceof VendorError) || err.kind !== "rejected") return [];
                problems.push(`${err.vendorMessage}; ${err.hint}`);
            }
        }
    } finally {
        await closeAll();
    }
    return problems;
}

/** The row's id from state (a key made before keyId was recorded has none). */
const rowId = (state: Partial<SupportSystemKeyOutputs>) => (typeof state.keyId === "number" ? state.keyId : undefined);

export const supportSystemLifecycle: VendorKeys<SupportSystemKeyInputs, SupportSystemKeyOutputs, ApiKeyRow, Connection> = {
    model: {
        standing: SUPPORTSYSTEM_KEY_OUTPUTS.standing,
        secretOutputs: SUPPORTSYSTEM_SECRET_OUTPUTS,
        title: "SupportSystem",
        fields: {
            immutable: SS_FIELDS.immutable,
            mutable: SS_FIELDS.mutable,
            local: ["rotation", "adopt", ...SS_FIELDS.local],
        },
        schema: SupportSystemInputs,
        normalize: (news) => ({ ...SS_FIELDS.normalize(news), yamlAt: (news.yamlAt as SupportSystemKeyInputs["yamlAt"] | undefined) ?? null }),
        describe(k) {
            return `SupportSystem key "${k.name}" for ${k.ip}`;
        },
        outputs(inputs, r) {
            const notes = sameNotes(r.notes, inputs.notes) ? inputs.notes : (r.notes ?? "");
            return {
                ip: r.ipaddr,
                active: r.isactive,
                canCreateTickets: r.canCreateTickets,
                canExecCron: r.canExecCron,
                internalNote: parseNotes(notes).note,
                notes,
                apiKey: r.apikey,
                keyId: r.id,
                updated: r.updated,
                created: r.created,
            };
        },
        resourceId(r) {
            return String(r.id);
        },
        fixes: {
            creating: {
                conflict: "the key value collided with other rows again and again; check the machine's random source",
            },
            updating: {
                notFound: "the row was deleted in the admin panel meanwhile; run `pulumi up --refresh` to make it again",
            },
        },
    },
    backend: {
        connect,
        async create({ client }, { inputs }) {
            await refuseUnstorable(client, inputs);
            for (let attempt = 1; ; attempt++) {
                try {
                    return await client.insert({
                        apikey: keySource.next(),
                        ipaddr: inputs.ip,
                        isactive: inputs.active,
                        canCreateTickets: inputs.canCreateTickets,
                        canExecCron: inputs.canExecCron,
                        notes: inputs.notes,
                    });
                } catch (err) {
                    // Another row holds the value drawn: draw again (nothing was inserted).
                    if (err instanceof DuplicateApiKey && attempt < KEY_ATTEMPTS) continue;
                    throw err;
                }
            }
        },
        async read({ client }, { state }) {
            const id = rowId(state);
            return id === undefined ? undefined : client.get(id);
        },
        async update({ client }, { state, inputs, changes }) {
            const id = rowId(state);
            if (id === undefined) throw new Error("state has no row id (keyId); run `pulumi refresh`");
            const body: ApiKeyChanges = {};
            if (changes.active !== undefined) body.isactive = changes.active;
            if (changes.canCreateTickets !== undefined) body.canCreateTickets = changes.canCreateTickets;
            if (changes.canExecCron !== undefined) body.canExecCron = changes.canExecCron;
            if ("internalNote" in changes || "notes" in changes) {
                await refuseUnstorable(client, inputs);
                body.notes = inputs.notes;
            }
            return client.update(id, body);
        },
        async delete({ client }, { state }) {
            const id = rowId(state);
            if (id !== undefined) await client.delete(id);
        },
    },
    discovery: {
        async find({ client }, { inputs }) {
            const rows = (await client.list()).filter((r) => r.ipaddr === inputs.ip && parseNotes(r.notes).name === inputs.name);
            // Newest first: of several rows with the marker (a rotation cut short), the last made is taken.
            return rows.sort((a, b) => b.id - a.id);
        },
        async findById({ client }, adopt) {
            return /^[0-9]+$/.test(adopt) ? client.get(Number(adopt)) : undefined;
        },
        adopts(r, adopt) {
            return String(r.id) === adopt;
        },
        adoptable(r, inputs) {
            if (r.ipaddr !== inputs.ip) {
                return (
                    `row ${r.id} is bound to ${r.ipaddr}, the YAML says ${inputs.ip}; the help desk cannot move a key to another address, ` +
                    "so make the YAML match or drop adopt to create a new key"
                );
            }
            const theirs = parseNotes(r.notes).name;
            if (theirs !== undefined && theirs !== inputs.name) {
                return `row ${r.id} is keyfleet's key "${theirs}" (its notes carry that marker); adopt it under that name, or drop adopt`;
            }
            return undefined;
        },
        // `created` is the database server's NOW(): a lost create is matched against the server's clock.
        now({ client }) {
            return client.now();
        },
    },
    verify: {
        async probe({ probe }, { state }) {
            const answer = await probeKey(probe.apiUrl, state.apiKey, probe.url);
            const verdict = judge(answer, probe.expect, state.apiKey);
            const why = verdict.accepted ? undefined : probeRefusal(answer.status, answer.text);
            return why ? { ...verdict, answer: `${verdict.answer} (${why})` } : verdict;
        },
    },
};

export const provider = keyProvider(supportSystemLifecycle);
