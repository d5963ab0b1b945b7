// config/<environment>.yaml: every error placed at file:line:col and named by path, all at once.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { formatError, loadEnvironment, parseEnvironment } from "../config/load.ts";
import { localStackEnv } from "../sandbox/local-stack-env.ts";

function errorsOf(text: string, file = "config/test.yaml"): string[] {
    const result = parseEnvironment(text, file);
    return result.ok ? [] : result.errors.map(formatError);
}

describe("environment YAML", () => {
    it("accepts the committed environments, with their stacks' settings", () => {
        for (const env of ["local", "staging", "prod"]) {
            // The stack's own settings (local's probeUrl, say), as the program hands them to the rules.
            const stack = (parse(fs.readFileSync(new URL(`../stacks/Pulumi.${env}.yaml`, import.meta.url), "utf8"))?.config ?? {}) as Record<string, unknown>;
            const config = { get: (k: string) => (typeof stack[k] === "object" ? JSON.stringify(stack[k]) : (stack[k] as string | undefined)) };
            // The local stack's endpoints are the environment keyfleet.sh gives it (sandbox/local-stack-env.ts).
            const added = env === "local" ? Object.entries(localStackEnv({})).filter(([k]) => process.env[k] === undefined) : [];
            for (const [k, v] of added) process.env[k] = v;
            const result = loadEnvironment(new URL(`../config/${env}.yaml`, import.meta.url).pathname, `config/${env}.yaml`, config);
            for (const [k] of added) delete process.env[k];
            expect(result.ok ? [] : result.errors.map(formatError), env).toEqual([]);
        }
    });

    // Issue 18, finding 4: a misspelt field gets its likely meaning; an unrelated one no guess.
    it("suggests the field an unknown one is a small edit of, at each level", () => {
        const text =
            "defaults:\n  rotaton: { every: 30d }\nnexus:\n  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f\n  tenantKeys:\n" +
            "    - name: a\n      expire: 2027-01-01\n      rotation: { evry: 3d }\n      colour: blue\nbeyondtrust:\n  sessionkeys: []\n";
        expect(errorsOf(text)).toEqual([
            'config/test.yaml:2:3 defaults.rotaton: unknown field "rotaton"; did you mean rotation?',
            'config/test.yaml:7:7 nexus.tenantKeys[0].expire: unknown field "expire"; did you mean expires?',
            'config/test.yaml:8:19 nexus.tenantKeys[0].rotation.evry: unknown field "evry"; did you mean every?',
            'config/test.yaml:9:7 nexus.tenantKeys[0].colour: unknown field "colour"',
            'config/test.yaml:11:3 beyondtrust.sessionkeys: unknown field "sessionkeys"; did you mean sessionKeys?',
        ]);
    });

    it("says in plain words what a patterned field takes, never the pattern", () => {
        const text =
            "nexus:\n  contactCenter: not-a-uuid\n  tenantKeys:\n    - name: a\n      expires: 2027-13-01\n      rotation: { every: 3x, offset: 5q, overlap: 1y }\n";
        const errors = errorsOf(text);
        expect(errors).toEqual([
            "config/test.yaml:2:18 nexus.contactCenter: must be a contact center id: a UUID like 578ec98e-f07c-46ad-9675-f36c22f3ba9f",
            "config/test.yaml:5:16 nexus.tenantKeys[0].expires: must be a date (2027-01-31) or a date and time (2027-01-31T12:00:00Z)",
            "config/test.yaml:6:26 nexus.tenantKeys[0].rotation.every: must be a duration like 12h, 90d or 2w",
            "config/test.yaml:6:38 nexus.tenantKeys[0].rotation.offset: must be 0 or a duration like 12h, 7d or 2w",
            "config/test.yaml:6:51 nexus.tenantKeys[0].rotation.overlap: must be 0 or a duration like 12h, 7d or 2w",
        ]);
        for (const e of errors) expect(e).not.toMatch(/pattern|\/\^|Invalid/);
    });

    it("places an unknown permission at its line and column", () => {
        const text = new URL("./fixtures/config/invalid-permission.yaml", import.meta.url).pathname;
        const result = loadEnvironment(text, "config/prod.yaml");
        expect(result.ok ? [] : result.errors.map(formatError)).toEqual([
            'config/prod.yaml:8:11 nexus.tenantKeys[2].permissions[0]: unknown permission "nexus:consumer/chat"; a tenant key takes nexus:consumer:chat, nexus:consumer:* or nexus:designer:chat (more with the stack setting keyfleet:nexus.permissions, e.g. the Secure Mail permission)',
        ]);
    });

    describe("Nexus verify", () => {
        const yaml = (own: string, defaults = "") =>
            `${defaults}nexus:\n  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f\n  tenantKeys:\n    - name: mail\n${own}    - name: quiet\n      rotation: { verify: false }\n`;
        const probe = { get: (k: string) => (k === "keyfleet:nexus" ? JSON.stringify({ probeUrl: "https://nexus.example.com/nexus/v3/securemail?address=probe@example.com" }) : undefined) };
        const errors = (text: string, config?: { get(k: string): string | undefined }) => {
            const r = parseEnvironment(text, "config/test.yaml", config);
            return r.ok ? [] : r.errors.map(formatError);
        };
        const hint =
            "needs the stack setting keyfleet:nexus.probeUrl: Nexus has no side-effect-free call every key may make, so name a read-only call this key's permission allows " +
            "(for a Secure Mail key, GET <nexusUrl>/nexus/v3/securemail?address=<a mailbox address>, sent with x-api-key), or set verify: false";

        it("refuses verify: true without nexus.probeUrl at the key's verify, before any call", () => {
            expect(errors(yaml("      rotation: { verify: true }\n"))).toEqual([`config/test.yaml:5:27 nexus.tenantKeys[0].rotation.verify: verify: true ${hint}`]);
        });

        it("refuses verify: true from defaults.rotation at each key that inherits it", () => {
            expect(errors(yaml("", "defaults:\n  rotation: { verify: true }\n"))).toEqual([`config/test.yaml:6:7 nexus.tenantKeys[0]: verify: true (from defaults.rotation) ${hint}`]);
        });

        it("accepts verify: true once the stack names a probeUrl (config or environment)", () => {
            expect(errors(yaml("      rotation: { verify: true }\n"), probe)).toEqual([]);
            process.env.KEYFLEET_NEXUS_PROBE_URL = "https://nexus.example.com/nexus/v3/securemail?address=probe@example.com";
            try {
                expect(errors(yaml("", "defaults:\n  rotation: { verify: true }\n"))).toEqual([]);
            } finally {
                delete process.env.KEYFLEET_NEXUS_PROBE_URL;
            }
        });
    });

    describe("BeyondTrust verify", () => {
        const errors = (text: string) => {
            const r = parseEnvironment(text, "config/test.yaml");
            return r.ok ? [] : r.errors.map(formatError);
        };
        const keys = (own: string) => `beyondtrust:\n  sessionKeys:\n    - name: web\n      queue: general\n${own}    - name: quiet\n      queue: general\n      rotation: { verify: false }\n`;
        const why = "BeyondTrust session keys cannot be verified (the appliance has no call a key can make without starting a support session); set rotation.verify: false for this key";

        it("refuses verify: true at its place, before any call, not in the provider's check mid-run", () => {
            expect(errors(keys("      rotation: { verify: true }\n"))).toEqual([`config/test.yaml:5:27 beyondtrust.sessionKeys[0].rotation.verify: verify: true: ${why}`]);
        });

        it("refuses verify: true from defaults.rotation at each key that inherits it, and not where a key says false", () => {
            expect(errors(`defaults:\n  rotation: { verify: true }\n${keys("")}`)).toEqual([`config/test.yaml:5:7 beyondtrust.sessionKeys[0]: verify: true (from defaults.rotation): ${why}`]);
        });
    });

    describe("Nexus permissions", () => {
        const yaml = (permission: string) =>
            `nexus:\n  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f\n  tenantKeys:\n    - name: mail\n      permissions: [nexus:consumer:chat, ${permission}]\n`;
        const stack = (permissions: string) => ({ get: (k: string) => (k === "keyfleet:nexus" ? JSON.stringify({ permissions }) : undefined) });
        const errors = (text: string, config?: { get(k: string): string | undefined }) => {
            const r = parseEnvironment(text, "config/test.yaml", config);
            return r.ok ? [] : r.errors.map(formatError);
        };

        it("accepts nexus:consumer:* as Genesys's provisioning scripts create it", () => {
            expect(errors(yaml('"nexus:consumer:*"'))).toEqual([]);
        });

        it("refuses an undocumented permission at its line and column, naming the setting that adds one", () => {
            expect(errors(yaml("nexus:consumer:securemail"))).toEqual([
                'config/test.yaml:5:42 nexus.tenantKeys[0].permissions[1]: unknown permission "nexus:consumer:securemail"; a tenant key takes nexus:consumer:chat, nexus:consumer:* or nexus:designer:chat (more with the stack setting keyfleet:nexus.permissions, e.g. the Secure Mail permission)',
            ]);
        });

        it("takes the permissions the stack setting nexus.permissions adds, from the stack config or the environment", () => {
            expect(errors(yaml("nexus:consumer:securemail"), stack("nexus:consumer:securemail, nexus:consumer:other"))).toEqual([]);
            expect(errors(yaml("nexus:consumer:other"), stack("nexus:consumer:securemail"))[0]).toContain(
                'unknown permission "nexus:consumer:other"; a tenant key takes nexus:consumer:chat, nexus:consumer:*, nexus:designer:chat or nexus:consumer:securemail',
            );
            process.env.KEYFLEET_NEXUS_PERMISSIONS = "nexus:consumer:securemail";
            try {
                expect(errors(yaml("nexus:consumer:securemail"))).toEqual([]);
            } finally {
                delete process.env.KEYFLEET_NEXUS_PERMISSIONS;
            }
            // Only tenant keys: a Designer or cluster key keeps its documented permission.
            expect(errors("nexus:\n  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f\n  designerKeys:\n    - name: d\n      permissions: [nexus:consumer:securemail]\n", stack("nexus:consumer:securemail"))[0]).toMatch(
                /^config\/test\.yaml:5:21 nexus\.designerKeys\[0\]\.permissions\[0\]: unknown permission "nexus:consumer:securemail"; a designer key takes nexus:designer:chat$/,
            );
        });
    });

    it("points at an unknown field itself", () => {
        expect(errorsOf("nexus:\n  clusterKeys:\n    - name: a\n      enabeld: false\n")).toEqual([
            'config/test.yaml:4:7 nexus.clusterKeys[0].enabeld: unknown field "enabeld"; did you mean enabled?',
        ]);
    });

    it("reports every error of a file in one run, in file order", () => {
        const errors = errorsOf(
            [
                "defaults:",
                "  rotation: { every: 90 days }",
                "nexus:",
                "  contactCenter: not-a-uuid",
                "  tenantKeys:",
                "    - permissions: [nexus:consumer:chat]",
                "    - name: b",
                '      enabled: "yes"',
                "",
            ].join("\n"),
        );
        expect(errors).toEqual([
            "config/test.yaml:2:22 defaults.rotation.every: must be a duration like 12h, 90d or 2w",
            "config/test.yaml:4:18 nexus.contactCenter: must be a contact center id: a UUID like 578ec98e-f07c-46ad-9675-f36c22f3ba9f",
            "config/test.yaml:6:7 nexus.tenantKeys[0].name: is required (string)",
            "config/test.yaml:8:16 nexus.tenantKeys[1].enabled: must be true or false, not text",
        ]);
    });

    it("refuses a key value in adopt and says why", () => {
        expect(errorsOf("nexus:\n  clusterKeys:\n    - name: a\n      adopt: 9b7682b7-cbce-422f-9bbb-ecda85e61695\n")).toEqual([
            "config/test.yaml:4:14 nexus.clusterKeys[0].adopt: adopt takes true (adopt the existing key with this name) or a key fingerprint nxk_…; never write a key value here",
        ]);
    });

    it("finds duplicate names within a tenant, across tenant and Designer keys", () => {
        const text = [
            "nexus:",
            "  contactCenter: 578ec98e-f07c-46ad-9675-f36c22f3ba9f",
            "  tenantKeys:",
            "    - name: ci",
            "  designerKeys:",
            "    - name: ci",
            "  clusterKeys:",
            "    - name: ci",
            "    - name: ci",
            "",
        ].join("\n");
        expect(errorsOf(text)).toEqual([
            'config/test.yaml:6:13 nexus.designerKeys[0].name: duplicate key name "ci" in tenant 578ec98e-f07c-46ad-9675-f36c22f3ba9f; first at line 4',
            'config/test.yaml:9:13 nexus.clusterKeys[1].name: duplicate key name "ci" in the cluster; first at line 8',
        ]);
    });

    it("reports duplicates and schema errors in the same run", () => {
        const text = ["nexus:", "  clusterKeys:", "    - name: a", "      enabled: maybe", "    - name: a", ""].join("\n");
        expect(errorsOf(text)).toEqual([
            "config/test.yaml:4:16 nexus.clusterKeys[0].enabled: must be true or false, not text",
            'config/test.yaml:5:13 nexus.clusterKeys[1].name: duplicate key name "a" in the cluster; first at line 3',
        ]);
    });

    it("follows YAML aliases to the value that is wrong", () => {
        const text = [
            "defaults:",
            "  rotation: &r { every: 90 days }",
            "nexus:",
            "  clusterKeys:",
            "    - name: &n 42",
            "      rotation: *r",
            "    - name: *n",
            "",
        ].join("\n");
        expect(errorsOf(text)).toEqual([
            "config/test.yaml:2:25 defaults.rotation.every: must be a duration like 12h, 90d or 2w",
            // The path says where it is used, the position where the wrong value is written (the anchor).
            "config/test.yaml:2:25 nexus.clusterKeys[0].rotation.every: must be a duration like 12h, 90d or 2w",
            "config/test.yaml:5:16 nexus.clusterKeys[0].name: must be text, not a number",
            "config/test.yaml:7:13 nexus.clusterKeys[1].name: must be text, not a number",
        ]);
    });

    it("needs a contact center for tenant and Designer keys", () => {
        expect(errorsOf("nexus:\n  designerKeys:\n    - name: d\n")).toEqual(["config/test.yaml:2:3 nexus.contactCenter: is required for designerKeys"]);
    });

    it("reports YAML syntax errors and duplicate mapping keys with positions", () => {
        expect(errorsOf("nexus:\n  clusterKeys:\n    - name: a\n      name: b\n")).toEqual([
            "config/test.yaml:4:7 the field \"name\" is written twice in this mapping; keep one",
        ]);
        expect(errorsOf("nexus: [\n")[0]).toMatch(/^config\/test\.yaml:2:1 /);
    });

    it("refuses an empty file or one of only comments (it would delete every key), and takes {}", () => {
        for (const text of ["", "\n\n", "# all keys were here\n# and now are gone\n", "---\n", "--- # cut here\n...\n", "~\n", "null\n"]) {
            expect(errorsOf(text)).toEqual(["config/test.yaml:1:1 the file holds no YAML document (it is empty or only comments); an environment with no keys is written `{}`"]);
        }
        expect(parseEnvironment("# nothing yet\n{}\n", "config/test.yaml")).toMatchObject({ ok: true });
    });

    it("names a missing file", () => {
        const result = loadEnvironment("/nonexistent/keys.yaml", "config/missing.yaml");
        expect(result.ok ? [] : result.errors.map(formatError)).toEqual(["config/missing.yaml:1:1 cannot read the file: it does not exist (or is a symbolic link to nothing)"]);
    });
});

