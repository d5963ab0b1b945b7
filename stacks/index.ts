// The keyfleet program: declares, for the selected stack, every API key that config/<stack>.yaml
// lists (api/environment.ts does the work, as it does for a program that embeds keyfleet). Its record
// for the next run is the stack's own outputs, read back through a StackReference to itself; keyfleet's
// stacks have kept it there since their first run, so nothing here may move in state.
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
        const self = new pulumi.StackReference("keyfleet-last-run", { name: ownStackName() });
        const details = await self.getOutputDetails("keyIds");
        const endedAt = (await self.getOutputDetails("lastRunAt")).value;
        return {
            keys: ((details.value ?? details.secretValue) as Record<string, LastRunKey> | undefined) ?? {},
            endedAt: typeof endedAt === "string" ? endedAt : undefined,
            inState: async () => (await keyResourcesInState(await new Promise<string>((resolve) => self.name.apply((n) => resolve(n))))).names,
        };
    });
}
