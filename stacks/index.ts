// The keyfleet program: declares, for the selected stack, every API key that config/<stack>.yaml
// lists (api/environment.ts does the work, as it does for a program that embeds keyfleet). Its record
// for the next run is the stack's own outputs (keyIds, lastRunAt), where keyfleet's stacks have kept
// it since their first run. It is read with the engine's readStackResourceOutputs, as the component
// reads its own: the StackReference it was read through before kept a copy of every output of the
// stack in state (the `keys` output too, ~0.75 KB a key, rewritten with every checkpoint). A stack
// whose state still holds that reference drops it on its next up, as the engine discards any read
// the program no longer makes.
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { LastRunKey } from "../providers/shared/descriptor.ts";
import { declareEnvironment, keyResourcesInState, ownStackName, shownPath } from "../api/environment.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export default async function keyfleet() {
    const config = new pulumi.Config("keyfleet");
    const file = path.resolve(ROOT, config.get("keysFile") ?? path.join("config", `${pulumi.getStack()}.yaml`));
    return declareEnvironment({ file, shown: shownPath(file, ROOT) }, async () => {
        const stack = ownStackName();
        const { names, outputs } = await keyResourcesInState(stack);
        const mine = Object.values(outputs).find((r) => r.type === "pulumi:pulumi:Stack")?.outputs ?? {};
        return {
            keys: (mine.keyIds as Record<string, LastRunKey> | undefined) ?? {},
            endedAt: typeof mine.lastRunAt === "string" ? mine.lastRunAt : undefined,
            inState: async () => names,
        };
    });
}
