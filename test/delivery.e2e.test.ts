// Delivery of a key to its consumers through the real Pulumi engine, with whichever
// `pulumi-resource-command` the toolchain provides (the stand-in toolchain/command-provider.ts
// where no real plugin is installed), against a Nexus sandbox of the test's own: each consumer is
// its own command.local.Command; a failing consumer fails the `up` and keeps the old key alive; the
// next `up` delivers and retires it; and the key value appears nowhere in plain text except in the
// consumers' own destination files (0600, inside the scratch project, deleted after the test).
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CC, startSandbox, useKey, type TestSandbox } from "./helpers/sandbox.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const KEY = "nexus/tenant/web chat";
const CONSUMER = (name: string) => `command:local:Command::${KEY}/deliver/${name}`;

// The flaky consumer refuses while the flag file exists (after a moment, so that the other
// consumers, started with it, finish first: the engine starts no new step after a failure). Every consumer appends a line to its own
// log, which the leak scan reads; none of them is told to print the key, and none may.
const keys = (generation: number) => `nexus:
  contactCenter: ${CC}
  tenantKeys:
    - name: web chat
      rotation: { generation: ${generation} }
      deliver:
        - file: delivered/web-chat.key
        - name: on stdin
          stdin: true
          run: umask 077 && cat > delivered/stdin.key && echo "stdin consumer got a key of $(wc -c < delivered/stdin.key) bytes" >> delivered/consumers.log
        - name: flaky
          run: |
            if [ -e delivered/refuse ]; then sleep 2; echo "flaky consumer: refusing the new key" >&2; exit 3; fi
            umask 077 && printf '%s' "$KEYFLEET_KEY" > delivered/flaky.key
            echo "flaky consumer took $KEYFLEET_KEY_NAME" | tee -a delivered/consumers.log
          remove: rm -f delivered/flaky.key
`;

let t: TestSandbox;
let s: TestStack;
let dir: string;
const states: string[] = [];
const read = (f: string) => fs.readFileSync(path.join(dir, "delivered", f), "utf8");
const mode = (f: string) => fs.statSync(path.join(dir, "delivered", f)).mode & 0o777;

async function up() {
    const result = await s.stack.up(captured(s));
    states.push(await s.exportState());
    return result.summary.resourceChanges ?? {};
}

beforeAll(async () => {
    t = await startSandbox();
    s = await createTestStack(t, keys(0));
    dir = s.dir;
    fs.mkdirSync(path.join(dir, "delivered"), { mode: 0o700 });
});
afterAll(async () => {
    await s?.cleanup(); // removes the scratch project, delivered files included
    await t?.close();
});

