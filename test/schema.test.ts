// config/schema.json is current and judges the fixture files exactly as zod does.
import { spawnSync } from "node:child_process";
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

    it("npm run schema -- --help prints its usage and writes nothing", () => {
        const before = fs.statSync(SCHEMA_FILE).mtimeMs;
        const r = spawnSync(process.execPath, [path.join(path.dirname(SCHEMA_FILE), "generate-schema.ts"), "--help"], { encoding: "utf8" });
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/^usage: npm run schema/);
        expect(fs.statSync(SCHEMA_FILE).mtimeMs).toBe(before);
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

// Issue 18, finding 4: what an editor shows is what the loader says.
describe("config/schema.json for an editor", () => {
    const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, "utf8"));
    const ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: false }).compile(schema);
    const withIp = (ip: unknown) => ({ supportsystem: { apiKeys: [{ name: "desk", ip }] } });

    it("takes one IPv4 or IPv6 address in ip, not a CIDR range, wildcard or host name, as the loader does", () => {
        for (const ip of ["203.0.113.7", "2001:db8::7", "::1", "2001:DB8:0:0:0:0:0:7", "::ffff"]) {
            expect(ajv(withIp(ip)), `${ip}: ${JSON.stringify(ajv.errors)}`).toBe(true);
            expect(Environment.safeParse(withIp(ip)).success, ip).toBe(true);
        }
        for (const ip of ["10.0.0.0/8", "10.0.0.*", "helpdesk.example.com", "2001:db8::/32", "300.1.1.1", "fe80::1%eth0", "::ffff:c000:207", "0:0:0:0:0:FFFF:c000:207"]) {
            expect(ajv(withIp(ip)), ip).toBe(false);
            expect(Environment.safeParse(withIp(ip)).success, ip).toBe(false);
        }
        const ip = schema.properties.supportsystem.properties.apiKeys.items.properties.ip;
        expect(ip.anyOf.map((a: { format: string }) => a.format)).toEqual(["ipv4", "ipv6"]);
    });

    /** Every sub-schema, with the description of the field it belongs to (its own, else the nearest above it). */
    function* nodes(node: unknown, where: string, about: string | undefined): Generator<{ node: Record<string, any>; where: string; about: string | undefined }> {
        if (!node || typeof node !== "object") return;
        if (Array.isArray(node)) {
            for (const [i, n] of node.entries()) yield* nodes(n, `${where}[${i}]`, about);
            return;
        }
        const n = node as Record<string, any>;
        const own = typeof n.description === "string" ? n.description : about;
        yield { node: n, where, about: own };
        for (const [k, v] of Object.entries(n)) {
            if (k === "properties") for (const [name, p] of Object.entries(v as object)) yield* nodes(p, `${where}.${name}`, undefined);
            else if (k === "items" || k === "additionalProperties" || k === "propertyNames") yield* nodes(v, `${where}/${k}`, undefined);
            else if (k === "anyOf" || k === "allOf" || k === "oneOf") yield* nodes(v, `${where}/${k}`, own);
        }
    }

    it("describes every field, and every pattern in words (examples where the pattern is long)", () => {
        const undescribed: string[] = [];
        const unexplained: string[] = [];
        for (const { node, where, about } of nodes(schema, "", schema.description)) {
            if (node.properties) for (const [name, p] of Object.entries(node.properties as Record<string, any>)) if (!p.description) undescribed.push(`${where}.${name}`);
            if (typeof node.pattern === "string") {
                if (!about) unexplained.push(`${where}: no description`);
                else if (node.pattern.length > 60 && !node.examples && !/\d{4}-\d{2}|\w+\.\w+|[0-9a-f]{8}-/.test(about)) unexplained.push(`${where}: a ${node.pattern.length}-character pattern with neither examples nor one in words`);
            }
        }
        expect(undescribed).toEqual([]);
        expect(unexplained).toEqual([]);
        // The expiry: each branch of its ~200-character patterns says what it takes, with examples.
        const expires = schema.properties.nexus.properties.tenantKeys.items.properties.expires;
        expect(expires.anyOf.map((b: { description: string; examples: string[] }) => [b.description, b.examples[0]])).toEqual([
            ["A calendar date, YYYY-MM-DD: the key stops working at the end of that day, UTC.", "2027-06-30"],
            ["A date and time with its offset, YYYY-MM-DDThh:mm:ss and Z or ±hh:mm.", "2027-06-30T12:00:00Z"],
        ]);
        for (const example of expires.examples) expect(ajv({ nexus: { tenantKeys: [{ name: "k", expires: example }] } }), example).toBe(true);
    });
});
