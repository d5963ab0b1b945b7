// The import rules the layout promises: shipped code (providers/, stacks/, config/, ops/, policy/) never
// loads a sandbox, and every vendor has exactly one sandbox in sandbox/index.ts.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { vendors } from "../providers/vendors.ts";
import { sandboxes } from "../sandbox/index.ts";
import { benchSandboxes } from "../sandbox/bench.ts";
import { ROOT } from "./helpers/stack.ts";

/** Module specifiers a TypeScript file imports, statically or with import(). */
function imports(file: string): string[] {
    const text = fs.readFileSync(file, "utf8");
    const found: string[] = [];
    for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g)) {
        found.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
    }
    return found;
}

function sources(dir: string): string[] {
    return fs
        .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name))
        .map((e) => path.join(e.parentPath, e.name));
}

describe("layout", () => {
    it("no shipped module imports sandbox/", () => {
        const offenders: string[] = [];
        for (const dir of ["providers", "stacks", "config", "ops", "toolchain", "policy"]) {
            for (const file of sources(dir)) {
                for (const spec of imports(file)) {
                    if (!spec.startsWith(".")) continue;
                    const target = path.resolve(path.dirname(file), spec);
                    if (target.startsWith(path.join(ROOT, "sandbox") + path.sep)) offenders.push(`${path.relative(ROOT, file)} → ${spec}`);
                }
            }
        }
        expect(offenders).toEqual([]);
    });

    it("finds imports of each form (the check above is not vacuous)", () => {
        const probe = path.join(ROOT, "test", "layout.test.ts");
        expect(imports(probe)).toEqual(expect.arrayContaining(["../sandbox/index.ts", "node:fs"]));
        const tmp = path.join(ROOT, ".keyfleet", `layout-probe-${process.pid}.ts`);
        fs.writeFileSync(tmp, 'import "../sandbox/http.ts";\nconst m = await import("../sandbox/genesys.ts");\n');
        try {
            expect(imports(tmp)).toEqual(["../sandbox/http.ts", "../sandbox/genesys.ts"]);
        } finally {
            fs.rmSync(tmp);
        }
    });

    it("every vendor has exactly one sandbox, on a port of its own", () => {
        expect(sandboxes.map((sb) => sb.section).sort()).toEqual(vendors.map((v) => v.section).sort());
        expect(new Set(sandboxes.map((sb) => sb.port)).size).toBe(sandboxes.length);
    });

    it("bench/ names no vendor: it loops over providers/vendors.ts, and sandbox/bench.ts has a fixture for each", () => {
        expect(Object.keys(benchSandboxes).sort()).toEqual(vendors.map((v) => v.section).sort());
        // The section, the product's first word (its maker or name) and a name in parentheses ("Nexus").
        const words = vendors.flatMap((v) => [v.section, v.title.split(" ")[0]!, ...[...v.title.matchAll(/\(([^)]+)\)/g)].map((m) => m[1]!)]);
        for (const file of fs.readdirSync(path.join(ROOT, "bench"))) {
            const text = fs.readFileSync(path.join(ROOT, "bench", file), "utf8").toLowerCase();
            for (const w of words) expect(text.includes(w.toLowerCase()), `bench/${file} names "${w}"`).toBe(false);
        }
    });
});
