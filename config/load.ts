// Reads config/<environment>.yaml into the desired set of keys, or into every error it holds, each
// placed at its file, line and column and named by its path:
//   config/prod.yaml:14:7 nexus.tenantKeys[2].permissions[0]: unknown permission "nexus:consumer:chta"; …
// It runs before the program declares any resource, so bad input never reaches a vendor.
import fs from "node:fs";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import type { z } from "zod";
import { vendors } from "@keyfleet/providers/vendors";
import { Settings, type RawConfig } from "@keyfleet/providers/shared/settings";
import { Environment } from "./schema.ts";

export interface ConfigError {
    file: string;
    line: number;
    col: number;
    path: string;
    message: string;
}

export type LoadResult = { ok: true; env: Environment; warnings: ConfigError[] } | { ok: false; errors: ConfigError[] };

/** Uses of YAML aliases allowed in one file (yaml's own guard against alias bombs). */
const MAX_ALIASES = 100;

export function formatError(e: ConfigError): string {
    return `${e.file}:${e.line}:${e.col} ${e.path ? `${e.path}: ` : ""}${e.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
    let out = "";
    for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
    return out;
}

/**
 * Loads `file`; `shown` is how messages name it (a path relative to the project, say). `config` is
 * the stack config (`keyfleet:…` keys), for rules a deployment's settings extend (Nexus
 * permissions); without it those settings come from the environment or their defaults.
 */
export function loadEnvironment(file: string, shown = file, config?: RawConfig): LoadResult {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        return { ok: false, errors: [{ file: shown, line: 1, col: 1, path: "", message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? err}` }] };
    }
    return parseEnvironment(text, shown, config);
}

export function parseEnvironment(text: string, shown: string, config?: RawConfig): LoadResult {
    const settings = new Settings();
    if (config) settings.configure(config);
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const at = (offset: number | undefined) => lines.linePos(offset ?? 0);
    if (doc.errors.length > 0) {
        return {
            ok: false,
            errors: doc.errors.map((e) => ({ file: shown, ...at(e.pos[0]), path: "", message: e.message.split("\n")[0] })),
        };
    }
    let data: unknown;
    try {
        data = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
    } catch (err) {
        // yaml refuses a file that expands too many aliases; point at the alias past the limit.
        let seen = 0;
        let where: number | undefined;
        let first: number | undefined;
        visit(doc, {
            Alias: (_k, node) => {
                first ??= node.range?.[0];
                if (++seen > MAX_ALIASES && where === undefined) where = node.range?.[0];
            },
        });
        // Nested aliases expand to more uses than there are alias nodes: then point at the first.
        where ??= first;
        return {
            ok: false,
            errors: [{ file: shown, ...at(where), path: "", message: `too many alias uses (more than ${MAX_ALIASES}): ${(err as Error).message}; write the values out instead` }],
        };
    }
    const parsed = Environment.safeParse(data);
    const errors: ConfigError[] = [];
    if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push(...issueErrors(issue, doc, shown, at));
    }
    // Rules the schema cannot state run on the raw data too, so that one run reports everything.
    errors.push(...semanticErrors(data, doc, shown, at, settings));
    errors.sort((a, b) => a.line - b.line || a.col - b.col);
    if (errors.length > 0 || !parsed.success) return { ok: false, errors };
    const env = parsed.data as Environment;
    const warnings: ConfigError[] = [];
    for (const v of vendors) {
        const section = env[v.section];
        if (section === undefined || !v.warnings) continue;
        for (const w of v.warnings(section)) {
            const path = [v.section, ...w.path];
            warnings.push({ file: shown, ...at(locate(doc, path).node?.range?.[0]), path: formatPath(path), message: w.message });
        }
    }
    return { ok: true, env, warnings };
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

/** Each vendor's rules across fields and entries, on the raw data, placed at their nodes. */
function semanticErrors(data: unknown, doc: Document, file: string, at: At, settings: Settings): ConfigError[] {
    const errors: ConfigError[] = [];
    if (!data || typeof data !== "object") return errors;
    for (const v of vendors) {
        const raw = (data as Record<string, unknown>)[v.section];
        if (!raw || typeof raw !== "object" || !v.rules) continue;
        for (const problem of v.rules(raw as Record<string, unknown>, settings, data as Record<string, unknown>)) {
            const path = [v.section, ...problem.path];
            const first = problem.firstAt ? `; first at line ${at(locate(doc, [v.section, ...problem.firstAt]).node?.range?.[0]).line}` : "";
            errors.push({ file, ...at(locate(doc, path).node?.range?.[0]), path: formatPath(path), message: problem.message + first });
        }
    }
    return errors;
}
