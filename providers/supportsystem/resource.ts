// The SupportSystem key resource a Pulumi program declares, with the key value a secret output.
import type * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import type { FieldArgs } from "../shared/fields.ts";
import { SS_FIELDS, SUPPORTSYSTEM_KEY_OUTPUTS, SUPPORTSYSTEM_SECRET_OUTPUTS } from "./schema.ts";

/** The vendor fields are SS_FIELDS' (schema.ts documents each): ip (the one source address, canonical) required, the rest optional. */
export type SupportSystemApiKeyArgs = CoreArgs &
    FieldArgs<typeof SS_FIELDS.table> & {
        /** keyfleet's name for the key, kept as a marker in the row's notes. */
        name: pulumi.Input<string>;
        adopt?: pulumi.Input<true | string | null>;
        /** Where the entry's name and note are in the YAML, for messages (SupportSystemKeyInputs.yamlAt). */
        yamlAt?: { name?: string; note?: string } | null;
    };

const OUTPUTS = { names: ["apiKey", "keyId", "updated", "notes"], secrets: SUPPORTSYSTEM_SECRET_OUTPUTS, expiresAt: SUPPORTSYSTEM_KEY_OUTPUTS.expires ?? undefined };

/** One row of the help desk's `<prefix>api_key` table. */
export class SupportSystemApiKey extends KeyResource {
    declare readonly name: pulumi.Output<string>;
    declare readonly ip: pulumi.Output<string>;
    declare readonly active: pulumi.Output<boolean>;
    declare readonly canCreateTickets: pulumi.Output<boolean>;
    declare readonly canExecCron: pulumi.Output<boolean>;
    /** The user's internal note, without keyfleet's marker. */
    declare readonly internalNote: pulumi.Output<string | null>;
    /** The whole notes column: the internal note and keyfleet's marker. */
    declare readonly notes: pulumi.Output<string>;
    /** The API key. Secret. */
    declare readonly apiKey: pulumi.Output<string>;
    /** The row id, also the resource id. */
    declare readonly keyId: pulumi.Output<number>;
    declare readonly updated: pulumi.Output<string>;

    constructor(name: string, args: SupportSystemApiKeyArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs = { name: args.name, ...SS_FIELDS.fromArgs(args), ...coreInputs(args), adopt: args.adopt ?? null, yamlAt: args.yamlAt ?? null };
        super("supportsystem", "ApiKey", name, inputs, OUTPUTS, opts);
    }
}
