// The stand-in command plugin (toolchain/command-provider.ts): its schema against @pulumi/command
// 1.2.1's own type definitions, and the behaviour keyfleet relies on (secrets, stdin, update, failures).
// That it runs a program through the real engine is shown by test/delivery.e2e.test.ts.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cancelAll, checkInputs, commandProvider, INPUT_PROPERTIES, LOGGING, OUTPUT_PROPERTIES, runCommand, SCHEMA, TYPE, VERSION, withTimeout } from "../toolchain/command-provider.ts";
import { ROOT } from "./helpers/stack.ts";

const PKG = path.join(ROOT, "node_modules", "@pulumi", "command");
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };
const secret = (value: unknown) => ({ ...SECRET, value });

/** The schema type of a TypeScript type as @pulumi/command's generated code writes it. */
function schemaType(ts: string): unknown {
    const t = ts.replace(/\s+/g, " ").replace(/ \| undefined$/, "").trim();
    const inner = /^pulumi\.(?:Input|Output)<(.*)>$/.exec(t);
    if (inner) return schemaType(inner[1]);
    if (t === "string") return { type: "string" };
    if (t === "boolean") return { type: "boolean" };
    if (t === "any[]") return { type: "array", items: { $ref: "pulumi.json#/Any" } };
    if (/^(pulumi\.Input<string>|string)\[\]$/.test(t)) return { type: "array", items: { type: "string" } };
    if (/^\{ \[key: string\]: (pulumi\.Input<string>|string); \}$/.test(t)) return { type: "object", additionalProperties: { type: "string" } };
    if (/^\{ \[key: string\]: pulumi\.asset\.Asset \| pulumi\.asset\.Archive; \}$/.test(t)) return { type: "object", additionalProperties: { $ref: "pulumi.json#/Asset" } };
    if (t === "pulumi.asset.Archive") return { $ref: "pulumi.json#/Archive" };
    if (t === "enums.local.Logging") return { $ref: "#/types/command:local:Logging" };
    throw new Error(`no schema type for ${t}`);
}

/** Properties of a declaration body: `name?: type;` (args) or `readonly name: type;` (outputs), comments skipped. */
function properties(body: string): Record<string, unknown> {
    // A closing sentinel, so that the last property ends like the others.
    const code = `${body.replace(/\/\*\*[\s\S]*?\*\//g, "")}\nconstructor`;
    const out: Record<string, unknown> = {};
    for (const m of code.matchAll(/^\s*(?:readonly )?(\w+)\??: ([\s\S]*?);\n(?=\s*(?:readonly )?\w+\??:|\s*(?:static|constructor|$))/gm)) out[m[1]] = schemaType(m[2]);
    return out;
}

