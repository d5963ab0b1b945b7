// config/schema.json is current and judges the fixture files exactly as zod does.
import fs from "node:fs";
import path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { jsonSchema, SCHEMA_FILE } from "../config/generate-schema.ts";
import { Environment } from "../config/schema.ts";

const fixtures = new URL("./fixtures/config/", import.meta.url).pathname;
const files = [...fs.readdirSync(fixtures).filter((f) => f.endsWith(".yaml")).map((f) => path.join(fixtures, f)), ...["local", "staging", "prod"].map((e) => new URL(`../config/${e}.yaml`, import.meta.url).pathname)];

describe("config/schema.json", () => {
    it("is what `npm run schema` generates from the zod schema", () => {
        expect(fs.readFileSync(SCHEMA_FILE, "utf8")).toBe(jsonSchema());
    });

    it("is referenced by every environment file", () => {
        for (const env of ["local", "staging", "prod"]) {
            const first = fs.readFileSync(new URL(`../config/${env}.yaml`, import.meta.url), "utf8").split("\n")[0];
            expect(first).toBe("# yaml-language-server: $schema=./schema.json");
        }
    });

    // Formats are checked by the patterns zod emits next to them; ajv's own format names are off.
    const validate = new Ajv2020({ strict: true, allErrors: true, validateFormats: false }).compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, "utf8")));

    it.each(files.map((f) => [path.basename(f), f]))("agrees with zod on %s", (name, file) => {
        const data = parse(fs.readFileSync(file, "utf8")) ?? {};
        const zod = Environment.safeParse(data).success;
        expect(validate(data), JSON.stringify(validate.errors)).toBe(zod);
        expect(zod).toBe(!name.startsWith("invalid-"));
    });
});
