// The whole project type-checks under the strict tsconfig (Node runs the .ts files with types
// stripped, so nothing else would catch a type error).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";

it("tsc --noEmit reports nothing", async () => {
    const root = new URL("..", import.meta.url).pathname;
    const tsc = new URL("../node_modules/typescript/bin/tsc", import.meta.url).pathname;
    const result = await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: root }).catch((e) => e);
    expect(`${result.stdout ?? ""}${result.stderr ?? ""}`).toBe("");
});
