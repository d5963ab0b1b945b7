// The three Nexus key resources a Pulumi program declares, with the key value a secret output.
import * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import type { FieldArgs } from "../shared/fields.ts";
import { NEXUS_FIELDS, NEXUS_KEY_OUTPUTS, NEXUS_KIND_FIELDS, NEXUS_SECRET_OUTPUTS, NEXUS_TYPE_NAMES as TYPE_NAMES, type NexusKeyKind } from "./schema.ts";

/** The type tokens of the three resources (for aliases between them); the descriptor owns them, for the policy too. */
export { NEXUS_KEY_TYPES } from "./schema.ts";

/** Arguments common to the three kinds: the vendor fields are nexusFields' (schema.ts documents each), all optional. */
export type NexusKeyArgs = CoreArgs &
    FieldArgs<typeof NEXUS_FIELDS.table> & {
        name: pulumi.Input<string>;
        adopt?: pulumi.Input<true | string | null>;
    };

export type NexusTenantKeyArgs = NexusKeyArgs & {
    /** The contact center id the key belongs to. */
    contactCenter: pulumi.Input<string>;
};

const OUTPUTS = { names: ["apiKey", "fingerprint", "createdBy", "capacity", "frequency"], secrets: NEXUS_SECRET_OUTPUTS, expiresAt: NEXUS_KEY_OUTPUTS.expires ?? undefined };

abstract class NexusApiKey extends KeyResource {
    declare readonly kind: pulumi.Output<NexusKeyKind>;
    declare readonly tenant: pulumi.Output<string>;
    /** The key's name in Nexus. */
    declare readonly name: pulumi.Output<string>;
    declare readonly permissions: pulumi.Output<string[]>;
    declare readonly enabled: pulumi.Output<boolean>;
    declare readonly revoked: pulumi.Output<boolean>;
    declare readonly expires: pulumi.Output<string | null>;
    /** The API key. Secret. */
    declare readonly apiKey: pulumi.Output<string>;
    /** A non-secret name for the key, also the resource id. */
    declare readonly fingerprint: pulumi.Output<string>;
    declare readonly createdBy: pulumi.Output<string>;
    declare readonly capacity: pulumi.Output<number>;
    declare readonly frequency: pulumi.Output<number>;

    protected constructor(kind: NexusKeyKind, tenant: pulumi.Input<string>, name: string, args: NexusKeyArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs = { name: args.name, ...NEXUS_KIND_FIELDS[kind].fromArgs(args, { kind, tenant }), ...coreInputs(args), adopt: args.adopt ?? null };
        super("nexus", TYPE_NAMES[kind], name, inputs, OUTPUTS, opts);
    }
}

/** A tenant API key (e.g. `nexus:consumer:chat`), managed with the tenant user's GWS login. */
export class NexusTenantKey extends NexusApiKey {
    constructor(name: string, args: NexusTenantKeyArgs, opts?: pulumi.CustomResourceOptions) {
        super("tenant", args.contactCenter, name, args, opts);
    }
}

/** A cluster (multi-tenant) API key, tenant `*`, managed with the GWS ops admin's login. */
export class NexusClusterKey extends NexusApiKey {
    constructor(name: string, args: NexusKeyArgs, opts?: pulumi.CustomResourceOptions) {
        super("cluster", "*", name, args, opts);
    }
}

/** A Designer API key (`nexus:designer:chat`), kept apart from consumer keys as Genesys recommends. */
export class NexusDesignerKey extends NexusApiKey {
    constructor(name: string, args: NexusTenantKeyArgs, opts?: pulumi.CustomResourceOptions) {
        super("designer", args.contactCenter, name, args, opts);
    }
}
