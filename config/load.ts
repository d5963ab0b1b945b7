// Reads config/<environment>.yaml into the desired set of keys, or into every error it holds, each
// placed at its file, line and column and named by its path:
//   config/prod.yaml:14:7 nexus.tenantKeys[2].permissions[0]: unknown permission "nexus:consumer:chta"; …
// It runs before the program declares any resource, so bad input never reaches a vendor.
import fs from "node:fs";
import { isUtf8 } from "node:buffer";
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import type { z } from "zod";
import { distance } from "fastest-levenshtein";
import { vendors } from "../providers/vendors.ts";
import { Settings, type RawConfig } from "../providers/shared/settings.ts";
import { Environment } from "./schema.ts";

export interface ConfigError {
    file: string;
    line: number;
    col: number;
    path: string;
    message: string;
}

export type LoadResult =
    | {
          ok: true;
          env: Environment;
          warnings: ConfigError[];
          /** Where `path` is in the file, as errors start: "config/prod.yaml:7:15 supportsystem.apiKeys[0].note". */
          at(path: (string | number)[]): string;
          /** The same place as a ConfigError without its message (the key-hygiene policy's findings, in validate). */
          place(path: (string | number)[]): Omit<ConfigError, "message">;
      }
    | { ok: false; errors: ConfigError[] };

/** The largest keys file read (see loadEnvironment). */
const MAX_FILE_BYTES = 4 * 1_048_576;

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
    let bytes: Buffer;
    try {
        // A keys file is a few KB (2,000 keys are about 200 KB): a far larger one is a mistake, not an
        // environment, and reading it would cost seconds and memory before the first message.
        const size = fs.statSync(file).size;
        if (size > MAX_FILE_BYTES) return { ok: false, errors: [{ file: shown, line: 1, col: 1, path: "", message: `the file is ${(size / 1_048_576).toFixed(1)} MiB; a keys file is at most ${MAX_FILE_BYTES / 1_048_576} MiB (split the environment, or check that this is the file you meant)` }] };
        bytes = fs.readFileSync(file);
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === "ENOENT" ? "it does not exist (or is a symbolic link to nothing)" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code ?? err);
        return { ok: false, errors: [{ file: shown, line: 1, col: 1, path: "", message: `cannot read the file: ${why}` }] };
    }
    const text = bytes.toString("utf8");
    if (!isUtf8(bytes)) {
        // Decoding would turn the bad bytes into U+FFFD and send that to a vendor as part of a name.
        return { ok: false, errors: [{ file: shown, ...firstInvalidByte(text, bytes), path: "", message: "the file is not UTF-8 text (a byte here is not valid UTF-8); save it as UTF-8" }] };
    }
    return parseEnvironment(text, shown, config);
}

export function parseEnvironment(text: string, shown: string, config?: RawConfig): LoadResult {
    try {
        return parseChecked(text, shown, config);
    } catch (err) {
        // The YAML parser and the schema recurse per level: thousands of levels exhaust the stack.
        if (!(err instanceof RangeError) || !OVERFLOW.test(err.message)) throw err;
        return tooDeep(text, shown);
    }
}

function tooDeep(text: string, shown: string): LoadResult {
    return { ok: false, errors: [{ file: shown, ...deepest(text), path: "", message: `the file nests deeper than keyfleet reads (no environment needs more than ${MAX_DEPTH} levels); write it flatter` }] };
}

/** The tags of plain data (YAML 1.2's core schema), the only ones a keys file may carry. */
const PLAIN_TAGS = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));

