// The import rules the layout promises: shipped code (api/, providers/, stacks/, config/, ops/, policy/) never
// loads a sandbox, imports run one way (no cycle; a vendor's resource classes never load its wire
// client), and every vendor has exactly one sandbox in sandbox/index.ts.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
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

/** The project files `file` imports (relative specifiers and the providers workspace), resolved. */
function edges(file: string, opts: { eager?: boolean } = {}): string[] {
    const text = fs.readFileSync(file, "utf8");
    const specs = opts.eager
        ? [...text.matchAll(/(?:^|\n)(?:import|export)\s(?!type\b)[^"';]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s+["']([^"']+)["']/g)].map((m) => (m[1] ?? m[2])!)
        : imports(file);
    return specs
        .map((s) => (s.startsWith("@keyfleet/providers/") ? path.join(ROOT, "providers", s.slice("@keyfleet/providers/".length).replace(/(?<!\.ts)$/, ".ts")) : s.startsWith(".") ? path.resolve(path.dirname(file), s) : ""))
        .filter((t) => t !== "" && fs.existsSync(t));
}

/** The strongly connected components of more than one module (Tarjan): each is an import cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const found: string[][] = [];
    const visit = (v: string) => {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        for (const w of graph.get(v) ?? []) {
            if (!index.has(w)) {
                visit(w);
                low.set(v, Math.min(low.get(v)!, low.get(w)!));
            } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        if (low.get(v) !== index.get(v)) return;
        const component: string[] = [];
        let w: string;
        do {
            w = stack.pop()!;
            component.push(w);
        } while (w !== v);
        if (component.length > 1) found.push(component);
    };
    for (const v of graph.keys()) if (!index.has(v)) visit(v);
    return found;
}

function sources(dir: string): string[] {
    return fs
        .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && /\.(ts|js)$/.test(e.name))
        .map((e) => path.join(e.parentPath, e.name));
}

/** What in one file breaks the core's size rule: over 300 lines, or a function over 80. */
function oversized(rel: string, text: string): string[] {
    const big: string[] = [];
    const lines = text.split("\n").length;
    if (lines > 300) big.push(`${rel}: ${lines} lines`);
    const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && "body" in node && node.body) {
            const from = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
            const to = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
            if (to - from + 1 > 80) big.push(`${rel}:${from + 1}: a function of ${to - from + 1} lines`);
        }
        ts.forEachChild(node, visit);
    };
    visit(sf);
    return big;
}

describe("layout", () => {
    it("no module outside sandbox/, test/ and bench/ imports sandbox/ (the CLI in scripts/ asks it as a child process)", () => {
        const offenders: string[] = [];
        for (const dir of ["api", "providers", "stacks", "config", "ops", "toolchain", "policy", "scripts"]) {
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

    it("imports run one way: no cycle among shipped modules, counting import() and import type", () => {
        const shipped = ["api", "providers", "stacks", "config", "ops", "toolchain", "policy", "scripts"].flatMap(sources).filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`));
        const graph = new Map(shipped.map((f) => [f, edges(f).filter((t) => shipped.includes(t))]));
        expect(cycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)))).toEqual([]);
        // The check sees a cycle when there is one.
        expect(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])).map((c) => c.sort())).toEqual([["a", "b", "c"]]);
    });

    it("the core (providers/shared) never imports the vendor list: vendors plug into it, not the reverse", () => {
        const offenders = sources("providers/shared").filter((f) => edges(f).includes(path.join(ROOT, "providers", "vendors.ts")));
        expect(offenders.map((f) => path.relative(ROOT, f))).toEqual([]);
    });

    it("a vendor's resource classes load without its wire client or lifecycle (the program reads only output lists)", () => {
        for (const v of vendors) {
            const start = path.join(ROOT, "providers", v.section, "resource.ts");
            const seen = new Set<string>();
            const walk = (f: string) => {
                if (seen.has(f)) return;
                seen.add(f);
                // Only what loads eagerly: static value imports (a dynamic import() runs when called).
                for (const t of edges(f, { eager: true })) walk(t);
            };
            walk(start);
            const loaded = [...seen].map((f) => path.relative(ROOT, f));
            expect(loaded.filter((f) => /\/(client|lifecycle|admin)\.ts$/.test(f)), v.section).toEqual([]);
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

    it("the core stays small: no file in providers/shared over 300 lines, no function over 80", () => {
        const big = sources("providers/shared").flatMap((file) => oversized(path.relative(ROOT, file), fs.readFileSync(file, "utf8")));
        expect(big).toEqual([]);
    });

    it("the size check names what it claims to (an 81-line function, a 301-line file), and not an 80-line function", () => {
        const fn = (body: number) => `function f() {\n${"    void 0;\n".repeat(body)}}\n`;
        expect(oversized("p.ts", fn(79))).toEqual(["p.ts:1: a function of 81 lines"]);
        expect(oversized("p.ts", fn(78))).toEqual([]);
        expect(oversized("p.ts", "const x = () => 1;\n".repeat(300))).toEqual(["p.ts: 301 lines"]);
    });
});
