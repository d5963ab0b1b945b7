// Delivery of a key to its consumers, shared by every vendor: `deliver:` on any key entry lists
// consumers; each becomes a `command.local.Command` of @pulumi/command (its own resource, so the
// engine reports each consumer's success or failure) that runs when the key's value changes: when
// the key is created and on every rotation. The key reaches the command only in the environment
// variable KEYFLEET_KEY (and on standard input with `stdin: true`), as a secret input: never in the
// command line, and encrypted in state like the key itself.
//
// A failed delivery keeps the previous key alive: a rotation replaces the key (new key first), the
// deliveries depend on the new key, and the engine deletes the replaced key only at the end of a
// deployment in which every step succeeded. A failed consumer fails the `up` and the old key stays
// (recorded in state as pending deletion); the next `up` runs the consumer again.
import path from "node:path";
import { z } from "zod";
import type * as pulumi from "@pulumi/pulumi";

/** A consumer that hangs would hang the whole `up`: every command is stopped after this long. */
export const DEFAULT_DELIVERY_TIMEOUT = "5m";
const DURATION = /^\d+(s|m|h)$/;

/** The engine's form of a timeout (Go duration): 30s, 5m, 1h are already in it. */
function engineTimeout(d: Delivery): string {
    return d.timeout ?? DEFAULT_DELIVERY_TIMEOUT;
}

// Part of a resource name (Pulumi forbids "::"), so a file path can serve as one.
const DELIVERY_NAME = /^[A-Za-z0-9._][A-Za-z0-9 ._/@+-]{0,199}$/;

export const Delivery = z
    .strictObject({
        name: z
            .string()
            .regex(DELIVERY_NAME, { error: "must be 1 to 200 letters, digits, spaces or . _ / @ + - (not starting with a space, / or -)" })
            .optional()
            .describe("The consumer's name, unique per key; part of its resource name. Default: `file`."),
        run: z
            .string()
            .min(1)
            .optional()
            .describe("Shell command (/bin/sh -c) that hands the key over, with the key in $KEYFLEET_KEY; runs when the key is created and on every rotation. Never write the key itself here."),
        file: z
            .string()
            .min(1)
            // Inside the project only: a path outside it (absolute, or climbing with ..) would let a
            // YAML change write, and on removal delete, any file the user running up can reach.
            .refine(insideProject, {
                error: "must be a path inside the project (relative, without ..); to put the key elsewhere, use run: with a command of your own",
            })
            .optional()
            .describe("Instead of run: write the key to this file (mode 0600, replaced atomically), relative to the project directory; removed with the delivery."),
        stdin: z.boolean().optional().describe("Also pass the key on the command's standard input (default false)."),
        remove: z.string().min(1).optional().describe("Shell command run when the consumer or the key is removed from the YAML."),
        dir: z.string().min(1).optional().describe("Working directory of the commands (default: the project directory)."),
        timeout: z
            .string()
            .regex(DURATION, { error: "must be a duration such as 30s, 5m or 1h" })
            .optional()
            .describe(`How long the consumer's command may run before it is stopped and the delivery fails (default ${DEFAULT_DELIVERY_TIMEOUT}).`),
    })
    .describe("A consumer of the key: a command that receives the key's current value.");

export type Delivery = z.infer<typeof Delivery>;

export const Deliveries = z
    .array(Delivery)
    .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((d, i) => {
            if ((d.run === undefined) === (d.file === undefined)) {
                ctx.addIssue({ code: "custom", path: [i], message: "needs exactly one of run (a command) or file (a path to write the key to)" });
                return;
            }
            if (d.file !== undefined && d.remove !== undefined) ctx.addIssue({ code: "custom", path: [i, "remove"], message: "a file delivery removes its file itself; remove goes with run" });
            if (d.file !== undefined && d.dir !== undefined) ctx.addIssue({ code: "custom", path: [i, "dir"], message: "a file delivery's path is relative to the project; dir goes with run" });
            const name = deliveryName(d);
            // A run consumer has no path to be named by; a file path refused on its own is told once, there.
            if (d.name === undefined && d.file === undefined) ctx.addIssue({ code: "custom", path: [i], message: "add a name: a run consumer is known by its name (e.g. name: billing-sync), which state and the plan show" });
            else if (d.name === undefined && insideProject(name) && !DELIVERY_NAME.test(name)) ctx.addIssue({ code: "custom", path: [i], message: `add a name: the file path "${name}" cannot be the consumer's name` });
            if (seen.has(name)) ctx.addIssue({ code: "custom", path: [i, d.name === undefined ? "file" : "name"], message: `duplicate consumer "${name}" of this key` });
            seen.add(name);
        });
    })
    .describe("Consumers of the key, each delivered the key's current value on create and on every rotation (see docs/delivery.md).");

/** A relative path that stays inside the project (no absolute path, no ..). */
function insideProject(p: string): boolean {
    return !path.isAbsolute(p) && !path.normalize(p).split(/[\\/]/).includes("..");
}

export function deliveryName(d: Delivery): string {
    return d.name ?? d.file ?? "";
}

/**
 * `schema` with `deliver` added to every key entry in it: each object schema with a `rotation`
 * field (the core's per-key field every vendor's entries carry). config/schema.ts applies it to
 * each vendor's section, so no vendor has to declare the field.
 */
