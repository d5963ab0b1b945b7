// The engine's floor for the benchmark: keyfleet's own program (stacks/index.ts: the same keys
// file, resources, inputs, secret outputs and stack outputs) with a provider that calls no vendor.
// Whatever keyfleet takes beyond this is ours.
import crypto from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

const noop: pulumi.dynamic.ResourceProvider = {
    async check(_olds, news) {
        return { inputs: news };
    },
    async create(inputs) {
        const value = crypto.randomUUID();
        return { id: `noop-${value.slice(0, 8)}`, outs: { ...inputs, apiKey: value, fingerprint: value.slice(0, 8), created: new Date().toISOString() } };
    },
    async read(id, props) {
        return { id, props };
    },
    // An input changed (a rotation's generation, say) is a replace, so that the floor of a rotation
    // is the engine's replace of the same resources.
    async diff(_id, olds, news) {
        const replaces = Object.keys(news).filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

(globalThis as { __keyfleetFloorProvider?: () => pulumi.dynamic.ResourceProvider }).__keyfleetFloorProvider = () => noop;

export default async function floor() {
    return (await import("../stacks/index.ts")).default();
}
