// `npm run bench [-- --keys N]`: keyfleet against the sandbox through the real engine, next to the
// engine's floor (the same program with a provider that calls no vendor), step by step: up (create
// N keys), a no-change preview, a refresh, and a destroy while tokens expire every 2 s.
// Prints figures; asserts nothing.
import fs from "node:fs";
import { parseCli } from "../scripts/cli.ts";
import { CC, startSandbox, type TestSandbox } from "../test/helpers/sandbox.ts";
import { createTestStack, type TestStack } from "../test/helpers/stack.ts";

const { values } = parseCli("usage: npm run bench [-- --keys N]\n  keyfleet against the sandbox through the real engine, next to the engine's floor; prints figures.", {
    options: { keys: { type: "string", default: "200" } },
});
const N = Number(values.keys);
if (!Number.isInteger(N) || N < 5) throw new Error("--keys takes a whole number of at least 5");

function keysYaml(n: number): string {
    const cluster = Math.floor(n / 5);
    const designer = Math.floor(n / 5);
    const tenant = n - cluster - designer;
    const list = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `    - name: ${prefix}-${String(i).padStart(4, "0")}\n`).join("");
    return `nexus:\n  contactCenter: ${CC}\n  tenantKeys:\n${list(tenant, "tenant")}  clusterKeys:\n${list(cluster, "cluster")}  designerKeys:\n${list(designer, "designer")}`;
}

/** Peak resident memory of the dynamic-provider process while `work` runs, from /proc (VmHWM). */
async function withProviderPeak<T>(work: () => Promise<T>): Promise<{ result: T; peakKb: number }> {
    let peakKb = 0;
    const poll = () => {
        for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
            try {
                const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
                if (!cmd.includes("cmd/dynamic-provider")) continue;
                const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
                if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
            } catch {
                // the process ended between listing and reading
            }
        }
    };
    const timer = setInterval(poll, 50);
    try {
        const result = await work();
        return { result, peakKb };
    } finally {
        clearInterval(timer);
    }
}

interface StepFigures {
    seconds: number;
    calls: number;
    tokens: number;
    peakMb: number;
}

async function run(t: TestSandbox, s: TestStack) {
    const step = async (work: () => Promise<unknown>): Promise<StepFigures> => {
        t.sandbox.stats.reset();
        const started = performance.now();
        const { peakKb } = await withProviderPeak(work);
        const seconds = (performance.now() - started) / 1000;
        return { seconds, calls: t.sandbox.stats.total - t.sandbox.stats.tokensIssued, tokens: t.sandbox.stats.tokensIssued, peakMb: peakKb / 1024 };
    };
    const figures: Record<string, StepFigures> = {};
    figures.up = await step(() => s.stack.up());
    const state = await s.exportState();
    const keyResources = JSON.parse(state).checkpoint.latest.resources.filter((r: { type: string }) => r.type.startsWith("pulumi-nodejs:dynamic/"));
    const bytesPerKey = keyResources.reduce((sum: number, r: unknown) => sum + JSON.stringify(r).length, 0) / keyResources.length;
    const providerBytes = keyResources[0].inputs.__provider.length;
    figures.preview = await step(() => s.stack.preview());
    figures.refresh = await step(() => s.stack.refresh());
    // Tokens across expiries: the destroy (the longest run of vendor calls) while tokens live only
    // TOKEN_TTL seconds (the client renews at half-life), so every credential's token expires
    // several times while calls are in flight.
    t.sandbox.setTokenTtl(TOKEN_TTL);
    t.sandbox.expireTokens();
    figures.destroy = await step(() => s.stack.destroy());
    t.sandbox.setTokenTtl(43199);
    return { figures, bytesPerKey, providerBytes, stateBytes: state.length, keys: keyResources.length };
}

const TOKEN_TTL = 2;
const t = await startSandbox();
const yaml = keysYaml(N);
console.log(`keyfleet bench: ${N} keys against the Genesys sandbox (${t.url}), real engine, Node ${process.versions.node}`);
const kf = await createTestStack(t, yaml);
const floorStack = await createTestStack(t, yaml, { main: "bench/floor.ts" });
try {
    const ours = await run(t, kf);
    const floor = await run(t, floorStack);
    const fmt = (n: number, d = 1) => n.toFixed(d);
    const rows = [["step", "keyfleet s", "floor s", "ratio", "vendor calls", "token requests", "provider peak MB (keyfleet / floor)"]];
    for (const name of ["up", "preview", "refresh", "destroy"]) {
        const a = ours.figures[name];
        const b = floor.figures[name];
        rows.push([name, fmt(a.seconds), fmt(b.seconds), `${fmt(a.seconds / b.seconds, 2)}x`, String(a.calls), String(a.tokens), `${fmt(a.peakMb, 0)} / ${fmt(b.peakMb, 0)}`]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
    console.log(`state: ${fmt(ours.bytesPerKey / 1024, 2)} KB per key resource (floor ${fmt(floor.bytesPerKey / 1024, 2)} KB), of which the serialized provider ${ours.providerBytes} bytes (x2: inputs and outputs); whole checkpoint ${fmt(ours.stateBytes / 1024, 0)} KB`);
    const f = ours.figures;
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    console.log("targets:");
    console.log(`  no-change preview makes 0 vendor calls: ${f.preview.calls} (${verdict(f.preview.calls === 0)})`);
    console.log(`  refresh makes at most one call per key: ${f.refresh.calls} for ${ours.keys} keys (${verdict(f.refresh.calls <= ours.keys)})`);
    console.log(`  one token per credential (2 credentials: tenant user, ops admin): up ${f.up.tokens}, refresh ${f.refresh.tokens} (${verdict([f.up, f.refresh].every((x) => x.tokens <= 2))})`);
    // Each credential may log in once per half-life of its token (plus the first login), never once per call.
    const lifetimes = Math.ceil(f.destroy.seconds / (TOKEN_TTL / 2)) + 1;
    console.log(
        `  one login per credential per token lifetime, across expiries (destroy with ${TOKEN_TTL} s tokens): ${f.destroy.tokens} token requests for ${f.destroy.calls} calls in ${fmt(f.destroy.seconds)} s, ` +
            `at most ${2 * lifetimes} allowed (2 credentials x ${lifetimes} half-lives), and more than 2 (${verdict(f.destroy.tokens <= 2 * lifetimes && f.destroy.tokens > 2)})`,
    );
    console.log(`  up within 1.2x of the floor: ${fmt(f.up.seconds / floor.figures.up.seconds, 2)}x (${verdict(f.up.seconds / floor.figures.up.seconds <= 1.2)})`);
} finally {
    await kf.cleanup();
    await floorStack.cleanup();
    await t.close();
}