describe("delivery of keys to consumers", () => {
    let first: string;
    let second: string;

    it("step 1 create: each consumer is its own resource and receives the key", async () => {
        expect(await up()).toMatchObject({ create: 5 }); // the stack, the key, three consumers
        first = (await s.apiKeys())[KEY];
        expect(await useKey(t.url, first)).toBe(200);
        const urns = await s.resources();
        for (const name of ["delivered/web-chat.key", "on stdin", "flaky"]) expect(urns.some((u) => u.endsWith(CONSUMER(name)))).toBe(true);
        expect(read("web-chat.key")).toBe(first);
        expect(mode("web-chat.key")).toBe(0o600);
        expect(read("stdin.key")).toBe(first);
        expect(read("flaky.key")).toBe(first);
        // Nothing but the file itself in the folder: the temporary file was renamed, not copied.
        expect(fs.readdirSync(path.join(dir, "delivered")).sort()).toEqual(["consumers.log", "flaky.key", "stdin.key", "web-chat.key"]);
    });

    it("step 2 a failing consumer: the up fails on that consumer alone, the old key stays alive", async () => {
        fs.writeFileSync(path.join(dir, "delivered", "refuse"), "");
        s.writeKeys(keys(1));
        const err = await s.stack.up(captured(s)).then(() => undefined, (e: Error) => e);
        states.push(await s.exportState());
        expect(err).toBeDefined();
        const out = s.output.join("");
        expect(out).toMatch(/command:local:Command \(nexus\/tenant\/web chat\/deliver\/flaky\):\s+error:[\s\S]*exit status 3[\s\S]*flaky consumer: refusing the new key/);
        second = read("web-chat.key");
        expect(second).not.toBe(first);
        expect(await useKey(t.url, second)).toBe(200);
        expect(read("stdin.key")).toBe(second);
        // The consumer that failed still holds the old key, and the old key still works.
        expect(read("flaky.key")).toBe(first);
        expect(await useKey(t.url, first)).toBe(200);
        // In state: the new key, and the old one marked for deletion.
        const state = JSON.parse(states.at(-1)!).checkpoint.latest.resources as { type: string; delete?: boolean }[];
        expect(state.filter((r) => r.type.endsWith("nexus:TenantKey")).map((r) => r.delete ?? false).sort()).toEqual([false, true]);
    });

    it("step 3 still failing: a second failed up keeps the old key alive too", async () => {
        const err = await s.stack.up(captured(s)).then(() => undefined, (e: Error) => e);
        states.push(await s.exportState());
        expect(err).toBeDefined();
        expect(read("flaky.key")).toBe(first);
        expect(await useKey(t.url, first)).toBe(200);
    });

    it("step 4 the consumer fixed: the next up delivers the new key to it and retires the old key", async () => {
        fs.rmSync(path.join(dir, "delivered", "refuse"));
        const n = s.output.length;
        expect(await up()).toMatchObject({ update: 1, same: 4 });
        // The engine deletes the replaced key at the end of the first up in which every step succeeded.
        const out = s.output.slice(n).join("");
        expect(out.indexOf("deliver/flaky updated")).toBeGreaterThan(-1);
        expect(out.indexOf("nexus/tenant/web chat deleting original")).toBeGreaterThan(out.indexOf("deliver/flaky updated"));
        expect(read("flaky.key")).toBe(second);
        expect((await s.apiKeys())[KEY]).toBe(second);
        expect(await useKey(t.url, first)).toBe(401);
        expect(await useKey(t.url, second)).toBe(200);
    });

    it("step 5 leak scan: no key value in state, CLI output or the consumers' logs; only in the 0600 files", async () => {
        const values = [first, second, ...t.secrets()];
        const places = { ...Object.fromEntries(states.map((st, i) => [`state ${i}`, st])), cli: s.output.join(""), "consumers.log": read("consumers.log") };
        for (const [where, text] of Object.entries(places)) {
            for (const v of values) expect(text.includes(v), `${where} holds a secret`).toBe(false);
        }
        expect(read("consumers.log")).toMatch(/flaky consumer took nexus\/tenant\/web chat/);
        for (const f of ["web-chat.key", "stdin.key", "flaky.key"]) expect(mode(f)).toBe(0o600);
    });

    it("step 6 removing the consumers runs their remove commands and deletes the file", async () => {
        s.writeKeys(keys(1).replace(/      deliver:[\s\S]*$/, ""));
        expect(await up()).toMatchObject({ delete: 3 });
        expect(fs.existsSync(path.join(dir, "delivered", "web-chat.key"))).toBe(false);
        expect(fs.existsSync(path.join(dir, "delivered", "flaky.key"))).toBe(false);
        expect((await s.resources()).some((u) => u.includes("command:local:Command"))).toBe(false);
    });

    it("step 6b a file delivery never overwrites or deletes a file keyfleet did not write (issue 17, defect 12)", async () => {
        const base = keys(1).replace(/      deliver:[\s\S]*$/, "");
        fs.writeFileSync(path.join(dir, "delivered", "theirs.conf"), "someone else's settings\n");
        s.writeKeys(`${base}      deliver:\n        - file: delivered/theirs.conf\n`);
        const err = await s.stack.up(captured(s)).catch((e: Error) => e);
        expect(String((err as Error).message)).toMatch(/delivered\/theirs\.conf exists and keyfleet did not write it; move it away or choose another file: path/);
        expect(read("theirs.conf")).toBe("someone else's settings\n");
        // Its own file: written, then changed by hand, then the consumer removed: the file stays.
        s.writeKeys(`${base}      deliver:\n        - file: delivered/mine.key\n`);
        await up();
        expect(read("mine.key")).toBe((await s.apiKeys())[KEY]);
        fs.writeFileSync(path.join(dir, "delivered", "mine.key"), "edited by hand");
        s.writeKeys(base);
        await up();
        expect(read("mine.key")).toBe("edited by hand");
    });

    it("step 7 a consumer that hangs is stopped at its timeout: the up fails naming it instead of running forever (issue 17, defect 11)", async () => {
        s.writeKeys(`${keys(1).replace(/      deliver:[\s\S]*$/, "")}      deliver:\n        - name: hangs\n          run: sleep 3600\n          timeout: 2s\n`);
        const started = Date.now();
        const err = await s.stack.up(captured(s)).catch((e: Error) => e);
        expect(Date.now() - started).toBeLessThan(45_000);
        expect(String((err as Error).message)).toMatch(/timed out after 2s: running "sleep 3600"/);
        // Fixed in the YAML, the next up delivers.
        s.writeKeys(`${keys(1).replace(/      deliver:[\s\S]*$/, "")}      deliver:\n        - name: hangs\n          run: "true"\n          timeout: 2s\n`);
        expect(await up()).toMatchObject({ update: 1 });
    });
});