/** yaml's message for a syntax error, in the operator's words where yaml speaks of its own API. */
function yamlMessage(code: string, message: string, source: string): string {
    switch (code) {
        case "MULTIPLE_DOCS":
            return "the file holds a second YAML document (after this ---); an environment is one document: merge them or remove the ---";
        case "DUPLICATE_KEY": {
            const key = /^["']?([^"':\n]+)/.exec(source)?.[1]?.trim();
            return `the field ${key ? `"${key}" ` : ""}is written twice in this mapping; keep one`;
        }
        default:
            return message.split("\n")[0]!;
    }
}

/** yaml turns its own stack overflow into parse errors ("Maximum call stack size exceeded", "…Stack overflow"). */
const OVERFLOW = /call stack|stack overflow/i;

/**
 * Line and column of the first byte that is not UTF-8. Decoding turns it into U+FFFD; a U+FFFD that
 * stands for its own three bytes (EF BF BD) is a real one, so the walk keeps the byte offset exact
 * up to the first replacement that is not.
 */
function firstInvalidByte(text: string, bytes: Buffer): { line: number; col: number } {
    let offset = 0;
    let line = 1;
    let col = 1;
    for (const ch of text) {
        if (ch === "\uFFFD") {
            if (!(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) return { line, col };
            offset += 3;
        } else offset += Buffer.byteLength(ch);
        if (ch === "\n") {
            line++;
            col = 1;
        } else col++;
    }
    return { line: 1, col: 1 };
}

/** Levels of nesting an environment may use; a real one uses six or seven. */
const MAX_DEPTH = 64;

/** Where flow nesting (`[`, `{`) or indentation first passes MAX_DEPTH levels, else 1:1. */
function deepest(text: string): { line: number; col: number } {
    let depth = 0;
    let line = 1;
    let col = 0;
    let lineStart = true;
    let indent = 0;
    for (const ch of text) {
        col++;
        if (ch === "\n") {
            line++;
            col = 0;
            lineStart = true;
            indent = 0;
            continue;
        }
        if (lineStart && ch === " ") {
            if (++indent > MAX_DEPTH * 2) return { line, col };
            continue;
        }
        lineStart = false;
        if (ch === "[" || ch === "{") {
            if (++depth > MAX_DEPTH) return { line, col };
        } else if (ch === "]" || ch === "}") depth--;
    }
    return { line: 1, col: 1 };
}

function parseChecked(text: string, shown: string, config?: RawConfig): LoadResult {
    const settings = new Settings();
    if (config) settings.configure(config);
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const at = (offset: number | undefined) => lines.linePos(offset ?? 0);
    if (doc.errors.some((e) => OVERFLOW.test(e.message))) return tooDeep(text, shown);
    // yaml only warns about a tag it cannot resolve (`!!js/function`) and keeps the plain value:
    // keyfleet reads plain YAML, so a tag that means something elsewhere is refused, not dropped.
    const tags = doc.warnings.filter((w) => w.code === "TAG_RESOLVE_FAILED");
    if (tags.length > 0) {
        return {
            ok: false,
            errors: tags.map((w) => ({ file: shown, ...at(w.pos[0]), path: "", message: `the tag ${text.slice(w.pos[0], w.pos[1])} is not plain YAML, which is all keyfleet reads; remove it` })),
        };
    }
    if (doc.errors.length > 0) {
        return {
            ok: false,
            errors: doc.errors.map((e) => ({ file: shown, ...at(e.pos[0]), path: "", message: yamlMessage(e.code, e.message, text.slice(e.pos[0], e.pos[0] + 200)) })),
        };
    }
    // A tag yaml does resolve but that is not plain data (!!binary, !!set, !!omap, !!timestamp)
    // would reach the schema as a Buffer, a Set or a Date: refused at the tag, as above.
    const foreign: ConfigError[] = [];
    visit(doc, (_k, node) => {
        const tag = (node as { tag?: string } | null)?.tag;
        if (tag && !PLAIN_TAGS.has(tag)) foreign.push({ file: shown, ...at((node as Node).range?.[0]), path: "", message: `the tag ${tag.replace("tag:yaml.org,2002:", "!!")} is not plain YAML, which is all keyfleet reads; remove it` });
    });
    if (foreign.length > 0) return { ok: false, errors: foreign };
    // `---` alone, `~` or `null` is a document whose value is nothing: the same as an empty file.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
        // A blank or truncated file must not read as "no keys": the next up would delete them all.
        return {
            ok: false,
            errors: [{ file: shown, ...at(0), path: "", message: "the file holds no YAML document (it is empty or only comments); an environment with no keys is written `{}`" }],
        };
    }
    let data: unknown;
    try {
        data = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
    } catch (err) {
        const unresolved = firstUnresolvedAlias(doc);
        if (unresolved) {
            return { ok: false, errors: [{ file: shown, ...at(unresolved.offset), path: "", message: `the alias *${unresolved.name} refers to no anchor: define &${unresolved.name} before it, or write the value out` }] };
        }
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
    const place = (path: Path) => ({ file: shown, ...at(locate(doc, path).node?.range?.[0]), path: formatPath(path) });
    const where = (path: Path) => {
        const p = place(path);
        return `${p.file}:${p.line}:${p.col} ${p.path}`;
    };
    return { ok: true, env, warnings, at: where, place };
}

/** The first `*name` with no `&name` before it, which yaml reports only as it converts. */
function firstUnresolvedAlias(doc: Document): { name: string; offset: number | undefined } | undefined {
    let found: { name: string; offset: number | undefined } | undefined;
    visit(doc, {
        Alias: (_k, node) => {
            if (found || node.resolve(doc) !== undefined) return;
            found = { name: node.source, offset: node.range?.[0] };
            return visit.BREAK;
        },
    });
    return found;
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
            const guess = closest(key, fieldsAt(Environment, path));
            return { file, ...at((found ? keyNode : node)?.range?.[0]), path: formatPath([...path, key]), message: `unknown field "${key}"${guess ? `; did you mean ${guess}?` : ""}` };
        });
    }
    const { node, found } = locate(doc, path);
    const message = issue.code === "invalid_type" && !found ? `is required (${issue.expected})` : plainMessage(issue, path);
    return [{ file, ...at(node?.range?.[0]), path: formatPath(path), message }];
}