describe("stand-in command plugin: schema", () => {
    const dts = fs.readFileSync(path.join(PKG, "local", "command.d.ts"), "utf8");
    const between = (start: string, end: RegExp) => dts.slice(dts.indexOf(start) + start.length).split(end)[0];

    it("takes exactly the inputs of @pulumi/command 1.2.1's CommandArgs, with the same types", () => {
        expect(JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8")).version).toBe(VERSION);
        const args = properties(between("export interface CommandArgs {", /\n}\n/));
        expect(Object.keys(args).sort()).toEqual(Object.keys(INPUT_PROPERTIES).sort());
        for (const [name, type] of Object.entries(args)) {
            const { default: _default, ...mine } = INPUT_PROPERTIES[name] as Record<string, unknown>;
            expect(mine, name).toEqual(type);
        }
    });

    it("gives exactly the outputs of the Command class, with the same types; stdout and stderr always", () => {
        const cls = between("export declare class Command extends pulumi.CustomResource {", /\n {4}constructor\(/);
        const outs = properties(cls.replace(/ {4}static [\s\S]*?;\n/g, ""));
        expect(Object.keys(outs).sort()).toEqual(Object.keys(OUTPUT_PROPERTIES).sort());
        for (const [name, type] of Object.entries(outs)) {
            const { default: _default, ...mine } = OUTPUT_PROPERTIES[name] as Record<string, unknown>;
            expect(mine, name).toEqual(type);
        }
        // Non-optional outputs in the class are the schema's required ones.
        expect(/readonly stdout: pulumi\.Output<string>;/.test(cls) && /readonly stderr: pulumi\.Output<string>;/.test(cls)).toBe(true);
        expect(SCHEMA.resources[TYPE].required).toEqual(["stderr", "stdout"]);
    });

    it("has the Logging enum of types/enums/local", () => {
        const enums = fs.readFileSync(path.join(PKG, "types", "enums", "local", "index.d.ts"), "utf8");
        const values = [...enums.matchAll(/readonly \w+: "(\w+)";/g)].map((m) => m[1]);
        expect([...LOGGING].sort()).toEqual(values.sort());
        expect(Object.keys(SCHEMA.types)).toEqual(["command:local:Logging"]);
    });

    it("is what the toolchain launches as pulumi-resource-command when no real plugin is installed", () => {
        const launcher = path.join(ROOT, ".keyfleet", "bin", "pulumi-resource-command");
        if ((process.env.KEYFLEET_COMMAND_PLUGIN ?? "").startsWith("real:")) {
            expect(fs.existsSync(launcher)).toBe(false);
        } else {
            expect(fs.readFileSync(launcher, "utf8")).toContain(path.join(ROOT, "toolchain", "command-provider.ts"));
        }
    });
});

describe("stand-in command plugin: behaviour", () => {
    const urn = `urn:pulumi:e2e::keyfleet::${TYPE}::consumer`;
    const KEY = "kf-test-key-9f8e7d6c";

    it("check fills addPreviousOutputInEnv, refuses wrong types and the asset options it does not implement", () => {
        expect(checkInputs({ create: "true" })).toEqual({ inputs: { create: "true", addPreviousOutputInEnv: true }, failures: [] });
        const { failures } = checkInputs({ create: 1, environment: { A: 2 }, logging: "loud", assetPaths: ["*"], colour: "red" });
        expect(failures.map((f) => f.property).sort()).toEqual(["assetPaths", "colour", "create", "environment", "logging"]);
        expect(failures.find((f) => f.property === "assetPaths")!.reason).toMatch(/install the real pulumi-resource-command v1\.2\.1/);
    });

    it("create runs create with the environment and stdin; a secret input makes every output secret", async () => {
        const p = commandProvider();
        const inputs = { create: 'printf "%s|" "$GREETING"; cat; printf %s "$KEY" | wc -c >&2', environment: { GREETING: "hello", KEY: secret(KEY) }, stdin: secret("from stdin\n"), addPreviousOutputInEnv: true };
        const { id, outs } = await p.create(urn, inputs);
        expect(id).toMatch(/^consumer[0-9a-f]{8}$/);
        expect(outs.stdout).toEqual(secret("hello|from stdin"));
        expect(outs.stderr).toEqual(secret(String(KEY.length)));
        expect(outs.environment).toEqual(secret(inputs.environment));
    });

    it("update runs update, or create when there is none, with the last run's output in the environment", async () => {
        const p = commandProvider();
        const olds = { create: "echo one", stdout: "one", stderr: "" };
        expect((await p.update("x", urn, olds, { create: 'echo "create after $PULUMI_COMMAND_STDOUT"' })).outs.stdout).toBe("create after one");
        expect((await p.update("x", urn, olds, { create: "echo c", update: "echo u" })).outs.stdout).toBe("u");
        expect((await p.update("x", urn, olds, { create: 'echo "[$PULUMI_COMMAND_STDOUT]"', addPreviousOutputInEnv: false })).outs.stdout).toBe("[]");
        expect(await p.diff("x", urn, { create: "a", environment: { K: secret("1") } }, { create: "a", environment: { K: secret("1") } })).toEqual({ changes: false, replaces: [] });
        expect(await p.diff("x", urn, { create: "a", environment: { K: secret("1") } }, { create: "a", environment: { K: secret("2") } })).toEqual({ changes: true, replaces: [] });
        expect(await p.diff("x", urn, { create: "a", triggers: [1] }, { create: "a", triggers: [2] })).toEqual({ changes: true, replaces: ["triggers"] });
    });

    it("a failure names the command and its output, keeps the resource (partial state), and never quotes a secret", async () => {
        const logged: string[] = [];
        const err = await runCommand('echo "leaking $KEY" >&2; exit 4', { environment: { KEY: secret(KEY) }, logging: "stderr" }, {}, (l) => logged.push(l)).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(err!.message).toMatch(/^exit status 4: running "echo \\"leaking \$KEY\\" >&2; exit 4":\nleaking \[secret\]/);
        expect(logged).toEqual(["leaking [secret]"]);
        const p = commandProvider();
        const failed = (await p.create(urn, { create: "exit 1", environment: { KEY: secret(KEY) } }).catch((e) => e)) as { id: string; properties: Record<string, unknown> };
        expect(failed.id).toMatch(/^consumer/);
        expect(failed.properties.environment).toEqual(secret({ KEY: secret(KEY) }));
    });

    it("the call's timeout stops the command and what it started, and fails naming it (issue 17, defect 11)", async () => {
        const pidFile = path.join(fs.mkdtempSync(path.join(ROOT, ".keyfleet", "cmd-")), "pid");
        const started = Date.now();
        const err = await withTimeout(1, () => runCommand(`sleep 3600 & echo $! > ${pidFile}; wait`, {}, {}, () => undefined)).catch((e: Error) => e);
        expect(Date.now() - started).toBeLessThan(8_000);
        expect((err as Error).message).toMatch(/^timed out after 1s: running "sleep 3600 &/);
        // The shell's child is gone too, not only the shell.
        const child = Number(fs.readFileSync(pidFile, "utf8"));
        await new Promise((r) => setTimeout(r, 200));
        // Gone, or a zombie waiting for a reaper (a container's init may not reap at once).
        const state = fs.existsSync(`/proc/${child}/stat`) ? fs.readFileSync(`/proc/${child}/stat`, "utf8").split(") ")[1]?.[0] : "gone";
        expect(["gone", "Z", "X"]).toContain(state);
        fs.rmSync(path.dirname(pidFile), { recursive: true });
        // No timeout (0): a quick command is unaffected.
        expect((await withTimeout(0, () => runCommand("echo ok", {}, {}, () => undefined))).stdout).toBe("ok");
    });

    it("cancel stops every running command", async () => {
        const running = runCommand("sleep 3600", {}, {}, () => undefined).catch((e: Error) => e);
        await new Promise((r) => setTimeout(r, 200));
        cancelAll();
        expect(((await running) as Error).message).toMatch(/^cancelled: running "sleep 3600"/);
    });

    it("logging none logs nothing, and delete runs delete with the last stdout", async () => {
        const logged: string[] = [];
        await runCommand("echo quiet; echo loud >&2", { logging: "none" }, {}, (l) => logged.push(l));
        expect(logged).toEqual([]);
        const dir = fs.mkdtempSync(path.join(ROOT, ".keyfleet", "cmd-"));
        try {
            await commandProvider().delete("x", urn, { delete: 'printf %s "$PULUMI_COMMAND_STDOUT" > gone', dir, stdout: "last" });
            expect(fs.readFileSync(path.join(dir, "gone"), "utf8")).toBe("last");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
