// The keyfleet program: declares, for the selected stack, every API key that config/<stack>.yaml
// lists, vendor by vendor (providers/vendors.ts). The YAML is validated in full and every vendor's
// settings are checked before any resource is declared, so bad input stops the run with every
// error at once and nothing reaches a vendor or state.
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { vendors } from "@keyfleet/providers/vendors";
import { expiryReason, mergeRotation, overlapMs, rotationReason, type RotationPolicy } from "@keyfleet/providers/shared/rotation";
import { checkSettings } from "@keyfleet/providers/shared/preflight";
import { clock } from "@keyfleet/providers/shared/clock";
import type { LastRunKey } from "@keyfleet/providers/shared/descriptor";
import type { Interrupted } from "@keyfleet/providers/shared/keys";
import { KeyResource } from "@keyfleet/providers/shared/resource";
import { declareDeliveries, type Delivery } from "@keyfleet/providers/shared/delivery";
import { formatError, loadEnvironment } from "../config/load.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function loadDesired(config: pulumi.Config): Extract<ReturnType<typeof loadEnvironment>, { ok: true }> & { shown: string } {
    const file = path.resolve(ROOT, config.get("keysFile") ?? path.join("config", `${pulumi.getStack()}.yaml`));
    const shown = file.startsWith(ROOT + path.sep) ? path.relative(ROOT, file) : file;
    // The stack's settings reach the YAML's rules (a deployment's extra Nexus permissions, say).
    const result = loadEnvironment(file, shown, { get: (key) => (key.startsWith("keyfleet:") ? config.get(key.slice("keyfleet:".length)) : undefined) });
    if (!result.ok) {
        const n = result.errors.length;
        throw new pulumi.RunError(`${n} error${n === 1 ? "" : "s"} in ${shown}; nothing was changed:\n${result.errors.map(formatError).join("\n")}`);
    }
    return { ...result, shown };
}

/**
 * The names of the key resources in the stack's state as the backend has it now (the engine's own
 * read of a stack's resources; only names are kept, never an output). A run that cannot read it
 * stops: without it, a key that state no longer holds cannot be told from the one being replaced.
 */
async function resourcesInState(stackName: pulumi.Output<string>): Promise<Set<string>> {
    const name = await new Promise<string>((resolve) => stackName.apply((n) => resolve(n)));
    let answer: { outputs?: Record<string, { type?: string }> };
    try {
        answer = await pulumi.runtime.invoke("pulumi:pulumi:readStackResourceOutputs", { stackName: name });
    } catch (err) {
        throw new pulumi.RunError(`reading the resources of stack ${name} from its state failed: ${(err as Error).message}; nothing was changed. Check that the backend is reachable and run again`);
    }
    const names = new Set<string>();
    for (const [urn, r] of Object.entries(answer.outputs ?? {})) {
        if (!String(r?.type ?? "").startsWith("pulumi-nodejs:dynamic")) continue;
        names.add(urn.slice(urn.lastIndexOf("::") + 2));
    }
    return names;
}

export default async function keyfleet() {
    const config = new pulumi.Config("keyfleet");
    const desired = loadDesired(config);
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
    // The stack's own outputs of the last run: which key each resource had, when it was made and
    // under which rotation. The engine re-checks a replacement without the old inputs and creates
    // without a diff on --replace, so this is how a create knows the key it replaces, and how the
    // preview shows why a key rotates.
    const self = new pulumi.StackReference("keyfleet-last-run", { name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}` });
    // Read as plain data before any key is declared, so that resource options (protect) can
    // depend on it too: a protected key whose rotation is due is unprotected for that run.
    const details = await self.getOutputDetails("keyIds");
    const lastRun = ((details.value ?? details.secretValue) as Record<string, LastRunKey> | undefined) ?? {};
    // When that run ended. A run killed mid-create (kill -9, a lost machine) leaves a key at the
    // vendor that neither state nor this record knows; only keys keyfleet's login made after this
    // time may be that key (issue 17, defect 2). A record from before this output: none is taken.
    const endedAt = (await self.getOutputDetails("lastRunAt")).value;
    const lastEnded = typeof endedAt === "string" && !Number.isNaN(Date.parse(endedAt)) ? endedAt : undefined;
    // Which key resources state holds now. The record above outlives them: after `pulumi state delete`
    // of a key still in the YAML it still names that key, and a create told it was the predecessor
    // renamed it aside and left it, no longer keyfleet's (issue 17, defect 7). Only a key whose
    // resource state still holds is a predecessor; a replacement (--replace too) keeps the old
    // resource in state until its successor exists, so it is always found here.
    const inState = Object.keys(lastRun).length > 0 ? await resourcesInState(self.name) : new Set<string>();
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
        return { rotation, predecessor: last?.id ?? null, rotationDue, holdPrevious, interrupted, lastExpires: last?.expires ?? null };
    };
    const keys: Record<string, Record<string, pulumi.Output<unknown>>> = {};
    for (const vendor of vendors) {
        const section = env[vendor.section];
        if (section === undefined || !vendor.declares(section)) continue;
        const ctx = { core: (name: string, entry: Parameters<typeof core>[2], previous?: string[]) => core(vendor, name, entry, previous), options: {}, at: desired.at };
        Object.assign(keys, await vendor.declare(section, ctx));
    }
    // The core's outputs of every key, whatever its vendor exports: the two slots and the schedule.
    for (const [name, k] of KeyResource.declared) {
        if (!keys[name]) continue;
        keys[name] = { ...keys[name], currentId: k.currentId, nextRotation: k.nextRotation, previousValue: k.previousValue, previousRetireAt: k.previousRetireAt };
    }
    /** Each key's consumer resources: the record of a key waits for them (see keyIds below). */
    const delivered = new Map<string, pulumi.Resource[]>();
    for (const [name, deliveries] of consumers) {
        const key = KeyResource.declared.get(name);
        if (key) delivered.set(name, Object.values(await declareDeliveries(name, key, key.keyValue, deliveries)));
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
            [...KeyResource.declared].map(([name, k]) => [
                name,
                pulumi
                    // A key's record resolves only once every consumer has its current value: a failed
                    // delivery leaves the last record (the key the consumers last all had) in place. Its
                    // expiry is the key's actual one where the resource declares it, else its `expires` output.
                    .all([k.currentId, k.created, k.rotation, k.expiresAt ?? (k as { expires?: pulumi.Output<string | null> }).expires ?? null, k.previousRetireAt, pulumi.all((delivered.get(name) ?? []).map((c) => c.urn))])
                    .apply(([id, created, rotation, expires, previousRetireAt]) => ({ id, created, rotation, expires: expires ?? null, previousRetireAt: previousRetireAt ?? null })),
            ]),
        ),
    );
    // Resolved with keyIds, so only a run that recorded its keys moves it.
    // A preview keeps the recorded time, so that it shows no output change for it.
    const ranAt = pulumi.runtime.isDryRun() && lastEnded ? lastEnded : undefined;
    return { keys, keyIds, lastRunAt: keyIds.apply(() => ranAt ?? new Date(clock.now()).toISOString()) };
}