/** What zod's generic type and size messages ("Invalid input: expected string, received number") mean, in words. */
const TYPE_WORDS: Record<string, string> = {
    string: "text",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    array: "a list",
    object: "a mapping of fields",
    null: "empty",
    undefined: "missing",
    Date: "a date",
};

function plainMessage(issue: z.core.$ZodIssue, path: Path): string {
    const typed = /^Invalid input: expected (\w+), received (\w+)$/.exec(issue.message);
    if (typed) {
        if (typed[1] === "int" && typed[2] === "number") return "must be a whole number";
        const expected = path.length === 0 && typed[1] === "object" ? `a mapping of vendor sections (${vendors.map((v) => `${v.section}:`).join(", ")}) or {}` : (TYPE_WORDS[typed[1]!] ?? typed[1]);
        return `must be ${expected}, not ${TYPE_WORDS[typed[2]!] ?? typed[2]}`;
    }
    const small = /^Too small: expected number to be >=?(-?[\d.]+)$/.exec(issue.message);
    if (small) return `must be at least ${small[1]}`;
    const big = /^Too big: expected number to be <=?(-?[\d.]+)$/.exec(issue.message);
    if (big) return `must be at most ${big[1]}`;
    return issue.message;
}

/**
 * The field names the schema takes at `path` (an object, through optional, array, union and pipe
 * wrappers), for "did you mean"; every object a union allows there counts.
 */
function fieldsAt(schema: z.ZodType, path: Path): string[] {
    let current: z.ZodType[] = [schema];
    const unwrap = (s: z.ZodType): z.ZodType[] => {
        const def = (s as unknown as { _zod: { def: Record<string, any> } })._zod.def;
        switch (def.type) {
            case "optional":
            case "nullable":
            case "default":
            case "prefault":
            case "readonly":
            case "catch":
            case "nonoptional":
                return unwrap(def.innerType);
            case "pipe":
                return unwrap(def.in);
            case "lazy":
                return unwrap(def.getter());
            case "union":
                return (def.options as z.ZodType[]).flatMap(unwrap);
            case "intersection":
                return [...unwrap(def.left), ...unwrap(def.right)];
            default:
                return [s];
        }
    };
    for (const step of path) {
        current = current.flatMap(unwrap).flatMap((s): z.ZodType[] => {
            const def = (s as unknown as { _zod: { def: Record<string, any> } })._zod.def;
            if (def.type === "object" && typeof step === "string") return def.shape[step] ? [def.shape[step]] : [];
            if (def.type === "array" && typeof step === "number") return [def.element];
            if (def.type === "record") return [def.valueType];
            return [];
        });
    }
    const fields = new Set<string>();
    for (const s of current.flatMap(unwrap)) {
        const def = (s as unknown as { _zod: { def: Record<string, any> } })._zod.def;
        if (def.type === "object") for (const k of Object.keys(def.shape)) fields.add(k);
    }
    return [...fields];
}

/**
 * The known field a misspelt one most likely means: at most two edits and a third of the longer
 * name, so that a short unknown field (`ip` where only `ips` is known... is one edit of three
 * letters: suggested) is helped but an unrelated one (`zzz`) gets no guess.
 */
function closest(typed: string, known: string[]): string | undefined {
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const k of known) {
        // Two letters swapped (nexsu) is one slip of the fingers, though Levenshtein counts two edits.
        const d = swapped(typed.toLowerCase(), k.toLowerCase()) ? 1 : distance(typed.toLowerCase(), k.toLowerCase());
        if (d < bestDistance) {
            best = k;
            bestDistance = d;
        }
    }
    return best !== undefined && bestDistance <= Math.min(2, Math.floor(Math.max(typed.length, best.length) / 3)) ? best : undefined;
}

/** Whether a and b differ by one swap of neighbouring letters. */
function swapped(a: string, b: string): boolean {
    if (a.length !== b.length || a === b) return false;
    const i = [...a].findIndex((c, n) => c !== b[n]);
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
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
