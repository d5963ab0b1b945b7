// The engine's floor for the benchmark: the same keys file, the same resource names and inputs,
// but dynamic resources whose provider does nothing. Whatever keyfleet takes beyond this is ours.
import * as pulumi from "@pulumi/pulumi";
import { loadEnvironment } from "../config/load.ts";

const noop: pulumi.dynamic.ResourceProvider = {
    async create(inputs) {
        return { id: `noop-${inputs.name}`, outs: inputs };
    },
    async read(id, props) {
        return { id, props };
    },
    async diff() {
        return { changes: false };
    },
};

class NoopKey extends pulumi.dynamic.Resource {
    constructor(name: string, props: Record<string, unknown>) {
        super(noop, name, props, {}, "nexus", "NoopKey");
    }
}

export default async function floor() {
    const file = new pulumi.Config("keyfleet").require("keysFile");
    const result = loadEnvironment(file);
    if (!result.ok) throw new pulumi.RunError(`${file} is not valid`);
    const nexus = result.env.nexus ?? {};
    for (const [kind, list] of [["tenant", nexus.tenantKeys], ["cluster", nexus.clusterKeys], ["designer", nexus.designerKeys]] as const) {
        for (const e of list ?? []) new NoopKey(`nexus/${kind}/${e.name}`, { kind, tenant: nexus.contactCenter, ...e });
    }
}
