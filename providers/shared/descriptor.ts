// What a vendor tells the rest of keyfleet about itself: one descriptor per vendor folder, listed in
// providers/vendors.ts. The YAML schema and loader, the program, the settings pre-flight, the
// provider dispatch, the scripts, the test helpers and the benchmark all loop over that list, so
// adding a vendor is one folder, one line here and its sandbox's line in sandbox/index.ts.
import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { KeyStanding, RotationPolicy } from "./rotation.ts";
import type { Delivery } from "./delivery.ts";
import type { Settings, SettingSpec } from "./settings.ts";
import type { VendorHygiene } from "./hygiene.ts";
import type { Interrupted } from "./contract.ts";
import type { Limits } from "./calls.ts";

/** A rule the schema cannot state (unique names per scope), found in the raw section. */
export interface SectionProblem {
    /** Path inside the section, e.g. ["tenantKeys", 2, "name"]. */
    path: (string | number)[];
    message: string;
    /** Another place the message refers to (the first of two duplicates); the loader adds its line. */
    firstAt?: (string | number)[];
}

export interface VendorSetting<S> extends SettingSpec {
    /** Whether the keys of this section need it; absent means whenever the section declares a key. */
    needed?(section: S): boolean;
    /**
     * Problems with a usable value given the section (every owner the YAML names has credentials in
     * a secret map, say); run by the pre-flight before any vendor call. Never quotes a secret.
     */
    checkAgainst?(value: string, section: S): string[];
}

export interface DeclareContext {
    /**
     * The core's inputs of the key declared as `resourceName`: its rotation (the environment's
     * defaults merged field by field with the key's own), the id of the key it had at the end of the
     * last run (`predecessor`) and why this run rotates it (`rotationDue`), from the stack's own
     * outputs. `previousNames` are names the resource had before (aliases).
     */
    core(resourceName: string, entry: { rotation?: RotationPolicy | null; deliver?: Delivery[] }, previousNames?: string[]): {
        rotation: RotationPolicy | null;
        predecessor: string | null;
        /**
         * Non-null when this run rotates the key by its policy, or because the key's recorded expiry
         * has passed and it has a policy (a protected key is then unprotected for the run), or retires
         * its previous slot: why.
         */
        rotationDue: string | null;
        /** Non-null (why) keeps the previous slot's key past its retireAt (CoreInputs.holdPrevious). */
        holdPrevious: string | null;
        /** Non-null for a resource new to state: what a run killed mid-create may have made (CoreInputs.interrupted). */
        interrupted: Interrupted | null;
        /**
         * When the key stops working, as the last run recorded it (LastRunKey.expires), or null.
         * Not a resource input (vendors spread core()'s answer into their args; none takes it, nor protect).
         */
        lastExpires: string | null;
        /** The resource option `protect` for a key whose YAML asks for it: lifted for the run that rotates the key. */
        protect(requested: boolean): boolean;
    };
    /** Resource options for every key (protect, say). */
    options: pulumi.CustomResourceOptions;
    /**
     * Where `path` (from the environment's root: ["supportsystem", "apiKeys", 0, "note"]) is in the
     * keys file, as config errors start: "config/prod.yaml:7:15 supportsystem.apiKeys[0].note". For a
     * refusal only the vendor can decide (a database's character set), which the provider reports at
     * the YAML's place like a config error.
     */
    at?(path: (string | number)[]): string;
}

/** What the last run recorded of one key (the stack output keyIds). */
export interface LastRunKey {
    id: string;
    created: string;
    rotation: RotationPolicy | null;
    /**
     * When the key stops working (ISO 8601): the resource's actual-expiry output where it declares
     * one (KeyResource.expiresAt), else its `expires` output; else null.
     */
    expires?: string | null;
    /** When the previous slot's key (kept for an overlap) is retired, or null. */
    previousRetireAt?: string | null;
}

/**
 * How tools beside the engine (the report, `npm run up`'s summary, the drift checks) read a key's
 * outputs, as state or a live read has them: declared by the vendor, so none of them guesses names.
 */
