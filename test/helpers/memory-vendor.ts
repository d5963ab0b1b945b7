// An in-memory vendor for the core's own tests: keys in a Map, names unique when asked, every
// capability optional, and faults one can schedule (a create that commits but loses its answer, a
// lookup that fails). It follows the contract (providers/shared/contract.ts) exactly as a real
// vendor does, so the core is tested through the same door, without any sandbox or network.
import { z } from "zod";
import { VendorError } from "../../providers/shared/errors.ts";
import type { CoreInputs, CoreOutputs, VendorKeys } from "../../providers/shared/contract.ts";
import { clock } from "../../providers/shared/clock.ts";
import { Rotation } from "../../providers/shared/rotation.ts";

export interface MemInputs extends CoreInputs {
    /** Immutable: a change replaces the key. */
    scope: string;
    /** Mutable in place. */
    label: string | null;
    enabled: boolean;
}

export interface MemOutputs extends MemInputs, CoreOutputs {
    apiKey: string;
    expiresAt: string | null;
}

export interface MemRecord {
    id: string;
    scope: string;
    name: string;
    label: string | null;
    enabled: boolean;
    created: string;
    expiresAt: string | null;
    madeBy: string;
    /** The answer lacked the value (see MemFaults.hideValues). */
    hidden?: boolean;
}

export interface MemFaults {
    /** The next N creates commit, then throw outcomeUnknown (the answer lost). */
    loseCreates?: number;
    /** The next N finds throw unavailable. */
    failFinds?: number;
    /** The next N creates are refused before anything is made (rejected). */
    refuseCreates?: number;
    /** Probes refuse every key. */
    rejectProbes?: boolean;
    /** Creates answer without the key value (it is shown only by reveal). */
    hideValues?: boolean;
    /** The next N reveals fail. */
    failReveals?: number;
}

export interface MemOptions {
    /** Said when a create's answer is lost and the vendor cannot be searched (model.lostCreate). */
    lostCreate?: string;
    /** The vendor's own renewal (expiry.renewal). */
    renewal?: (state: Partial<MemOutputs>) => string | undefined;
    uniqueNames?: boolean;
    discovery?: boolean;
    expiry?: boolean;
    verify?: boolean;
}

/** The vendor's side, shared by the backend and the test's assertions. */
export class MemStore {
    readonly keys = new Map<string, MemRecord>();
    readonly faults: MemFaults = {};
    readonly calls: string[] = [];
    private next = 1;

    live(name?: string): MemRecord[] {
        return [...this.keys.values()].filter((k) => name === undefined || k.name === name || k.name.startsWith(`${name} (`));
    }

    make(scope: string, name: string, label: string | null, enabled: boolean, madeBy = "keyfleet"): MemRecord {
        const r = { id: `mem-${this.next++}`, scope, name, label, enabled, created: new Date(clock.now()).toISOString(), expiresAt: null, madeBy };
        this.keys.set(r.id, r);
        return r;
    }
}

type Conn = { store: MemStore };

const schema = z.object({ scope: z.string().min(1), name: z.string().min(1), label: z.string().nullish(), enabled: z.boolean().nullish(), rotation: Rotation.nullish() }).passthrough();

