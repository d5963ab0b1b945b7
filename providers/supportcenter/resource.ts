// The SupportCenter Plus integration key resource a Pulumi program declares, with the key value a
// secret output and the record id as the resource id.
import type * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import { SCP_OUTPUT_NAMES, SCP_SECRET_OUTPUTS } from "./schema.ts";

/** See ScpKeyInputs (lifecycle.ts) for each field. */
export interface IntegrationKeyArgs extends CoreArgs {
    name: pulumi.Input<string>;
    roles: pulumi.Input<pulumi.Input<string>[]>;
    expires?: pulumi.Input<string | null>;
    description?: pulumi.Input<string | null>;
    status?: pulumi.Input<"active" | "inactive">;
    /** Login name of the SDAdmin who owns the key. */
    owner: pulumi.Input<string>;
    /** The comment of a reassignment keyfleet makes (default: one naming the YAML). */
    reassignComment?: pulumi.Input<string | null>;
    adopt?: pulumi.Input<true | string | null>;
}

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
        const inputs = {
            name: args.name,
            roles: args.roles,
            expires: args.expires ?? null,
            description: args.description ?? null,
            status: args.status ?? "active",
            owner: args.owner,
            ...coreInputs(args),
            reassignComment: args.reassignComment ?? null,
            adopt: args.adopt ?? null,
        };
        super("supportcenter", "IntegrationKey", name, inputs, { names: SCP_OUTPUT_NAMES, secrets: SCP_SECRET_OUTPUTS, expiresAt: "validUntil" }, opts);
    }
}
