// Everything a keyfleet program does for one environment, for keyfleet's own program
// (stacks/index.ts) and for a team's Pulumi program that embeds keyfleet (KeyfleetEnvironment in
// api/index.ts): the YAML validated in full and every vendor's settings checked before any
// resource is declared, so bad input stops the run with every error at once and nothing reaches a
// vendor or state; then the keys, their deliveries and the record the next run reads.
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { vendors } from "../providers/vendors.ts";
import { expiryReason, mergeRotation, overlapMs, rotationReason, type RotationPolicy } from "../providers/shared/rotation.ts";
import { checkSettings } from "../providers/shared/preflight.ts";
import { clock } from "../providers/shared/clock.ts";
import type { LastRunKey } from "../providers/shared/descriptor.ts";
import type { Interrupted } from "../providers/shared/contract.ts";
import { KeyResource } from "../providers/shared/resource.ts";
import { declareDeliveries, type Delivery } from "../providers/shared/delivery.ts";
import { formatError, loadEnvironment, parseEnvironment, type LoadResult } from "../config/load.ts";

/** A keys document as an object: what config/<stack>.yaml holds (config/schema.json describes it). */
export type EnvironmentDocument = Record<string, unknown>;

/** Where the keys come from: a YAML file, or the same document built in code. */
export type KeysSource = { file: string; shown?: string } | { document: EnvironmentDocument; shown?: string };

/** What the last successful run recorded, and which key resources state holds now. */
export interface LastRunRecord {
    /** Which key each resource had at the end of the last run, when it was made and under which rotation. */
    keys: Record<string, LastRunKey>;
    /** When that run ended (ISO 8601), if it said. */
    endedAt?: string;
    /**
     * The key resources in state as the backend has it now, by name, each with the id of the key it
     * holds (its `currentId` output; undefined where state has none: a lost create, state from before
     * that output).
     */
    inState(): Promise<Map<string, string | undefined>>;
}

/** How a program keeps its record between runs; declared once the inputs are known to be usable. */
export type RecordSource = () => Promise<LastRunRecord>;

export interface EnvironmentOutputs {
    /** Per key resource name, what its vendor exports plus the core's outputs (secret values stay secret). */
    keys: Record<string, Record<string, pulumi.Output<unknown>>>;
    /** The record of this run for the next one (LastRunKey per key resource name). */
    keyIds: pulumi.Output<Record<string, LastRunKey>>;
    /** When this run ended; resolved with keyIds, so only a run that recorded its keys moves it. */
    lastRunAt: pulumi.Output<string>;
}

type Loaded = Extract<LoadResult, { ok: true }> & { shown: string };

function load(source: KeysSource, config: pulumi.Config): Loaded {
    // The stack's settings reach the YAML's rules (a deployment's extra Nexus permissions, say).
    const settings = { get: (key: string) => (key.startsWith("keyfleet:") ? config.get(key.slice("keyfleet:".length)) : undefined) };
    let shown: string;
    let result: LoadResult;
    if ("file" in source) {
        shown = source.shown ?? source.file;
        result = loadEnvironment(source.file, shown, settings);
    } else {
        // The object goes through the loader as the YAML it stands for, so that it is held to every
        // rule a file is (positions then count in that YAML; the path in each message names the field).
        shown = source.shown ?? "keyfleet environment (in code)";
        result = parseEnvironment(stringify(source.document), shown, settings);
    }
    if (!result.ok) {
        const n = result.errors.length;
        throw new pulumi.RunError(`${n} error${n === 1 ? "" : "s"} in ${shown}; nothing was changed:\n${result.errors.map(formatError).join("\n")}`);
    }
    return { ...result, shown };
}

/**
 * The key resources among readStackResourceOutputs' answer whose URN `keep` accepts, by name, with the
 * id of the key each holds (`currentId`). Of the outputs only that id is kept in `names`: the answer
 * holds every secret output too.
 */
