// `deliver:` in config/<stack>.yaml: a core field every vendor's key entries accept (added by
// config/schema.ts, not by the vendors), checked with positions like any other field, and linked
// to the key resource the entry becomes through DeclareContext.core.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { formatError, parseEnvironment } from "../config/load.ts";
import { Environment } from "../config/schema.ts";
import { mergeRotation } from "../providers/shared/rotation.ts";
import { vendors } from "../providers/vendors.ts";

const CC = "578ec98e-f07c-46ad-9675-f36c22f3ba9f";

describe("deliver: in the YAML", () => {
    it("every key entry of every vendor accepts it, and nothing else does", () => {
        const schema = z.toJSONSchema(Environment, { io: "input" }) as { properties: Record<string, unknown> };
        const entries: string[] = [];
        const walk = (node: unknown, at: string) => {
            if (!node || typeof node !== "object") return;
            const props = (node as { properties?: Record<string, unknown> }).properties;
            if (props?.rotation) {
                expect(props.deliver, at).toBeDefined();
                entries.push(at);
            } else if (props) expect(props.deliver, at).toBeUndefined();
            for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`);
        };
        for (const v of vendors) walk(schema.properties[v.section], v.section);
        // At least one key list per vendor.
        for (const v of vendors) expect(entries.some((e) => e.startsWith(`${v.section}/`)), v.section).toBe(true);
    });

    it("each parsed entry carries its own consumers and its rotation unchanged (test/delivery-link.test.ts checks what the core makes of them)", () => {
        const result = parseEnvironment(
            `defaults: { rotation: { every: 90d } }
nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
      deliver:
        - file: .keyfleet/delivered/web-chat.key
        - { name: k8s, run: kubectl apply -f -, stdin: true }
    - name: plain
supportsystem:
  apiKeys:
    - name: cron
      ip: 127.0.0.1
      rotation: { every: 30d }
      deliver: [{ name: cron host, run: "cat > /dev/null", remove: "true" }]
`,
            "keys.yaml",
        );
        expect(result.ok, result.ok ? "" : result.errors.map(formatError).join("\n")).toBe(true);
        if (!result.ok) return;
        type Entry = { rotation?: object; deliver?: { name?: string; file?: string }[] };
        const nexus = result.env.nexus as { tenantKeys: Entry[] };
        const ss = result.env.supportsystem as { apiKeys: Entry[] };
        // Each entry carries its consumers itself; DeclareContext.core(resourceName, entry) takes them from there.
        expect(nexus.tenantKeys[0].deliver?.map((d) => d.name ?? d.file)).toEqual([".keyfleet/delivered/web-chat.key", "k8s"]);
        expect(ss.apiKeys[0].deliver?.map((d) => d.name)).toEqual(["cron host"]);
        expect(nexus.tenantKeys[1].deliver).toBeUndefined();
        expect(mergeRotation({ every: "90d" }, nexus.tenantKeys[0].rotation as never)).toEqual({ every: "90d" });
    });

    it("bad consumers are errors with file:line:col before anything runs", () => {
        const result = parseEnvironment(
            `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
      deliver:
        - { name: a, run: "true", file: x.key }
        - { name: b, run: "true" }
        - { name: b, run: "false" }
        - { name: "bad::name", run: "true" }
        - { name: c, command: "true" }
`,
            "keys.yaml",
        );
        expect(result.ok).toBe(false);
        if (result.ok) return;
        const lines = result.errors.map(formatError);
        expect(lines).toEqual(
            expect.arrayContaining([
                expect.stringMatching(/^keys\.yaml:6:11 nexus\.tenantKeys\[0\]\.deliver\[0\]: needs exactly one of run/),
                expect.stringMatching(/^keys\.yaml:8:\d+ nexus\.tenantKeys\[0\]\.deliver\[2\]\.name: duplicate consumer "b"/),
                expect.stringMatching(/^keys\.yaml:9:\d+ nexus\.tenantKeys\[0\]\.deliver\[3\]\.name: must be 1 to 200/),
                expect.stringMatching(/^keys\.yaml:10:\d+ nexus\.tenantKeys\[0\]\.deliver\[4\]\.command: unknown field "command"/),
            ]),
        );
    });

    it("a file delivery writes inside the project only (issue 17, defect 12)", () => {
        const result = parseEnvironment(
            `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
      deliver:
        - { name: a, file: /etc/passwd }
        - { name: b, file: ../outside/key }
        - { name: c, file: ok/../../up.key }
        - { name: d, file: keys/web.key, dir: /tmp }
        - { name: e, file: keys/web.key }
`,
            "keys.yaml",
        );
        expect(result.ok).toBe(false);
        if (result.ok) return;
        const inside = "must be a path inside the project (relative, without ..); to put the key elsewhere, use run: with a command of your own";
        expect(result.errors.map(formatError)).toEqual([
            `keys.yaml:6:28 nexus.tenantKeys[0].deliver[0].file: ${inside}`,
            `keys.yaml:7:28 nexus.tenantKeys[0].deliver[1].file: ${inside}`,
            `keys.yaml:8:28 nexus.tenantKeys[0].deliver[2].file: ${inside}`,
            "keys.yaml:9:47 nexus.tenantKeys[0].deliver[3].dir: a file delivery's path is relative to the project; dir goes with run",
        ]);
    });
});
