// SupportSystem without a database: address validation (placed at file:line:col, before any call),
// the key value's format, and keyfleet's marker in the help desk's notes.
import { describe, expect, it } from "vitest";
import { formatError, parseEnvironment } from "../config/load.ts";
import { addressProblem, canonicalAddress, resourceName } from "../providers/supportsystem/descriptor.ts";
import { composeNotes, marker, newApiKey, parseNotes } from "../providers/supportsystem/lifecycle.ts";

function errorsOf(text: string): string[] {
    const result = parseEnvironment(text, "config/test.yaml");
    return result.ok ? [] : result.errors.map(formatError);
}
const ONE = "the help desk binds each key to one address";

describe("SupportSystem addresses", () => {
    it("accepts one IPv4 or IPv6 address and writes IPv6 as the help desk sees it", () => {
        for (const ok of ["203.0.113.10", "127.0.0.2", "2001:db8::5", "::1", "2001:0DB8:0000:0000:0000:0000:0000:0005"]) expect(addressProblem(ok), ok).toBeUndefined();
        expect(canonicalAddress("2001:0DB8:0000:0000:0000:0000:0000:0005")).toBe("2001:db8::5");
        expect(canonicalAddress("203.0.113.10")).toBe("203.0.113.10");
    });

    it("refuses ranges, host names, wildcards, zones, mapped and invalid addresses, saying the help desk binds a key to one address", () => {
        const cases: [string, RegExp][] = [
            ["203.0.113.0/24", /is a CIDR range/],
            ["2001:db8::/64", /is a CIDR range/],
            ["support.example.com", /is a host name/],
            ["localhost", /is a host name/],
            ["10.0.0.*", /is a wildcard/],
            ["fe80::1%eth0", /zone index/],
            ["256.1.1.1", /is not a valid IPv4 or IPv6 address/],
            ["010.0.0.1", /is not a valid IPv4 or IPv6 address/],
            ["1.2.3", /is not a valid IPv4 or IPv6 address/],
            ["", /is not a valid/],
            ["0.0.0.0", /is the unspecified address, which is never a request's source address/],
            ["::", /is the unspecified address/],
            ["0:0:0:0:0:0:0:0", /is the unspecified address/],
            ["::0", /is the unspecified address/],
        ];
        for (const [value, why] of cases) {
            const problem = addressProblem(value);
            expect(problem, value).toMatch(why);
            expect(problem).toContain(ONE);
        }
        expect(addressProblem("::ffff:192.0.2.7")).toMatch(/IPv4-mapped .* as 192\.0\.2\.7/);
    });

    it("places every bad address at its file:line:col with its path, before any vendor call", () => {
        const errors = errorsOf(
            [
                "supportsystem:",
                "  apiKeys:",
                "    - name: web form",
                "      ip: 203.0.113.0/24",
                "    - name: cron",
                "      ips: [203.0.113.11, support.example.com]",
                "",
            ].join("\n"),
        );
        expect(errors).toHaveLength(2);
        expect(errors[0]).toMatch(/^config\/test\.yaml:4:11 supportsystem\.apiKeys\[0\]\.ip: "203\.0\.113\.0\/24" is a CIDR range; the help desk binds each key to one address/);
        expect(errors[1]).toMatch(/^config\/test\.yaml:6:27 supportsystem\.apiKeys\[1\]\.ips\[1\]: "support\.example\.com" is a host name;/);
    });

    it("refuses the unspecified address 0.0.0.0 or :: (a row no request can match) at its file:line:col, before any vendor call (issue 17, defect 12)", () => {
        const errors = errorsOf(["supportsystem:", "  apiKeys:", "    - name: any v4", "      ip: 0.0.0.0", "    - name: any v6", '      ips: [203.0.113.9, "::"]', ""].join("\n"));
        expect(errors).toHaveLength(2);
        expect(errors[0]).toMatch(/^config\/test\.yaml:4:11 supportsystem\.apiKeys\[0\]\.ip: "0\.0\.0\.0" is the unspecified address, which is never a request's source address, so no request could use the key; the help desk binds each key to one address/);
        expect(errors[1]).toMatch(/^config\/test\.yaml:6:26 supportsystem\.apiKeys\[1\]\.ips\[1\]: "::" is the unspecified address/);
    });

    it("refuses duplicates of the same name and address, also written differently, and ip with ips", () => {
        const errors = errorsOf(
            [
                "supportsystem:",
                "  apiKeys:",
                "    - name: web form",
                "      ip: 2001:db8::5",
                "    - name: web form",
                "      ips: [203.0.113.1, 2001:DB8:0::5]",
                "    - name: cron",
                "      ips: [203.0.113.2, 203.0.113.2]",
                "    - name: both",
                "      ip: 203.0.113.3",
                "      ips: [203.0.113.4]",
                "    - name: none",
                "    - name: cron2",
                "      ip: 203.0.113.5",
                "    - name: cron2",
                "      ip: 203.0.113.6",
                "",
            ].join("\n"),
        );
        expect(errors).toEqual([
            'config/test.yaml:6:26 supportsystem.apiKeys[1].ips[1]: duplicate key "web form" for 2001:db8::5; first at line 4',
            'config/test.yaml:8:26 supportsystem.apiKeys[2].ips[1]: duplicate key "cron" for 203.0.113.2; first at line 8',
            "config/test.yaml:11:12 supportsystem.apiKeys[3].ips: give ip (one address) or ips (one key per address), not both",
            `config/test.yaml:12:7 supportsystem.apiKeys[4]: needs ip (one address) or ips (one key per address): ${ONE}`,
            'config/test.yaml:15:13 supportsystem.apiKeys[6].name: duplicate key name "cron2": an entry with ip: is known by its name alone; list both addresses under one entry\'s ips:; first at line 13',
        ]);
    });

    it("refuses one row id adopted by two entries, however it is written", () => {
        const errors = errorsOf(
            [
                "supportsystem:",
                "  apiKeys:",
                "    - name: web form",
                "      ip: 203.0.113.10",
                "      adopt: 17",
                "    - name: cron",
                "      ip: 203.0.113.11",
                '      adopt: "17"',
                "    - name: other",
                "      ip: 203.0.113.12",
                "      adopt: 18",
                "",
            ].join("\n"),
        );
        expect(errors).toEqual([
            "config/test.yaml:8:14 supportsystem.apiKeys[1].adopt: row 17 is adopted by another entry already: a row becomes one key; remove one of the adopt: 17; first at line 5",
        ]);
    });

    it("accepts the issue's example, and names one resource per address", () => {
        const result = parseEnvironment(
            [
                "supportsystem:",
                "  apiKeys:",
                "    - name: web form",
                "      ip: 203.0.113.10",
                "      active: true",
                "      canCreateTickets: true",
                "      canExecCron: false",
                "      note: Contact form on the public site",
                "      rotation: { every: 90d }",
                "      adopt: true",
                "    - name: relays",
                "      ips: [203.0.113.11, 2001:db8::5]",
                "      adopt: true",
                "    - name: legacy",
                "      ip: 203.0.113.12",
                "      adopt: 17",
                "",
            ].join("\n"),
            "config/test.yaml",
        );
        expect(result.ok ? [] : result.errors.map(formatError)).toEqual([]);
        expect(resourceName({ name: "web form", ip: "203.0.113.10" }, "203.0.113.10")).toBe("supportsystem/web form");
        expect(resourceName({ name: "relays" }, "2001:DB8::5")).toBe("supportsystem/relays/2001:db8::5");
    });

    it("refuses a key value in adopt, and a row id with several addresses", () => {
        expect(errorsOf("supportsystem:\n  apiKeys:\n    - name: a\n      ip: 10.0.0.1\n      adopt: BA00B76BAA30F62E1940B46CC1C3C73C\n")).toEqual([
            "config/test.yaml:5:14 supportsystem.apiKeys[0].adopt: adopt takes true (the row whose notes carry this key's marker) or a row id (the `id` column); never write a key value here",
        ]);
        expect(errorsOf("supportsystem:\n  apiKeys:\n    - name: a\n      ips: [10.0.0.1, 10.0.0.2]\n      adopt: 4\n")[0]).toMatch(/apiKeys\[0\]\.adopt: a row id takes over one row/);
    });
});

describe("SupportSystem key values", () => {
    it("are 32 upper-case hexadecimal characters, as the help desk makes them, and never repeat", () => {
        const seen = new Set<string>();
        for (let i = 0; i < 1000; i++) {
            const key = newApiKey();
            expect(key).toMatch(/^[0-9A-F]{32}$/);
            seen.add(key);
        }
        expect(seen.size).toBe(1000);
        // Both halves of the alphabet appear: the value is not, say, decimal digits only.
        const all = [...seen].join("");
        for (const ch of "0123456789ABCDEF") expect(all).toContain(ch);
    });
});

describe("keyfleet's marker in the notes", () => {
    it("keeps the name readable and finds it again beside the user's note", () => {
        expect(composeNotes("web form", "Contact form on the public site")).toBe("Contact form on the public site\n[keyfleet:web form]");
        expect(parseNotes("Contact form on the public site\n[keyfleet:web form]")).toEqual({ name: "web form", note: "Contact form on the public site" });
        expect(parseNotes("[keyfleet:web form]")).toEqual({ name: "web form", note: null });
    });

    it("round-trips awkward names: brackets, markup, quotes, percent, line breaks, odd spaces, non-ASCII", () => {
        for (const name of ["a[b]", "x] [keyfleet:y", "<b>&amp;</b>", `it's "q" \\`, "100%", "two\nlines", " lead", "trail ", "dou  ble", "tab\tbed", "Zürich → 東京"]) {
            const m = marker(name);
            expect(m.slice(1, -1)).not.toMatch(/[[\]<>&"'\\\r\n]/);
            expect(parseNotes(composeNotes(name, "note")), name).toEqual({ name, note: "note" });
        }
    });

    it("survives an admin panel that saves CRLF or HTML, and takes the last marker", () => {
        expect(parseNotes("Contact form\r\n[keyfleet:web form]\r\n")).toEqual({ name: "web form", note: "Contact form" });
        expect(parseNotes("<p>Contact form</p><p>[keyfleet:web form]</p>").name).toBe("web form");
        expect(parseNotes("[keyfleet:old]\nmoved\n[keyfleet:new]")).toEqual({ name: "new", note: "[keyfleet:old]\nmoved" });
    });

    it("reads a row without a marker, or with a broken one, as the user's note alone", () => {
        expect(parseNotes(null)).toEqual({ note: null });
        expect(parseNotes("Website form")).toEqual({ note: "Website form" });
        expect(parseNotes("[keyfleet:%E0%A4%A]")).toEqual({ note: "[keyfleet:%E0%A4%A]" });
        expect(parseNotes("[keyfleet:   ]").name).toBeUndefined();
    });
});
