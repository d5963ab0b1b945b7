// The supportcenter: section of an environment's YAML: what the product would change behind
// keyfleet's back is refused at file:line:col before any vendor call.
import { describe, expect, it } from "vitest";
import { formatError, parseEnvironment } from "../config/load.ts";

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
});
