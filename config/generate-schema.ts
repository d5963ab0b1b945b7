// Writes config/schema.json from the zod schema with zod's own JSON Schema export. Each
// config/<environment>.yaml points at it (`# yaml-language-server: $schema=./schema.json`), so
// editors complete and check the files. A test fails when the committed file is out of date.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { Environment } from "./schema.ts";

export const SCHEMA_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), "schema.json");

export function jsonSchema(): string {
    const schema = z.toJSONSchema(Environment, { target: "draft-2020-12", io: "input" });
    return `${JSON.stringify({ ...schema, title: "keyfleet environment" }, null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    // --help (and any mistake) answers before anything is written.
    const { parseCli } = await import("../scripts/cli.ts");
    parseCli("usage: npm run schema\n  Writes config/schema.json (the keys files' JSON Schema, for editors) from config/schema.ts.", { options: {} });
    fs.writeFileSync(SCHEMA_FILE, jsonSchema());
    console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
