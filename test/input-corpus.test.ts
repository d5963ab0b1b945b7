// The bad-input corpus (issue 17): every file in test/fixtures/corpus/ is refused with its first
// error at the line and column test/fixtures/corpus/expect.json gives, or accepted (with the warning
// it gives) where that is right. Refusal happens in the loader, which runs before the program
// declares a resource, so none of these reaches a vendor; `npm run validate` over the whole corpus
// prints each error once, with its position, and no stack trace.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { formatError, loadEnvironment } from "../config/load.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const DIR = path.join(ROOT, "test/fixtures/corpus");
const expected = JSON.parse(fs.readFileSync(path.join(DIR, "expect.json"), "utf8")) as Record<string, string>;
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();

/** "refused 4:13 path: message" | "accepted" | "accepted, warns 6:16 message". */
function verdict(text: string) {
    const m = /^(refused|accepted, warns) (\d+):(\d+) (.*)$/.exec(text);
    if (m) return { refused: m[1] === "refused", line: Number(m[2]), col: Number(m[3]), says: m[4]! };
    expect(text).toBe("accepted");
    return { refused: false };
}

describe("bad-input corpus", () => {
    it("holds at least 60 files, each with a verdict", () => {
        expect(files.length).toBeGreaterThanOrEqual(60);
        expect(Object.keys(expected).sort()).toEqual(files);
    });

    it.each(files)("%s", (file) => {
        const want = verdict(expected[file]!);
        const started = performance.now();
        const got = loadEnvironment(path.join(DIR, file), file);
        // Each is settled at once, however hostile (bombs, deep nesting).
        expect(performance.now() - started).toBeLessThan(2_000);
        if (want.refused) {
            expect(got.ok).toBe(false);
            if (got.ok) return;
            const first = got.errors[0]!;
            expect(`${first.line}:${first.col}`).toBe(`${want.line}:${want.col}`);
            expect(formatError(first)).toContain(want.says);
            for (const e of got.errors) {
                expect(e.line).toBeGreaterThanOrEqual(1);
                expect(e.col).toBeGreaterThanOrEqual(1);
                // The library's own words never reach the operator.
                expect(e.message).not.toMatch(/Invalid input|parseAllDocuments|received Buffer|YAML\.|at .*\.js:\d+/);
            }
        } else {
            expect(got.ok ? [] : got.errors.map(formatError)).toEqual([]);
            if (!got.ok) return;
            if ("line" in want) {
                expect(got.warnings.map((w) => `${w.line}:${w.col}`)).toContain(`${want.line}:${want.col}`);
                expect(got.warnings.map(formatError).join("\n")).toContain(want.says);
            } else expect(got.warnings).toEqual([]);
        }
    });

    it("refuses a 5 MB file before parsing it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-corpus-"));
        try {
            const big = path.join(dir, "big.yaml");
            fs.writeFileSync(big, "nexus: {}\n" + "# padding\n".repeat(520_000));
            const started = performance.now();
            const got = loadEnvironment(big, "big.yaml");
            expect(performance.now() - started).toBeLessThan(200);
            expect(got.ok ? "accepted" : got.errors.map(formatError)).toEqual([expect.stringMatching(/^big\.yaml:1:1 the file is 5\.0 MiB; a keys file is at most 4 MiB/)]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("npm run validate prints every refusal once, with its position, and no stack trace", async () => {
        const shown = files.map((f) => path.join("test/fixtures/corpus", f));
        const run = await promisify(execFile)("bash", [path.join(ROOT, "scripts/keyfleet.sh"), "validate", ...shown], { cwd: ROOT, maxBuffer: 16 << 20 }).then(
            (r) => ({ code: 0, out: r.stdout + r.stderr }),
            (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
        );
        expect(run.code).toBe(1);
        expect(run.out).not.toMatch(/^\s+at /m);
        expect(run.out).not.toMatch(/node:internal|Error: /);
        for (const file of files) {
            const want = verdict(expected[file]!);
            const rel = path.join("test/fixtures/corpus", file);
            if (!want.refused) {
                expect(run.out).toContain(`ok   ${file.replace(/\.yaml$/, "")}: ${rel}`);
                continue;
            }
            const lines = run.out.split("\n").filter((l) => l.startsWith(`error: ${rel}:${want.line}:${want.col} `));
            expect(lines, file).toHaveLength(1);
            expect(lines[0]).toContain(want.says);
        }
    });
});
