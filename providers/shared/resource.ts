// The base of every key resource: a dynamic resource served by the one provider shim
// (@keyfleet/provider-shim, see providers/shim/index.js), which hands each call to the vendor named
// in the inputs. Outputs that hold key material are declared secret here, on the resource, so the
// engine encrypts them in state and masks them in every display.
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import type { RotationPolicy } from "./rotation.ts";
import type { Interrupted } from "./contract.ts";

// `#provider-shim` is the copy installed under node_modules (providers/package.json's imports in a
// checkout, the package's own in the built package): only a module there is serialized by reference.
const shim: pulumi.dynamic.ResourceProvider = createRequire(import.meta.url)("#provider-shim");

/**
 * The benchmark's engine floor (bench/floor.ts) runs this very program with a provider that calls
 * no vendor, by setting this global before the program loads; nothing else sets it.
 */
// A factory, not the object: Pulumi's closure serializer would write an object reachable from a
// global as a reference to that global, which the provider process does not have.
const provider = (): pulumi.dynamic.ResourceProvider => (globalThis as { __keyfleetFloorProvider?: () => pulumi.dynamic.ResourceProvider }).__keyfleetFloorProvider?.() ?? shim;

/**
 * The module text every key carries in `__provider`, twice (inputs and outputs), and the provider
 * process loads (require-from-string, then `.handler()`). dynamic.Resource writes what the SDK's
 * closure serializer makes of `() => shim`: the shim's require wrapped in some 200 bytes of
 * closure boilerplate, ~9 % of a key's checkpoint. The serializer still decides how to name the
 * shim (`@keyfleet/provider-shim/index.js` in a checkout, `keyfleet/shim` in the package), so it
 * is asked once and only its require is kept, when the text is that require and nothing else. The
 * floor's provider is serialized by value and stored as the SDK made it. Old state's longer text
 * loads the same module.
 */
let serialized: Promise<string> | undefined;
function providerText(): Promise<string> {
    const p = provider();
    return (serialized ??= pulumi.runtime.serializeFunction(((captured) => () => captured)(p), { allowSecrets: false }).then((sf) => {
        const ref = /^const (\w+) = (require\("[^"\n\\]+"\));$/m.exec(sf.text);
        const onlyTheShim = p === shim && ref !== null && sf.text.includes(`return () => ${ref[1]};`) && sf.text.split("require(").length === 2;
        return onlyTheShim ? `exports.handler = () => ${ref[2]};\n` : sf.text;
    }));
}

/** Outputs the core adds to every key (see CoreInputs and CoreOutputs in contract.ts); unknown until the provider answers. */
const CORE_OUTPUTS = ["predecessor", "rotationDue", "holdPrevious", "interrupted", "currentId", "created", "note", "pending", "previous", "previousValue", "previousRetireAt", "nextRotation"] as const;
/** Core outputs that hold key material: the previous slot (the old key's outputs) and its value. */
const CORE_SECRETS = ["previous", "previousValue"] as const;

/** What the program derives for every key from the stack's last outputs (DeclareContext.core). */
export interface CoreArgs {
    rotation?: pulumi.Input<RotationPolicy | null>;
    /** The id of the key this resource had at the end of the last run. */
    predecessor?: pulumi.Input<string | null>;
    /** Why this run rotates the key, shown in the preview. */
    rotationDue?: pulumi.Input<string | null>;
    /** Non-null (why) keeps the previous slot's key past its retireAt (see CoreInputs.holdPrevious in contract.ts). */
    holdPrevious?: pulumi.Input<string | null>;
    /** On a resource new to state: what a create killed mid-run may have made (see CoreInputs.interrupted in contract.ts). */
    interrupted?: pulumi.Input<Interrupted | null>;
}

/** The core's inputs from a key's arguments, each with its default: what every vendor's resource passes. */
export function coreInputs(args: CoreArgs): Record<string, pulumi.Input<unknown>> {
    return {
        rotation: args.rotation ?? null,
        predecessor: args.predecessor ?? null,
        rotationDue: args.rotationDue ?? null,
        holdPrevious: args.holdPrevious ?? null,
        interrupted: args.interrupted ?? null,
    };
}

// A dynamic resource (the type token and `__provider` are what pulumi.dynamic.Resource would
// send), made as a CustomResource so that `__provider` can be the one line above.
export abstract class KeyResource extends pulumi.CustomResource {
    /**
     * Every key resource this program declared, by resource name: the program records what each key
     * is (its current id, creation time, rotation) for the next run from here, whatever the vendor
     * exports.
     */
    static readonly declared = new Map<string, KeyResource>();

    /** The id of the current key (the resource id, except right after a lost create was taken over). */
    declare readonly currentId: pulumi.Output<string>;
    /** The rotation policy the key was made under. */
    declare readonly rotation: pulumi.Output<RotationPolicy | null>;
    /** Why this run replaced the key with no other change, or null. */
    declare readonly rotationDue: pulumi.Output<string | null>;
    /** When the vendor made the key; rotation by age counts from here. */
    declare readonly created: pulumi.Output<string>;
    /** What keyfleet did that the YAML did not spell out (adopt found nothing, say), or null. */
    declare readonly note: pulumi.Output<string | null>;
    /** The key's value: its first secret output, what deliveries hand to consumers (see delivery.ts). */
    declare readonly keyValue: pulumi.Output<unknown>;
    /** The key value a rotation with overlap kept valid until previousRetireAt. Secret. Undefined when there is no previous key (null in older state): an encrypted null cost state bytes. */
    declare readonly previousValue: pulumi.Output<string | null | undefined>;
    /** When the previous key is retired (deleted, or forgotten where the vendor cannot delete), or null. */
    declare readonly previousRetireAt: pulumi.Output<string | null>;
    /** When the key is next due for rotation by age, or null. */
    declare readonly nextRotation: pulumi.Output<string | null>;
    /**
     * The key's actual expiry (ISO 8601, or null for never), for keys whose vendor has one: the
     * output named by `outputs.expiresAt`. The program records it for the next run.
     */
    declare readonly expiresAt?: pulumi.Output<string | null>;

    /**
     * `vendor` is the descriptor's section (and the type token's module); `inputs` the vendor's
     * inputs; `outputs` the names of its outputs, of which `secrets` hold key material and
     * `expiresAt` (if any) holds the key's actual expiry.
     */
    protected constructor(
        vendor: string,
        type: string,
        name: string,
        inputs: Record<string, pulumi.Input<unknown>>,
        outputs: { names: readonly string[]; secrets: readonly string[]; expiresAt?: string },
        opts?: pulumi.CustomResourceOptions,
    ) {
        const props: Record<string, unknown> = { vendor, ...inputs };
        for (const out of [...CORE_OUTPUTS, ...outputs.names]) if (!(out in props)) props[out] = undefined;
        props.__provider = providerText();
        super(`pulumi-nodejs:dynamic/${vendor}:${type}`, name, props, { ...opts, additionalSecretOutputs: [...CORE_SECRETS, ...outputs.secrets, ...(opts?.additionalSecretOutputs ?? [])] });
        Object.defineProperty(this, "keyValue", { value: (this as unknown as Record<string, pulumi.Output<unknown>>)[outputs.secrets[0]], enumerable: false });
        if (outputs.expiresAt) Object.defineProperty(this, "expiresAt", { value: (this as unknown as Record<string, pulumi.Output<unknown>>)[outputs.expiresAt], enumerable: false });
        KeyResource.declared.set(name, this);
    }
}
