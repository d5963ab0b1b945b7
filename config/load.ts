// Reads config/<environment>.yaml into the desired set of keys, or into every error it holds, each
// placed at its file, line and column and named by its path:
//   config/prod.yaml:14:7 nexus.tenantKeys[2].permissions[0]: unknown permission "nexus:consumer:chta"; …
// It runs before the program declares any resource, so bad input never reaches a vendor.
import fs from "node:fs";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
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
    } else {
        errors.push(...semanticErrors(parsed.data, doc, shown, at));
    }
    errors.sort((a, b) => a.line - b.line || a.col - b.col);
    return errors.length > 0 ? { ok: false, errors } : { ok: true, env: parsed.data! };
}

type At = (offset: number | undefined) => { line: number; col: number };

function issueErrors(issue: z.core.$ZodIssue, doc: Document, file: string, at: At): ConfigError[] {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    if (issue.code === "unrecognized_keys") {
        // Point at each unknown key itself, not at the mapping that holds it.
        const parent = doc.getIn(path, true) as Node | undefined;
        return issue.keys.map((key) => {
            const pair = isMap(parent) ? parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key) : undefined;
            const keyNode = pair && isScalar(pair.key) ? pair.key : parent;
            return { file, ...at(keyNode?.range?.[0]), path: formatPath([...path, key]), message: `unknown field "${key}"` };
        });
    }
    const { node, found } = nearestNode(doc, path);
    let message = issue.message;
    if (issue.code === "invalid_type" && !found) message = `is required (${issue.expected})`;
    return [{ file, ...at(node?.range?.[0]), path: formatPath(path), message }];
}

/** The node at `path`, or the nearest ancestor that exists (for a field that is missing). */
function nearestNode(doc: Document, path: (string | number)[]): { node: Node | undefined; found: boolean } {
    for (let n = path.length; n >= 0; n--) {
        const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as Node | undefined;
        if (node && (isMap(node) || isSeq(node) || isScalar(node))) return { node, found: n === path.length };
    }
    return { node: undefined, found: false };
}

function semanticErrors(env: Environment, doc: Document, file: string, at: At): ConfigError[] {
    const errors: ConfigError[] = [];
    const nexus = env.nexus;
    if (!nexus) return errors;
    const place = (path: (string | number)[]) => at((doc.getIn(path, true) as Node | undefined)?.range?.[0] ?? (doc.getIn(path.slice(0, -1), true) as Node | undefined)?.range?.[0]);

    const tenantScoped = (["tenantKeys", "designerKeys"] as const).filter((list) => (nexus[list]?.length ?? 0) > 0);
    if (tenantScoped.length > 0 && !nexus.contactCenter) {
        errors.push({ file, ...place(["nexus"]), path: "nexus.contactCenter", message: `is required for ${tenantScoped.join(" and ")}` });
    }
    // Nexus names are unique per tenant: tenant and Designer keys share the contact center's.
    const scopes = [
        { lists: ["tenantKeys", "designerKeys"] as const, tenant: nexus.contactCenter ? `tenant ${nexus.contactCenter}` : "the contact center" },
        { lists: ["clusterKeys"] as const, tenant: "the cluster" },
    ];
    for (const scope of scopes) {
        const seen = new Map<string, string>();
        for (const list of scope.lists) {
            (nexus[list] ?? []).forEach((entry, i) => {
                const path = ["nexus", list, i, "name"];
                const first = seen.get(entry.name);
                if (first) {
                    errors.push({ file, ...place(path), path: formatPath(path), message: `duplicate key name "${entry.name}" in ${scope.tenant}; first at ${first}` });
                } else {
                    const p = place(path);
                    seen.set(entry.name, `line ${p.line}`);
                }
            });
        }
    }
    return errors;
}