export function memoryVendor(store: MemStore, opts: MemOptions = {}): VendorKeys<MemInputs, MemOutputs, MemRecord, Conn> {
    const unique = opts.uniqueNames ?? false;
    const log = (op: string) => store.calls.push(op);
    const base: VendorKeys<MemInputs, MemOutputs, MemRecord, Conn> = {
        model: {
            title: "Memory",
            fields: { immutable: ["scope"], mutable: ["name", "label", "enabled"], local: ["rotation", "adopt"] },
            schema,
            normalize: (n) => ({ scope: String(n.scope ?? ""), label: (n.label as string | null | undefined) ?? null, enabled: (n.enabled as boolean | null | undefined) ?? true }),
            describe: (k) => `Memory key "${k.name}" in ${k.scope}`,
            outputs: (_i, r) => ({ scope: r.scope, name: r.name, label: r.label, enabled: r.enabled, apiKey: r.hidden ? (undefined as unknown as string) : `secret-${r.id}`, created: r.created, expiresAt: r.expiresAt }),
            resourceId: (r) => r.id,
            standing: (o) => (o.enabled === false ? "disabled" : "active"),
            secretOutputs: ["apiKey"],
            lostCreate: opts.lostCreate,
        },
        backend: {
            connect: () => ({ store }),
            async create({ store: s }, { inputs }) {
                log(`create ${inputs.name}`);
                if (s.faults.refuseCreates) {
                    s.faults.refuseCreates--;
                    throw new VendorError("rejected", "refused", { code: 400, notProcessed: true });
                }
                if (unique && s.live().some((k) => k.scope === inputs.scope && k.name === inputs.name)) throw new VendorError("conflict", "name exists", { code: 409 });
                const r = s.make(inputs.scope, inputs.name, null, inputs.enabled);
                if (s.faults.loseCreates) {
                    s.faults.loseCreates--;
                    throw new VendorError("outcomeUnknown", "connection reset after the request was sent");
                }
                return s.faults.hideValues ? { ...r, hidden: true } : { ...r };
            },
            async read({ store: s }, { state }) {
                log("read");
                const r = s.keys.get(state.currentId);
                return r && { ...r };
            },
            async update({ store: s }, { state, changes }) {
                log(`update ${Object.keys(changes).join(",")}`);
                const r = s.keys.get(state.currentId);
                if (!r) throw new VendorError("notFound", "no such key", { code: 404 });
                if (changes.name !== undefined && unique && s.live().some((k) => k.id !== r.id && k.scope === r.scope && k.name === changes.name)) throw new VendorError("conflict", "name exists", { code: 409 });
                Object.assign(r, Object.fromEntries(Object.entries(changes).filter(([f]) => ["name", "label", "enabled"].includes(f))));
                return { ...r };
            },
            async delete({ store: s }, { state }) {
                log(`delete ${state.currentId}`);
                s.keys.delete(state.currentId);
            },
        },
    };
    const discovery = {
        async find({ store: s }: Conn, { inputs }: { inputs: MemInputs }) {
            log(`find ${inputs.name}`);
            if (s.faults.failFinds) {
                s.faults.failFinds--;
                throw new VendorError("unavailable", "service unavailable", { code: 503 });
            }
            return s.live().filter((k) => k.scope === inputs.scope && k.name === inputs.name).map((k) => ({ ...k }));
        },
        adopts: (r: MemRecord, adopt: string) => r.id === adopt,
        async reveal({ store: s }: Conn, r: MemRecord) {
            log(`reveal ${r.id}`);
            if (s.faults.failReveals) {
                s.faults.failReveals--;
                throw new VendorError("unavailable", "decrypt refused", { code: 503 });
            }
            return { ...r, hidden: false };
        },
        madeByUs: (_c: Conn, r: MemRecord) => r.madeBy === "keyfleet",
        adoptable: (r: MemRecord, inputs: MemInputs) => (r.scope === inputs.scope ? undefined : `it is in ${r.scope}`),
    };
    const vendor = opts.discovery === false ? base : { ...base, discovery };
    return {
        ...vendor,
        ...(unique && opts.discovery !== false
            ? {
                  uniqueNames: {
                      nameMax: 80,
                      async rename({ store: s }: Conn, r: MemRecord | MemOutputs, name: string) {
                          log(`rename ${name}`);
                          const id = "currentId" in r ? r.currentId : r.id;
                          const k = s.keys.get(id);
                          if (k) k.name = name;
                      },
                  },
              }
            : {}),
        ...(opts.expiry || opts.renewal
            ? {
                  expiry: {
                      renewal: opts.renewal ? (s: Partial<MemOutputs>) => opts.renewal!(s) : undefined,
                      expire: opts.expiry
                          ? async ({ store: s }: Conn, { state, at }: { state: MemOutputs; at: string }) => {
                                log(`expire ${state.currentId}`);
                                const k = s.keys.get(state.currentId);
                                if (!k) throw new VendorError("notFound", "no such key", { code: 404 });
                                k.expiresAt = at;
                            }
                          : undefined,
                  },
              }
            : {}),
        ...(opts.verify
            ? { verify: { probe: async ({ store: s }: Conn, { state }: { state: MemOutputs }) => ({ probe: "GET mem://whoami", accepted: !s.faults.rejectProbes && s.keys.has(state.currentId), answer: s.faults.rejectProbes ? "401" : "200" }) } }
            : {}),
    } as VendorKeys<MemInputs, MemOutputs, MemRecord, Conn>;
}