export async function keyResourcesInState(stackName: string, keep: (urn: string) => boolean = () => true): Promise<{ names: Map<string, string | undefined>; outputs: Record<string, { type?: string; outputs?: Record<string, unknown> }> }> {
    let answer: { outputs?: Record<string, { type?: string; outputs?: Record<string, unknown> }> };
    try {
        answer = await pulumi.runtime.invoke("pulumi:pulumi:readStackResourceOutputs", { stackName });
    } catch (err) {
        // Without it, a key that state no longer holds cannot be told from the one being replaced.
        throw new pulumi.RunError(`reading the resources of stack ${stackName} from its state failed: ${(err as Error).message}; nothing was changed. Check that the backend is reachable and run again`);
    }
    const names = new Map<string, string | undefined>();
    for (const [urn, r] of Object.entries(answer.outputs ?? {})) {
        if (!String(r?.type ?? "").startsWith("pulumi-nodejs:dynamic") || !keep(urn)) continue;
        const current = r?.outputs?.currentId;
        names.set(urn.slice(urn.lastIndexOf("::") + 2), typeof current === "string" && current ? current : undefined);
    }
    return { names, outputs: answer.outputs ?? {} };
}

/** The stack's full name, as StackReference and readStackResourceOutputs take it. */
export function ownStackName(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/**
 * Declares the environment's keys. `record` is read after the pre-flight and before any key is
 * declared; `options` go on every resource declared (a component's `parent`).
 */
export async function declareEnvironment(source: KeysSource, record: RecordSource, options: pulumi.CustomResourceOptions = {}): Promise<EnvironmentOutputs> {
    const config = new pulumi.Config("keyfleet");
    const desired = load(source, config);
    const env = desired.env;
    // Every vendor's settings, declared or not: a credential in plain text would reach state anyway,
    // because the engine hands the whole stack config to dynamic providers.
    const problems = checkSettings(vendors, env);
    if (problems.length > 0) {
        throw new pulumi.RunError(`stack ${pulumi.getStack()}: settings are not usable; nothing was changed:\n  ${problems.join("\n  ")}`);
    }
    const refused: string[] = [];
    for (const vendor of vendors) {
        const section = env[vendor.section];
        if (section !== undefined && vendor.preflight && vendor.declares(section)) refused.push(...(await vendor.preflight(section, desired.at)));
    }
    if (refused.length > 0) {
        throw new pulumi.RunError(`${refused.length} value${refused.length === 1 ? "" : "s"} the vendor cannot store; nothing was changed:\n${refused.join("\n")}`);
    }
    // The last run's record: the engine re-checks a replacement without the old inputs and creates
    // without a diff on --replace, so this is how a create knows the key it replaces, and how the
    // preview shows why a key rotates. Read as plain data before any key is declared, so that
    // resource options (protect) can depend on it too: a protected key whose rotation is due is
    // unprotected for that run.
    const last = await record();
    const lastRun = last.keys;
    // A run killed mid-create (kill -9, a lost machine) leaves a key at the vendor that neither state
    // nor the record knows; only keys keyfleet's login made after the last run ended may be that key
    // (issue 17, defect 2). A record from before that output: none is taken.
    const lastEnded = typeof last.endedAt === "string" && !Number.isNaN(Date.parse(last.endedAt)) ? last.endedAt : undefined;
    // The record outlives the resources: after `pulumi state delete` of a key still in the YAML it
    // still names that key, and a create told it was the predecessor renamed it aside and left it, no
    // longer keyfleet's (issue 17, defect 7). Only a key whose resource state still holds is a
    // predecessor; a replacement (--replace too) keeps the old resource in state until its successor
    // exists, so it is always found here. Read even without a record: a stack whose first run failed
    // part-way has keys in state and no record of them.
    const inState = await last.inState();
    // What only the last run settles (a new key whose expiry has passed) stops the run here, at the
    // YAML's place, before any key is declared: the provider's check would say it with no position.
    const isNew = (name: string, previous: string[] = []) => [name, ...previous].every((n) => lastRun[n] === undefined);
    const newKeyErrors: string[] = [];
    const refusedAt = new Set<string>();
    for (const vendor of vendors) {
        const section = env[vendor.section];
        if (section === undefined || !vendor.newKeyRules) continue;
        for (const p of vendor.newKeyRules(section, isNew)) {
            const where = desired.at([vendor.section, ...p.path]);
            refusedAt.add(where);
            newKeyErrors.push(`${where}: ${p.message}`);
        }
    }
    // The loader's warnings, each once; one about a place that is an error above is that error.
    for (const w of desired.warnings) if (!refusedAt.has(`${w.file}:${w.line}:${w.col} ${w.path}`)) pulumi.log.warn(formatError(w));
    if (newKeyErrors.length > 0) {
        const n = newKeyErrors.length;
        throw new pulumi.RunError(`${n} error${n === 1 ? "" : "s"} in ${desired.shown}; nothing was changed:\n${newKeyErrors.join("\n")}`);
    }
    /** Names the declared keys had before (aliases): not removed keys. */
    const claimed = new Set<string>();
    /** Consumers of each key resource, from its entry's `deliver`. */
    const consumers = new Map<string, Delivery[]>();
    const core = (vendor: (typeof vendors)[number], resourceName: string, entry: { rotation?: RotationPolicy | null; deliver?: Delivery[] }, previousNames: string[] = []) => {
        const own = entry.rotation;
        for (const n of previousNames) claimed.add(n);
        if (entry.deliver && entry.deliver.length > 0) consumers.set(resourceName, entry.deliver);
        const rotation = mergeRotation(env.defaults?.rotation, own);
        const names = [resourceName, ...previousNames];
        const recorded = names.map((n) => lastRun[n]).find((r) => r !== undefined);
        const last = recorded && names.some((n) => inState.has(n)) ? recorded : undefined;
        // The key the resource holds, as state says. The record is only as new as the last run that
        // succeeded: after a run that replaced this key and failed elsewhere it names the key that
        // run replaced, and a replacement told that id could not tell its current key from a
        // stranger's, so it deleted it first, and a refused create then left the resource with no
        // key (issue 17, defect 4). With the id from state, the new key is made first.
        const held = names.map((n) => inState.get(n)).find((id) => id !== undefined);
        if (recorded && !last) {
            void pulumi.log.warn(
                `${resourceName}: the last run recorded key ${recorded.id}, but state no longer has this resource (pulumi state delete?): ` +
                    "keyfleet leaves that key alone and creates a new one; where names are unique that create fails while the old key holds the name. " +
                    `To manage the old key again, take it over with adopt: in the YAML (keyfleet's pulumi import, which does not work with dynamic providers); else give the entry another name or delete the old key at the vendor`,
            );
        }
        const now = clock.now();
        // The YAML's standing, read as the report reads outputs: a disabled or revoked key has no
        // schedule, so it is not rotated by age (the provider decides the same from the same rule).
        const standing = vendor.keyOutputs.standing(entry as Record<string, unknown>);
        const due = last ? (rotationReason({ rotation: last.rotation }, last.created, { rotation }, now, standing) ?? expiryReason(rotation, last.expires, now, standing)) : undefined;
        let rotationDue: string | null = null;
        if (due) {
            const overlap = overlapMs(rotation);
            // No instant here: this input is part of the plan an up is held to (--plan), and the
            // old key's end is the provider's to set; the plan prints the recorded previousRetireAt.
            rotationDue = `rotation due: ${due}` + (overlap > 0 ? `; the old key stays valid for ${rotation!.overlap} after the rotation` : "");
        } else if (last?.previousRetireAt && Date.parse(last.previousRetireAt) <= now) {
            // The provider decides this from state too; the program says it, so the preview shows why.
            rotationDue = `previous key retires: its overlap ended at ${last.previousRetireAt}`;
        }
        if (rotationDue) void pulumi.log.info(`${resourceName}: ${rotationDue}`);
        // A run records keyIds only when it succeeds, deliveries included: the id recorded is the key every
        // consumer last received. The previous slot is held while the current key is another one.
        const holdPrevious: string | null = consumers.has(resourceName) ? (last?.id ?? null) : null;
        // Any create of this run (a new resource's, a rotation's, a replacement's) may find its name
        // (or marker) held by what a killed run's create made for it; the key the record names (the
        // resource's current key, or one removed from state with state delete) is never that key.
        const interrupted: Interrupted | null = Object.keys(lastRun).length === 0 || lastEnded ? { after: lastEnded ?? null, except: recorded ? [recorded.id] : [] } : null;
        // Pulumi's protect refuses a replacement too unless the same run lifts it: a key this run
        // rotates is unprotected for the run, and the next run protects its successor again.
        const protect = (requested: boolean) => requested && rotationDue === null;
        return { rotation, predecessor: held ?? last?.id ?? null, rotationDue, holdPrevious, interrupted, lastExpires: last?.expires ?? null, protect };
    };
    // KeyResource.declared is the program's registry; this environment's keys are those it adds.
    const before = new Set(KeyResource.declared.keys());
    const keys: Record<string, Record<string, pulumi.Output<unknown>>> = {};
    for (const vendor of vendors) {
        const section = env[vendor.section];
        if (section === undefined || !vendor.declares(section)) continue;
        const ctx = { core: (name: string, entry: Parameters<typeof core>[2], previous?: string[]) => core(vendor, name, entry, previous), options, at: desired.at };
        Object.assign(keys, await vendor.declare(section, ctx));
    }
    const declared = [...KeyResource.declared].filter(([name]) => !before.has(name));
    // The core's outputs of every key, whatever its vendor exports: the two slots and the schedule.
    // previousValue is a plain null without a previous key, not the key's output: that one is absent
    // then (an encrypted null cost ~190 bytes of state per key here), and an absent output is unknown
    // in a preview, which would show as a change; previousRetireAt, written with the slot, is known.
    for (const [name, k] of declared) {
        if (!keys[name]) continue;
        const previousValue = k.previousRetireAt.apply((at) => (at ? k.previousValue : null));
        keys[name] = { ...keys[name], currentId: k.currentId, nextRotation: k.nextRotation, previousValue, previousRetireAt: k.previousRetireAt };
    }
    /** Each key's consumer resources: the record of a key waits for them (see keyIds below). */
    const delivered = new Map<string, pulumi.Resource[]>();
    for (const [name, deliveries] of consumers) {
        const key = KeyResource.declared.get(name);
        if (key) delivered.set(name, Object.values(await declareDeliveries(name, key, key.keyValue, deliveries, options)));
    }
    // Keys of the last run that the YAML no longer declares are deleted by the engine; a vendor whose
    // delete cannot remove the key at the vendor says so here (a dynamic provider has no way to print).
    for (const [name, last] of Object.entries(lastRun)) {
        if (name in keys || claimed.has(name)) continue;
        for (const vendor of vendors) {
            const message = vendor.removed?.(name, last);
            if (message) void pulumi.log.warn(message);
        }
    }
    // A YAML that drops every key the last run had (an emptied `{}`, every section removed) is a plan
    // the operator must not miss: say it as a warning that leads the preview's diagnostics.
    const removedAll = Object.keys(lastRun).filter((name) => !(name in keys) && !claimed.has(name));
    if (Object.keys(keys).length === 0 && removedAll.length > 0) {
        void pulumi.log.warn(`this run deletes EVERY key of stack ${pulumi.getStack()} (${removedAll.length}: ${removedAll.join(", ")}): config declares none; if that is not meant, stop and restore the YAML`);
    }
    const keyIds = pulumi.all(
        Object.fromEntries(
            declared.map(([name, k]) => [
                name,
                pulumi
                    // A key's record resolves only once every consumer has its current value: a failed
                    // delivery leaves the last record (the key the consumers last all had) in place. Its
                    // expiry is the output the vendor's model declares (keyOutputs.expires), if it has one.
                    .all([k.currentId, k.created, k.rotation, k.expiresAt ?? null, k.previousRetireAt, pulumi.all((delivered.get(name) ?? []).map((c) => c.urn))])
                    .apply(([id, created, rotation, expires, previousRetireAt]) => ({ id, created, rotation, expires: expires ?? null, previousRetireAt: previousRetireAt ?? null })),
            ]),
        ),
    ) as pulumi.Output<Record<string, LastRunKey>>;
    // A preview keeps the recorded time, so that it shows no output change for it.
    const ranAt = pulumi.runtime.isDryRun() && lastEnded ? lastEnded : undefined;
    return { keys, keyIds, lastRunAt: keyIds.apply(() => ranAt ?? new Date(clock.now()).toISOString()) };
}

/** A path as messages show it: relative to `root` when inside it. */
export function shownPath(file: string, root: string): string {
    return file.startsWith(root + path.sep) ? path.relative(root, file) : file;
}
