// Reads config/<environment>.yaml into the desired set of keys, or into every error it holds, each
// placed at its file, line and column and named by its path:
//   config/prod.yaml:14:7 nexus.tenantKeys[2].permissions[0]: unknown permission "nexus:consumer:chta"; …
// It runs before the program declares any resource, so bad input never reaches a vendor.
import fs from "node:fs";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { Environment } from "./schema.ts";

export interface ConfigError {
    file: string;
    line: number;
    col: number;
    path: string;
    message: string;
}

export type LoadResult = { ok: true; env: Environment } | { ok: false; errors: ConfigError[] };

export function formatError(e: ConfigError): string {
    return `${e.file}:${e.line}:${e.col} ${e.path ? `${e.path}: ` : ""}${e.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
    return out;
}

/** Loads `file`; `shown` is how messages name it (a path relative to the project, say). */
export function loadEnvironment(file: string, shown = file): LoadResult {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        return { ok: false, errors: [{ file: shown, line: 1, col: 1, path: "", message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? err}` }] };
    }
    return parseEnvironment(text, shown);
}

export function parseEnvironment(text: string, shown: string): LoadResult {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const at = (offset: number | undefined) => lines.linePos(offset ?? 0);
    if (doc.errors.length > 0) {
        return {
            ok: false,
            errors: doc.errors.map((e) => ({ file: shown, ...at(e.pos[0]), path: "", message: e.message.split("\n")[0] })),
        };
    }
    const data = doc.toJS() ?? {};
    const parsed = Environment.safeParse(data);
    const errors: ConfigError[] = [];
    if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push(...issueErrors(issue, doc, shown, at));
    }
    // Rules the schema cannot state run on the raw data too, so that one run reports everything.
    errors.push(...semanticErrors(data, doc, shown, at));
    errors.sort((a, b) => a.line - b.line || a.col - b.col);
    return errors.length > 0 || !parsed.success ? { ok: false, errors } : { ok: true, env: parsed.data };
}

type At = (offset: number | undefined) => { line: number; col: number };
type Path = (string | number)[];

/**
 * The node at `path`, following aliases (`*anchor`), or the nearest ancestor that exists; `found`
 * says whether the path itself is there, so that only a truly absent field is "required".
 */
function locate(doc: Document, path: Path): { node: Node | undefined; key: Node | undefined; found: boolean } {
    let node = doc.contents as Node | null;
    let key: Node | undefined;
    for (const step of path) {
        if (isAlias(node)) node = node.resolve(doc) as Node | undefined ?? null;
        let next: Node | undefined;
        if (isMap(node)) {
            const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
            next = pair?.value as Node | undefined;
            key = pair?.key as Node | undefined;
            if (pair && next === null) next = pair.key as Node;
        } else if (isSeq(node) && typeof step === "number") {
            next = node.items[step] as Node | undefined;
            key = undefined;
        }
        if (next === undefined || next === null) return { node: node ?? undefined, key: undefined, found: false };
        node = next;
    }
    return { node: node ?? undefined, key, found: true };
}

function issueErrors(issue: z.core.$ZodIssue, doc: Document, file: string, at: At): ConfigError[] {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    if (issue.code === "unrecognized_keys") {
        // Point at each unknown key itself, not at the mapping that holds it.
        return issue.keys.map((key) => {
            const { node, key: keyNode, found } = locate(doc, [...path, key]);
            return { file, ...at((found ? keyNode : node)?.range?.[0]), path: formatPath([...path, key]), message: `unknown field "${key}"` };
        });
    }
    const { node, found } = locate(doc, path);
    const message = issue.code === "invalid_type" && !found ? `is required (${issue.expected})` : issue.message;
    return [{ file, ...at(node?.range?.[0]), path: formatPath(path), message }];
}

function semanticErrors(data: unknown, doc: Document, file: string, at: At): ConfigError[] {
    const errors: ConfigError[] = [];
    const nexus = (data as { nexus?: unknown })?.nexus;
    if (!nexus || typeof nexus !== "object") return errors;
    const n = nexus as Record<string, unknown>;
    const list = (name: string): unknown[] => (Array.isArray(n[name]) ? (n[name] as unknown[]) : []);
    const place = (path: Path) => at(locate(doc, path).node?.range?.[0]);

    const tenantScoped = ["tenantKeys", "designerKeys"].filter((name) => list(name).length > 0);
    if (tenantScoped.length > 0 && !n.contactCenter) {
        errors.push({ file, ...place(["nexus"]), path: "nexus.contactCenter", message: `is required for ${tenantScoped.join(" and ")}` });
    }
    // Nexus names are unique per tenant: tenant and Designer keys share the contact center's.
    const tenant = typeof n.contactCenter === "string" ? `tenant ${n.contactCenter}` : "the contact center";
    for (const scope of [{ lists: ["tenantKeys", "designerKeys"], tenant }, { lists: ["clusterKeys"], tenant: "the cluster" }]) {
        const seen = new Map<string, number>();
        for (const name of scope.lists) {
            list(name).forEach((entry, i) => {
                const keyName = (entry as { name?: unknown })?.name;
                if (typeof keyName !== "string") return;
                const path = ["nexus", name, i, "name"];
                const first = seen.get(keyName);
                if (first !== undefined) {
                    errors.push({ file, ...place(path), path: formatPath(path), message: `duplicate key name "${keyName}" in ${scope.tenant}; first at line ${first}` });
                } else {
                    seen.set(keyName, place(path).line);
                }
            });
        }
    }
    return errors;
}