export interface KeyOutputs {
    /** The output that says when the key stops working (ISO 8601, or null for never); null: keys never expire. */
    expires: string | null;
    /** The key's standing from its outputs; an expiry already past makes it expired wherever it is read. */
    standing(outputs: Record<string, unknown>): KeyStanding;
    /** The YAML's name of an input where it differs (targetQueue is queue), null for one the YAML never names: what plans and drift show (keyFields' yamlNames). */
    fieldNames?: Readonly<Record<string, string | null>>;
    /** The output that tells apart the keys one YAML entry makes (an address), where an entry can make several. */
    variant?: string;
    /**
     * What the vendor still holds after keyfleet deletes the key, for the plan's delete line
     * (ops/plan.ts), from the key's last outputs: "nothing" where the delete removes it.
     */
    keptOnDelete(outputs: Record<string, unknown>): string;
}

/** What the stack exports per key: never a key value in plain text (values are secret outputs). */
export type KeyExports = Record<string, Record<string, pulumi.Output<unknown>>>;

export interface VendorDescriptor<S = unknown> {
    /** The YAML section, and the vendor's id in inputs and type tokens. */
    section: string;
    /** The product's name, for messages and docs. */
    title: string;
    /**
     * The request limits the vendor documents per account, where it documents any: the client paces
     * by them and the benchmark judges its runs against the time they allow.
     */
    limits?: Limits;
    /** The section's schema; config/schema.ts puts it under `section`. */
    schema: z.ZodType<S>;
    /** Whether the section declares any key. */
    declares(section: S): boolean;
    /**
     * Rules across fields and entries, run on the raw section even when the schema fails;
     * `settings` are the stack's (config, else environment), for rules a deployment extends;
     * `root` is the whole raw file, for rules that depend on `defaults`.
     */
    rules?(raw: Record<string, unknown>, settings: Settings, root: Record<string, unknown>): SectionProblem[];
    /**
     * The vendor's own health check, for `report --live` where reading keys says nothing about the
     * vendor (BeyondTrust keys are read from state): a problem to show, or undefined when healthy.
     */
    health?(settings: Settings): Promise<string | undefined>;
    /**
     * Refusals only the vendor can decide (a database column's character set), run by the program
     * after the settings pre-flight and before any resource is declared, so that nothing is
     * written; each starts with the YAML's place from `at`. Only reads, and only when needed.
     */
    preflight?(section: S, at: (path: (string | number)[]) => string): Promise<string[]>;
    /** Warnings about valid input (an expiry already past), with positions. */
    warnings?(section: S): SectionProblem[];
    /**
     * Errors only the last run settles, run by the program before any key is declared: a key the
     * last run did not have (`isNew`: none of its names is in the stack's record) whose expiry has
     * passed, which the provider's check would refuse with no position. Paths as for `rules`.
     */
    newKeyRules?(section: S, isNew: (resourceName: string, previousNames?: string[]) => boolean): SectionProblem[];
    /** How the report, the summary and drift read this vendor's key outputs. */
    keyOutputs: KeyOutputs;
    /** What the key-hygiene policy (policy/) reads of this vendor's keys, from a resource's inputs or the YAML. */
    hygiene: VendorHygiene<S>;
    /** Endpoints and credentials: one table for the program's pre-flight check and the provider's connection. */
    settings: readonly VendorSetting<S>[];
    /** Declares the section's key resources; returns what the stack exports per key. */
    declare(section: S, ctx: DeclareContext): Promise<KeyExports>;
    /**
     * What to tell the user about a key the last run had and the YAML no longer declares (the
     * engine deletes it), or undefined: for a vendor whose delete cannot remove the key itself.
     * Called with every such resource name; a vendor answers only for its own.
     */
    removed?(resourceName: string, last: LastRunKey): string | undefined;
    /** The dynamic provider of this vendor's keys (loaded when the provider process first needs it). */
    provider(): Promise<
        pulumi.dynamic.ResourceProvider & {
            configure?(req: pulumi.dynamic.ConfigureRequest): Promise<void>;
            /** The vendor behind a keyProvider (provider.ts): its expiry's `renewal` tells the report when a key is replaced. */
            readonly vendor?: { expiry?: { renewal?(state: any, inputs: any, now: number): string | undefined } };
        }
    >;
}
