// The supportcenter: section of an environment's YAML: what the product would change behind
// keyfleet's back is refused at file:line:col before any vendor call.
import { describe, expect, it } from "vitest";
import { formatError, parseEnvironment } from "../config/load.ts";
import { supportcenter } from "../providers/supportcenter/descriptor.ts";

function errorsOf(text: string): string[] {
    const result = parseEnvironment(text, "config/test.yaml");
    return result.ok ? [] : result.errors.map(formatError);
}
const entry = (name: string) => `supportcenter:\n  integrationKeys:\n    - name: ${name}\n      roles: [SDAdmin]\n      owner: admin\n`;

describe("SupportCenter Plus YAML", () => {
    it("refuses a name with a leading or trailing space (the product trims it: a diff at every run)", () => {
        expect(errorsOf(entry('" jira sync"'))).toEqual([
            "config/test.yaml:3:13 supportcenter.integrationKeys[0].name: must not start or end with a space (SupportCenter Plus trims names)",
        ]);
        expect(errorsOf(entry('"jira sync "'))).toHaveLength(1);
        expect(errorsOf(entry('"jira  sync"'))).toEqual([]);
        // A blank name is one error, not two.
        expect(errorsOf(entry('"   "'))).toEqual(["config/test.yaml:3:13 supportcenter.integrationKeys[0].name: must not be blank"]);
    });

    it("refuses what the product refuses, at the field: role combinations, lengths of name, description and reassignment comment", () => {
        const key = (extra: string, roles = "[SDAdmin]", name = "k") => `supportcenter:\n  integrationKeys:\n    - name: ${name}\n      roles: ${roles}\n      owner: admin\n${extra}`;
        expect(errorsOf(key("", "[SDAdmin, SDSiteAdmin]"))).toEqual([
            "config/test.yaml:4:14 supportcenter.integrationKeys[0].roles: SDAdmin and SDSiteAdmin cannot be given together (SupportCenter Plus refuses it): keep one",
        ]);
        expect(errorsOf(key("", "[SDReport, AERemoteControl]"))).toEqual([
            expect.stringMatching(/^config\/test\.yaml:4:14 supportcenter\.integrationKeys\[0\]\.roles: SDReport and AERemoteControl depend on a module role.*add a role/),
        ]);
        expect(errorsOf(key("", "[SDReport]"))).toHaveLength(1);
        expect(errorsOf(key("", "[SDReport, Technician]"))).toEqual([]);
        expect(errorsOf(key("", "[SDAdmin]", "n".repeat(51)))).toEqual([expect.stringMatching(/^config\/test\.yaml:3:13 supportcenter\.integrationKeys\[0\]\.name: .*50/)]);
        expect(errorsOf(key("", "[SDAdmin]", "n".repeat(50)))).toEqual([]);
        expect(errorsOf(key(`      description: ${"d".repeat(251)}\n`))).toEqual([expect.stringMatching(/^config\/test\.yaml:6:20 supportcenter\.integrationKeys\[0\]\.description: .*250/)]);
        expect(errorsOf(key(`      reassignComment: ${"c".repeat(251)}\n`))).toEqual([expect.stringMatching(/^config\/test\.yaml:6:24 supportcenter\.integrationKeys\[0\]\.reassignComment: must be at most 250/)]);
        expect(errorsOf(key(`      reassignComment: ${"c".repeat(250)}\n`))).toEqual([]);
    });

    it("notifications: one block, a recipient while enabled, days within bounds", () => {
        const block = (body: string) => `supportcenter:\n  notifications:\n${body}`;
        expect(errorsOf(block("    enabled: true\n    days: 7\n    technicians: [jane]\n    owner: true\n"))).toEqual([]);
        expect(errorsOf(block("    enabled: true\n    technicians: []\n"))).toEqual([
            "config/test.yaml:4:18 supportcenter.notifications.technicians: notifications that are enabled need a recipient: name an SDAdmin here or set owner: true",
        ]);
        expect(errorsOf(block("    enabled: true\n    days: 0\n    owner: true\n"))).toEqual([expect.stringMatching(/^config\/test\.yaml:4:11 supportcenter\.notifications\.days: must be at least 1/)]);
        expect(errorsOf(block("    enabled: true\n    recipients: [jane]\n"))).toEqual([expect.stringMatching(/^config\/test\.yaml:\d+:\d+ supportcenter\.notifications.*recipients/)]);
    });
});

// Issue 18, finding 4: the provider refuses a new key created expired; the program says so first, at
// the YAML's place, from the last run's record (isNew), before any key is declared.
describe("SupportCenter Plus: a new key whose expiry has passed", () => {
    const section = (extra: string, name = "jira sync") => {
        const r = parseEnvironment(`${entry(name)}${extra}`, "config/test.yaml");
        if (!r.ok) throw new Error(r.errors.map(formatError).join("\n"));
        return { env: r.env.supportcenter as Parameters<NonNullable<typeof supportcenter.newKeyRules>>[0], at: r.at };
    };
    const placed = (extra: string, known: string[] = []) => {
        const { env, at } = section(extra);
        return supportcenter.newKeyRules!(env, (n, prev = []) => ![n, ...prev].some((x) => known.includes(x))).map((p) => `${at(["supportcenter", ...p.path])}: ${p.message}`);
    };

    it("is an error at its expires when the last run did not have the key", () => {
        expect(placed("      expires: 2020-01-01\n")).toEqual([
            'config/test.yaml:6:16 supportcenter.integrationKeys[0].expires: key "jira sync" is new and its expiry 2020-01-01 has passed: an integration key cannot be created expired; move expires forward or set it to never',
        ]);
    });

    it("is no error for a key the last run had (by its name or the one it is renamed from), an adopted one, or a future expiry", () => {
        expect(placed("      expires: 2020-01-01\n", ["supportcenter/jira sync"])).toEqual([]);
        expect(placed("      expires: 2020-01-01\n      renamedFrom: jira\n", ["supportcenter/jira"])).toEqual([]);
        expect(placed("      expires: 2020-01-01\n      adopt: true\n")).toEqual([]);
        expect(placed(`      expires: ${new Date(Date.now() + 86_400_000 * 30).toISOString().slice(0, 10)}\n`)).toEqual([]);
        expect(placed("      expires: never\n")).toEqual([]);
    });
});
