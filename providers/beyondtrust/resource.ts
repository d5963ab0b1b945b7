// The BeyondTrust session key resource a Pulumi program declares: the short key, the key URL and
// the mail body (which carries the URL) are secret outputs.
import * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import { SESSION_KEY_OUTPUTS, SESSION_KEY_SECRET_OUTPUTS } from "./schema.ts";

/** See SessionKeyInputs (lifecycle.ts) for each field. */
export interface SessionKeyArgs extends CoreArgs {
    name: pulumi.Input<string>;
    /** The YAML's `queue` (the seed's queue_id): general, rep:<id>, team:<id>, rep_username:<name>, issue:<code_name>. */
    targetQueue: pulumi.Input<string>;
    ttl?: pulumi.Input<number | null>;
    externalKey?: pulumi.Input<string | null>;
    custom?: pulumi.Input<Record<string, string>>;
    priority?: pulumi.Input<number | null>;
    skills?: pulumi.Input<string[]>;
    urlHostname?: pulumi.Input<string | null>;
    renewBefore?: pulumi.Input<string | null>;
}

export class BeyondTrustSessionKey extends KeyResource {
    declare readonly name: pulumi.Output<string>;
    declare readonly targetQueue: pulumi.Output<string>;
    /** The short key a customer enters on the public site. Secret. */
    declare readonly shortKey: pulumi.Output<string>;
    /** The URL that starts a session with this key. Secret. */
    declare readonly keyUrl: pulumi.Output<string>;
    /** The invitation mail's body; it holds the key URL. Secret. */
    declare readonly mailBody: pulumi.Output<string>;
    declare readonly mailSubject: pulumi.Output<string>;
    /** When the key stops working (ISO 8601). */
    declare readonly expires: pulumi.Output<string>;
    /** The queue as the appliance answered it: general, rep or team. */
    declare readonly queue: pulumi.Output<string>;
    declare readonly queueId: pulumi.Output<number | null>;
    /** Whether someone could take the session when the key was made. */
    declare readonly available: pulumi.Output<boolean>;
    /** A non-secret name for the key, also the resource id. */
    declare readonly fingerprint: pulumi.Output<string>;

    constructor(name: string, args: SessionKeyArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs = {
            name: args.name,
            targetQueue: args.targetQueue,
            ttl: args.ttl ?? null,
            externalKey: args.externalKey ?? null,
            custom: args.custom ?? {},
            priority: args.priority ?? null,
            skills: args.skills ?? [],
            urlHostname: args.urlHostname ?? null,
            renewBefore: args.renewBefore ?? null,
            ...coreInputs(args),
            adopt: null,
        };
        super("beyondtrust", "SessionKey", name, inputs, { names: SESSION_KEY_OUTPUTS, secrets: SESSION_KEY_SECRET_OUTPUTS }, opts);
    }
}
