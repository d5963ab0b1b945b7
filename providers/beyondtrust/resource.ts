// The BeyondTrust session key resource a Pulumi program declares: the short key, the key URL and
// the mail body (which carries the URL) are secret outputs.
import * as pulumi from "@pulumi/pulumi";
import { coreInputs, KeyResource, type CoreArgs } from "../shared/resource.ts";
import type { FieldArgs } from "../shared/fields.ts";
import { BEYONDTRUST_KEY_OUTPUTS, BT_FIELDS, SESSION_KEY_OUTPUTS, SESSION_KEY_SECRET_OUTPUTS } from "./schema.ts";

/** The vendor fields are BT_FIELDS' (schema.ts documents each): targetQueue (the YAML's queue) required, the rest optional. */
export type SessionKeyArgs = CoreArgs & FieldArgs<typeof BT_FIELDS.table> & { name: pulumi.Input<string> };

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
        const inputs = { name: args.name, ...BT_FIELDS.fromArgs(args), ...coreInputs(args), adopt: null };
        super("beyondtrust", "SessionKey", name, inputs, { names: SESSION_KEY_OUTPUTS, secrets: SESSION_KEY_SECRET_OUTPUTS, expiresAt: BEYONDTRUST_KEY_OUTPUTS.expires ?? undefined }, opts);
    }
}
