// Unknown keys in keyfleet's config namespace (issue 17, defect 9): every reader ignores them, so a
// misspelt key would sit in the stack file (a password in plain text, say) while the run went on.
import { describe, expect, it } from "vitest";
import { vendors } from "../providers/vendors.ts";
import { unknownSettings } from "../providers/shared/preflight.ts";

const known = {
    "keyfleet:keysFile": "config/local.yaml",
    "keyfleet:supportsystem": JSON.stringify({ database: "helpdesk", tablePrefix: "ost_" }),
    "keyfleet:supportsystemPassword": "decrypted",
    "aws:region": "eu-west-1",
};
const check = (config: Record<string, string>, secret: string[] = ["keyfleet:supportsystemPassword"]) =>
    unknownSettings(vendors, config, ["keysFile"], (k) => secret.includes(k));

describe("settings keyfleet does not know", () => {
    it("accepts every declared setting and other namespaces", () => {
        expect(check(known)).toEqual([]);
    });

    it("refuses an unknown field of a vendor's settings, and says a plain-text credential must go", () => {
        const problems = check({ ...known, "keyfleet:supportsystem": JSON.stringify({ database: "helpdesk", password: "hunter2-plain" }) });
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(/^keyfleet:supportsystem\.password is not a setting keyfleet knows \(keyfleet:supportsystem takes .*database.*\); its name says credential and it is in plain text in the stack file: remove it with `pulumi config rm --path keyfleet:supportsystem\.password`$/);
        expect(problems.join("\n")).not.toContain("hunter2-plain");
    });

    it("refuses an unknown top-level key, a credential-looking one louder", () => {
        expect(check({ ...known, "keyfleet:nexusSecrett": "x", "keyfleet:keyFile": "y" })).toEqual([
            "keyfleet:keyFile is not a setting keyfleet knows; remove it with `pulumi config rm keyfleet:keyFile`",
            "keyfleet:nexusSecrett is not a setting keyfleet knows; its name says credential and it is in plain text in the stack file: remove it with `pulumi config rm keyfleet:nexusSecrett`",
        ]);
        // Set with --secret, it is only unknown.
        expect(check({ ...known, "keyfleet:nexusSecrett": "x" }, ["keyfleet:nexusSecrett"])[0]).toBe("keyfleet:nexusSecrett is not a setting keyfleet knows; remove it with `pulumi config rm keyfleet:nexusSecrett`");
    });

    it("a vendor's settings must be an object", () => {
        expect(check({ ...known, "keyfleet:nexus": "https://nexus.example.com" })[0]).toMatch(/^keyfleet:nexus must be an object of settings \(.*nexusUrl.*\)/);
    });
});
