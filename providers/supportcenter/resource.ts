// The SupportCenter Plus integration key resource a Pulumi program declares, with the key value a
// secret output and the record id as the resource id.
import type * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import type { FieldArgs } from "../shared/fields.ts";
import { SCP_FIELDS, SCP_KEY_OUTPUTS, SCP_OUTPUT_NAMES, SCP_SECRET_OUTPUTS } from "./schema.ts";

/** The vendor fields are SCP_FIELDS' (schema.ts documents each): roles and owner required, the rest optional. */
export type IntegrationKeyArgs = CoreArgs &
    FieldArgs<typeof SCP_FIELDS.table> & {
        name: pulumi.Input<string>;
        adopt?: pulumi.Input<true | string | null>;
    };

export class SupportCenterIntegrationKey extends KeyResource {
    declare readonly name: pulumi.Output<string>;
    declare readonly roles: pulumi.Output<string[]>;
    declare readonly expires: pulumi.Output<string | null>;
    declare readonly description: pulumi.Output<string | null>;
    declare readonly status: pulumi.Output<"active" | "inactive">;
    declare readonly owner: pulumi.Output<string>;
    /** The record id (also the resource id). */
    declare readonly keyId: pulumi.Output<string>;
    /** The integration key. Secret. */
    declare readonly apiKey: pulumi.Output<string>;
    declare readonly fingerprint: pulumi.Output<string>;
    declare readonly ownerId: pulumi.Output<string>;
    declare readonly validUntil: pulumi.Output<string | null>;
    declare readonly isExpired: pulumi.Output<boolean>;
    /** Roles of the key deleted in the product since keyfleet set them. */
    declare readonly deletedRoles: pulumi.Output<string[]>;

    constructor(name: string, args: IntegrationKeyArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs = { name: args.name, ...SCP_FIELDS.fromArgs(args), ...coreInputs(args), adopt: args.adopt ?? null };
        super("supportcenter", "IntegrationKey", name, inputs, { names: SCP_OUTPUT_NAMES, secrets: SCP_SECRET_OUTPUTS, expiresAt: SCP_KEY_OUTPUTS.expires ?? undefined }, opts);
    }
}
