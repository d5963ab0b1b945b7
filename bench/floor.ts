// The engine's floor for the benchmark: the same program shape as stacks/index.ts (the same keys
// file, resource names, inputs, secret key outputs and stack outputs) but dynamic resources whose
// provider does nothing and calls no vendor. Whatever keyfleet takes beyond this is ours.
import crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { loadEnvironment } from "../config/load.ts";

const noop: pulumi.dynamic.ResourceProvider = {
    async create(inputs) {
        const apiKey = crypto.randomUUID();
        return { id: `noop-${apiKey.slice(0, 8)}`, outs: { ...inputs, apiKey, fingerprint: apiKey.slice(0, 8), created: new Date().toISOString() } };
    },
    async read(id, props) {
        return { id, props };
    },
    async diff() {
        return { changes: false };
    },
};

class NoopKey extends pulumi.dynamic.Resource {
    declare readonly name: pulumi.Output<string>;
    declare readonly apiKey: pulumi.Output<string>;
    declare readonly fingerprint: pulumi.Output<string>;
    declare readonly created: pulumi.Output<string>;
    constructor(name: string, props: Record<string, unknown>) {
        super(noop, name, { ...props, apiKey: undefined, fingerprint: undefined, created: undefined }, { additionalSecretOutputs: ["apiKey"] }, "nexus", "NoopKey");
    }
}

export default async function floor() {
    const file = new pulumi.Config("keyfleet").require("keysFile");
    const result = loadEnvironment(file);
    if (!result.ok) throw new pulumi.RunError(`${file} is not valid`);
    const nexus = result.env.nexus ?? {};
    const keys: Record<string, unknown> = {};
    for (const [kind, list] of [["tenant", nexus.tenantKeys], ["cluster", nexus.clusterKeys], ["designer", nexus.designerKeys]] as const) {
        for (const e of list ?? []) {
            const name = `nexus/${kind}/${e.name}`;
            const key = new NoopKey(name, { kind, tenant: kind === "cluster" ? "*" : nexus.contactCenter, enabled: true, revoked: false, expires: null, ...e });
            keys[name] = { kind, name: key.name, fingerprint: key.fingerprint, created: key.created, apiKey: key.apiKey };
        }
    }
    return { keys };
}
