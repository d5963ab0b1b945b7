// The Pulumi CLI built from Go modules and the SDK from npm are one release; Node is one major.
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";

const read = (f: string) => fs.readFileSync(new URL(`../${f}`, import.meta.url), "utf8");
const pkg = JSON.parse(read("package.json"));

it("tools/go.mod requires the Pulumi release that package.json pins", () => {
    const release = pkg.dependencies["@pulumi/pulumi"];
    expect(release).toMatch(/^\d+\.\d+\.\d+$/);
    const gomod = read("tools/go.mod");
    expect(gomod).toContain(`github.com/pulumi/pulumi/pkg/v3 v${release}\n`);
    expect(gomod).toContain(`github.com/pulumi/pulumi/sdk/v3 v${release}\n`);
    expect(gomod).toContain("replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e");
});

it("the pulumi on PATH is that release or newer, and tests run on Node 24", () => {
    const version = execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim().replace(/^v/, "");
    const [a, b, c] = version.split(/[.-]/).map(Number);
    const [x, y, z] = pkg.dependencies["@pulumi/pulumi"].split(".").map(Number);
    expect(a * 1e6 + b * 1e3 + c).toBeGreaterThanOrEqual(x * 1e6 + y * 1e3 + z);
    expect(process.versions.node.split(".")[0]).toBe(read(".node-version").trim().split(".")[0]);
    expect(pkg.engines.node).toBe(">=24 <25");
    expect(JSON.parse(read("toolchain/node/package.json")).dependencies.node).toBe(read(".node-version").trim());
});
