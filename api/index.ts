// keyfleet's public API (the `keyfleet` package's entry point; CHANGELOG.md says what each version
// changed). Everything exported here is covered by the package's version; anything else the package
// holds is internal and may change in any release.
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { LastRunKey } from "../providers/shared/descriptor.ts";
import { declareEnvironment, keyResourcesInState, ownStackName, type EnvironmentDocument, type KeysSource } from "./environment.ts";

export { declareEnvironment, type EnvironmentDocument, type EnvironmentOutputs, type KeysSource, type LastRunRecord, type RecordSource } from "./environment.ts";
export type { LastRunKey } from "../providers/shared/descriptor.ts";
export type { RotationPolicy } from "../providers/shared/rotation.ts";
export { KeyResource, type CoreArgs } from "../providers/shared/resource.ts";
export { NexusTenantKey, NexusClusterKey, NexusDesignerKey, type NexusKeyArgs, type NexusTenantKeyArgs } from "../providers/nexus/resource.ts";
export { BeyondTrustSessionKey, type SessionKeyArgs } from "../providers/beyondtrust/resource.ts";
export { SupportCenterIntegrationKey, type IntegrationKeyArgs } from "../providers/supportcenter/resource.ts";
export { SupportCenterNotificationSettings, type NotificationArgs } from "../providers/supportcenter/notifications.ts";
export { SupportSystemApiKey, type SupportSystemApiKeyArgs } from "../providers/supportsystem/resource.ts";

/** The component's type token; its children's URNs carry it, so it never changes. */
export const ENVIRONMENT_TYPE = "keyfleet:index:Environment";

export interface KeyfleetEnvironmentArgs {
    /**
     * The environment's keys: the path of a keys YAML (as config/<stack>.yaml in keyfleet's own
     * checkout; relative to the program's working directory, the project's folder), or the same
     * document as an object.
     */
    keys: string | EnvironmentDocument;
}

let constructed = false;

/**
 * Every key of one keyfleet environment, with keyfleet's bookkeeping: the YAML checked in full and
 * the vendors' settings (stack config `keyfleet:*`) pre-flighted before anything is declared, the
 * last run's record (each key's id, creation time, rotation and expiry, kept in this component's
 * outputs) read back so that rotation by age or generation, overlaps, predecessors and a run killed
 * mid-create are handled as `pulumi up` of keyfleet's own stacks handles them, and expiry warnings.
 * One per program: keys are named by their YAML path (`nexus/tenant/<name>`), not per component.
 */
export class KeyfleetEnvironment extends pulumi.ComponentResource {
    /** Per key resource name, what its vendor exports (key values secret) plus the core's outputs. */
    readonly keys: pulumi.Output<Record<string, Record<string, unknown>>>;
    /** The record the next run reads (also this component's state). */
    readonly keyIds: pulumi.Output<Record<string, LastRunKey>>;
    /** When the last run that recorded its keys ended. */
    readonly lastRunAt: pulumi.Output<string>;
    /** Settles when every resource is declared; rejects with the reason nothing was (a YAML error, say). */
    readonly ready: Promise<void>;

    constructor(name: string, args: KeyfleetEnvironmentArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super(ENVIRONMENT_TYPE, name, {}, opts);
        if (constructed) throw new pulumi.RunError(`KeyfleetEnvironment ${name}: a program declares at most one keyfleet environment (its keys' resource names are the YAML's paths)`);
        constructed = true;
        const source: KeysSource = typeof args.keys === "string" ? { file: path.resolve(args.keys), shown: args.keys } : { document: args.keys };
        const declared = declareEnvironment(source, () => this.record(), { parent: this });
        this.keys = pulumi.output(declared.then((d) => d.keys)) as pulumi.Output<Record<string, Record<string, unknown>>>;
        this.keyIds = pulumi.output(declared.then((d) => d.keyIds));
        this.lastRunAt = pulumi.output(declared.then((d) => d.lastRunAt));
        this.ready = declared.then(() => undefined);
        // Only the record is state: the keys' values are the keys' own (secret) outputs already.
        this.registerOutputs(declared.then((d) => ({ keyIds: d.keyIds, lastRunAt: d.lastRunAt })));
    }

    /** This component's outputs of the last run, as the backend holds them, and its keys in state. */
    private async record() {
        const urn = await new Promise<string>((resolve) => this.urn.apply(resolve));
        // A child's type is its parent's qualified type, "$", its own; so this component's keys are
        // found wherever the component sits (under the stack, or inside a team's own component).
        const qualified = urn.split("::")[2];
        const { names, outputs } = await keyResourcesInState(ownStackName(), (u) => u.split("::")[2]?.startsWith(`${qualified}$`) === true);
        const mine = outputs[urn]?.outputs ?? {};
        return {
            keys: (mine.keyIds as Record<string, LastRunKey> | undefined) ?? {},
            endedAt: typeof mine.lastRunAt === "string" ? mine.lastRunAt : undefined,
            inState: async () => names,
        };
    }
}