describe("input edges (defect 13)", () => {
    it("5,000 levels of nesting is a plain error at the level past the limit, not a regex or stack message (issue 17, defect 14)", () => {
        const flow = errorsOf(`nexus: ${"[".repeat(5000)}${"]".repeat(5000)}\n`);
        expect(flow).toEqual(["config/test.yaml:1:72 the file nests deeper than keyfleet reads (no environment needs more than 64 levels); write it flatter"]);
        const block = errorsOf(`a:\n${Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i + 1)}b:`).join("\n")} 1\n`);
        expect(block).toEqual(["config/test.yaml:130:129 the file nests deeper than keyfleet reads (no environment needs more than 64 levels); write it flatter"]);
    });

    it("refuses a tag that is not plain YAML instead of dropping it (issue 17, defect 12)", () => {
        expect(errorsOf("nexus: !!js/function 'function () {}'\n")).toEqual(["config/test.yaml:1:8 the tag !!js/function is not plain YAML, which is all keyfleet reads; remove it"]);
    });

    it("refuses a key name with a newline or NUL (issue 17, defect 12)", () => {
        const errors = errorsOf('nexus:\n  clusterKeys:\n    - name: "ops\\nconsole"\n    - name: "a\\0b"\n');
        expect(errors).toEqual([
            "config/test.yaml:3:13 nexus.clusterKeys[0].name: must not contain control characters (a newline, a tab, NUL)",
            "config/test.yaml:4:13 nexus.clusterKeys[1].name: must not contain control characters (a newline, a tab, NUL)",
        ]);
    });

    it("refuses a file that is not UTF-8 at the bad byte, not a U+FFFD sent as a name (issue 17, defect 12)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keyfleet-utf8-"));
        const file = path.join(dir, "latin1.yaml");
        fs.writeFileSync(file, Buffer.concat([Buffer.from("nexus:\n  clusterKeys:\n    - name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]));
        const result = loadEnvironment(file, "config/latin1.yaml");
        expect(result.ok ? [] : result.errors.map(formatError)).toEqual(["config/latin1.yaml:3:16 the file is not UTF-8 text (a byte here is not valid UTF-8); save it as UTF-8"]);
        // After real U+FFFD characters (three bytes each) the position is still exact.
        fs.writeFileSync(file, Buffer.concat([Buffer.from("nexus:\n  # \uFFFD\uFFFD here\n  clusterKeys:\n    - name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]));
        const after = loadEnvironment(file, "config/latin1.yaml");
        expect(after.ok ? [] : after.errors.map(formatError)).toEqual(["config/latin1.yaml:4:16 the file is not UTF-8 text (a byte here is not valid UTF-8); save it as UTF-8"]);
        // A real U+FFFD in UTF-8 is just text.
        fs.writeFileSync(file, "nexus:\n  clusterKeys:\n    - name: \uFFFD ok\n");
        expect(loadEnvironment(file, "config/x.yaml")).toMatchObject({ ok: true });
        fs.rmSync(dir, { recursive: true });
    });

    it("an alias with no anchor is named as such, at the alias (issue 17, defect 14)", () => {
        expect(errorsOf("nexus:\n  clusterKeys:\n    - name: *nope\n")).toEqual(["config/test.yaml:3:13 the alias *nope refers to no anchor: define &nope before it, or write the value out"]);
    });

    it("more than 100 alias uses is an error with a position, not a stack trace", () => {
        const refs = Array.from({ length: 101 }, (_, i) => `    - name: k${i}\n      rotation: *r`).join("\n");
        const errors = errorsOf(`defaults:\n  rotation: &r {every: 90d}\nnexus:\n  clusterKeys:\n${refs}\n`);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^config\/test\.yaml:\d+:\d+ too many alias uses \(more than 100\)/);
        expect(Number(errors[0].split(":")[1])).toBeGreaterThan(100);
    });

    it("a blank name is refused in the YAML, not mid-deployment", () => {
        expect(errorsOf('nexus:\n  clusterKeys:\n    - name: "   "\n')).toEqual(["config/test.yaml:3:13 nexus.clusterKeys[0].name: must not be blank"]);
    });

    it("a bare expiry date means the end of that day, UTC", async () => {
        const { expiryInstant } = await import("../providers/shared/fields.ts");
        expect(expiryInstant("2027-06-30")).toBe("2027-06-30T23:59:59.000Z");
        expect(expiryInstant("2027-06-30T12:00:00+02:00")).toBe("2027-06-30T10:00:00.000Z");
    });

    it("warns about an expiry already past, with its position", () => {
        const result = parseEnvironment("nexus:\n  clusterKeys:\n    - name: old\n      expires: 2020-01-01\n", "config/test.yaml");
        expect(result.ok).toBe(true);
        expect(result.ok && result.warnings.map(formatError)).toEqual([
            'config/test.yaml:4:16 nexus.clusterKeys[0].expires: key "old" expired on 2020-01-01; an existing key stays expired, a new one is refused',
        ]);
    });
});