export function withDeliveries(schema: z.ZodType): z.ZodType {
    const described = <T extends z.ZodType>(from: z.ZodType, to: T): T => (from.description ? to.describe(from.description) : to);
    if (schema instanceof z.ZodOptional) {
        const inner = withDeliveries(schema.unwrap() as z.ZodType);
        return inner === schema.unwrap() ? schema : described(schema, inner.optional());
    }
    if (schema instanceof z.ZodArray) {
        const element = withDeliveries(schema.element as z.ZodType);
        if (element === schema.element) return schema;
        // A clone keeps the list's own bounds (min/max) as written.
        const out = schema.clone({ ...schema.def, element } as typeof schema.def);
        return described(schema, out);
    }
    if (schema instanceof z.ZodObject) {
        const shape = schema.shape as Record<string, z.ZodType>;
        const changed: Record<string, z.ZodType> = {};
        for (const [k, v] of Object.entries(shape)) {
            const next = withDeliveries(v);
            if (next !== v) changed[k] = next;
        }
        if ("rotation" in shape && !("deliver" in shape)) changed.deliver = Deliveries.optional();
        if (Object.keys(changed).length === 0) return schema;
        return described(schema, schema.extend(changed));
    }
    return schema;
}

// Writes the key to a temporary file made by mktemp (mode 0600 from the start), then renames it over
// the target, so that no reader ever sees a partial key or a readable mode. The path comes in the
// environment, never spliced into the command.
/**
 * A file delivery writes only files it owns. The first write (create) refuses a file that exists
 * with other content (someone else's file: a path typed wrong, or moved onto another file); a file
 * holding this very key was written by keyfleet (no one else has it), as when a consumer is renamed.
 * Later writes (rotations) replace keyfleet's own file. Removal deletes the file only while it still
 * holds the key keyfleet last wrote there.
 */
const OWN_CHECK = [
    'if [ -e "$target" ] && [ "$(cat "$target" 2>/dev/null)" != "$KEYFLEET_KEY" ]; then',
    '  echo "keyfleet: $target exists and keyfleet did not write it; move it away or choose another file: path" >&2',
    "  exit 17",
    "fi",
];
const WRITE = (first: boolean) => [
    "set -eu",
    'target="$KEYFLEET_FILE"',
    ...(first ? OWN_CHECK : []),
    'mkdir -p "$(dirname "$target")"',
    'tmp="$(mktemp "$(dirname "$target")/.keyfleet-delivery.XXXXXX")"',
    "trap 'rm -f \"$tmp\"' EXIT",
    'printf \'%s\' "$KEYFLEET_KEY" > "$tmp"',
    'chmod 600 "$tmp"',
    'mv -f "$tmp" "$target"',
    "trap - EXIT",
].join("\n");
const WRITE_FILE = WRITE(true);
const REWRITE_FILE = WRITE(false);
const REMOVE_FILE = 'if [ "$(cat "$KEYFLEET_FILE" 2>/dev/null)" = "$KEYFLEET_KEY" ]; then rm -f "$KEYFLEET_FILE"; else echo "keyfleet: $KEYFLEET_FILE no longer holds the key keyfleet wrote; left in place" >&2; fi';

/**
 * The project's folder (where Pulumi.yaml is), which relative paths of deliveries start from: the
 * command plugin and the program both run in the program's folder (stacks/), so without this a
 * relative path would land there. Pulumi's language host and keyfleet's both set the variable.
 */
function projectDir(): string {
    return process.env.PULUMI_NODEJS_ROOT_DIRECTORY || process.cwd();
}

/** The resource name of a key's consumer. */
export function deliveryResourceName(keyResource: string, d: Delivery): string {
    return `${keyResource}/deliver/${deliveryName(d)}`;
}

/**
 * Declares one command.local.Command per consumer of the key `keyResource` (its value: `value`, a
 * secret output). The commands depend on the key, so they run after it is created or replaced and
 * before the replaced key is deleted. `options` are the environment's (a component's parent).
 */
export async function declareDeliveries(
    keyResource: string,
    key: pulumi.Resource,
    value: pulumi.Output<unknown>,
    deliveries: Delivery[],
    options: pulumi.CustomResourceOptions = {},
): Promise<Record<string, pulumi.Resource>> {
    const pulumiSdk = await import("@pulumi/pulumi");
    const command = await import("@pulumi/command");
    const secretValue = pulumiSdk.secret(value.apply((v) => (v === undefined || v === null ? "" : String(v))));
    const out: Record<string, pulumi.Resource> = {};
    for (const d of deliveries) {
        const environment: Record<string, pulumi.Input<string>> = { KEYFLEET_KEY: secretValue, KEYFLEET_KEY_NAME: keyResource };
        if (d.file !== undefined) environment.KEYFLEET_FILE = path.normalize(d.file);
        const name = deliveryResourceName(keyResource, d);
        out[name] = new command.local.Command(
            name,
            {
                create: d.file !== undefined ? WRITE_FILE : d.run,
                update: d.file !== undefined ? REWRITE_FILE : undefined,
                delete: d.file !== undefined ? REMOVE_FILE : d.remove,
                environment,
                stdin: d.stdin ? secretValue : undefined,
                dir: path.resolve(projectDir(), d.dir ?? "."),
                // The outputs of the last run would otherwise be handed to the next one as plain environment.
                addPreviousOutputInEnv: false,
            },
            // A resource option, not an input: changing it re-runs no consumer. The engine sends it
            // with each call, and the command plugin stops the command when it runs out.
            { ...options, dependsOn: [key], additionalSecretOutputs: ["stdout", "stderr"], customTimeouts: { create: engineTimeout(d), update: engineTimeout(d), delete: engineTimeout(d) } },
        );
    }
    return out;
}
