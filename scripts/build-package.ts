// `npm run package [-- <destination folder>]`: builds the `keyfleet` npm package (JavaScript and
// type declarations, compiled by tsc from the same sources the checkout runs) and packs it with
// `npm pack`; prints the tarball's path. The checkout runs TypeScript directly (Node strips the
// types), which Node refuses under node_modules, so a program that installs keyfleet needs this.
//
// What is in it: api/ (the public API, api/index.ts) and what it and the provider shim reach
// (providers/, config/); never sandbox/, stacks/ or test/. Its dependencies are the npm packages
// that compiled code imports, each at the exact version this checkout pins; @pulumi/pulumi is a
// peer dependency, because a program and keyfleet must share one copy of the SDK.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { builtinModules, createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(ROOT, ".keyfleet", "package");
const USAGE = `usage: npm run package [-- <destination folder>]
  Builds the keyfleet npm package (compiled JavaScript and type declarations) and packs it with
  npm pack into the folder (default .keyfleet/); prints the tarball's path.`;
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    process.exit(0);
}
// An option is not a folder: refused before anything is built or written.
if (args.length > 1 || args.some((a) => a.startsWith("-"))) {
    console.error(`${USAGE}\nnpm run package: unexpected ${args.join(" ")}`);
    process.exit(2);
}
const dest = path.resolve(args[0] ?? path.join(ROOT, ".keyfleet"));
const root = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; description: string; engines: Record<string, string>; dependencies: Record<string, string> };

fs.rmSync(OUT, { recursive: true, force: true });
const tsc = createRequire(path.join(ROOT, "package.json")).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });

const files = fs.readdirSync(OUT, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
// tsc rewrites `./x.ts` to `./x.js` in JavaScript but leaves declarations as written, which a
// program's compiler without allowImportingTsExtensions refuses to read.
for (const file of files.filter((f) => f.endsWith(".d.ts"))) {
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(/((?:from|import)\s*\(?\s*["']\.{1,2}\/[^"']*?)\.ts(["'])/g, "$1.js$2"));
}

// The shim is CommonJS in a package whose modules are ES modules, hence .cjs. Only the current shim:
// providers/shim/nexus.js serves state that keyfleet 0.1's checkout wrote, which no package user has.
fs.mkdirSync(path.join(OUT, "providers", "shim"), { recursive: true });
fs.copyFileSync(path.join(ROOT, "providers", "shim", "index.js"), path.join(OUT, "providers", "shim", "index.cjs"));

const imported = new Set<string>();
for (const file of files.filter((f) => f.endsWith(".js"))) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^"';]*?from\s+["']([^"'.#][^"']*)["']|import\(\s*["']([^"'.#][^"']*)["']\s*\)|require\(\s*["']([^"'.#][^"']*)["']\s*\)/g)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (spec.startsWith("node:") || builtinModules.includes(spec)) continue;
        imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
}
const PEERS = new Set(["@pulumi/pulumi"]);
const dependencies: Record<string, string> = {};
const peerDependencies: Record<string, string> = {};
for (const name of [...imported].sort()) {
    const version = root.dependencies[name];
    if (!version) throw new Error(`compiled code imports ${name}, which package.json's dependencies do not pin`);
    (PEERS.has(name) ? peerDependencies : dependencies)[name] = version;
}

const manifest = {
    name: "keyfleet",
    version: root.version,
    description: root.description,
    type: "module",
    engines: { node: ">=24" },
    // The entry point is the public API; the shim is exported because state names it (`require("keyfleet/shim")`).
    exports: {
        ".": { types: "./api/index.d.ts", default: "./api/index.js" },
        "./shim": "./providers/shim/index.cjs",
        "./package.json": "./package.json",
    },
    imports: { "#provider-shim": "./providers/shim/index.cjs", "#dispatch": "./providers/dispatch.js" },
    types: "./api/index.d.ts",
    dependencies,
    peerDependencies,
};
fs.writeFileSync(path.join(OUT, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
// README links into docs/ (the API's own page is docs/program.md): the package ships the pages so its links resolve.
const docs = fs.globSync("docs/**/*.md", { cwd: ROOT });
for (const doc of ["README.md", "CHANGELOG.md", ...docs]) {
    fs.mkdirSync(path.dirname(path.join(OUT, doc)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, doc), path.join(OUT, doc));
}

fs.mkdirSync(dest, { recursive: true });
const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dest], { cwd: OUT, encoding: "utf8" })) as { filename: string }[];
console.log(path.join(dest, packed[0]!.filename));
