// keyfleet's dynamic-provider plugin (`pulumi-resource-pulumi-nodejs`): @pulumi/pulumi's own
// dynamic-provider server, plus the detailed diff that server leaves out.
//
// Why: @pulumi/pulumi's server (cmd/dynamic-provider/index.js, `diff`) copies only `changes`,
// `replaces` and `deleteBeforeReplace` from a provider's DiffResult into the DiffResponse; it never
// sets `detailedDiff`/`hasDetailedDiff`. The engine then shows the difference of old and new
// *inputs*, so a drift (an output the vendor changed: a key disabled in an admin panel) is invisible
// and a bookkeeping input (`predecessor`) is what the plan names. keyfleet's providers say which
// fields differ (providers/shared/diff.ts, `KeyDiff.detailedDiff`); this server hands that to the
// engine, which then shows old outputs against new inputs for exactly those fields.
//
// How, without copying Pulumi's server: each Diff call runs in an AsyncLocalStorage context that
// the provider's diff writes its field list into (providers/shared/diff.ts `reportDetailedDiff`),
// and the response is completed before it goes back. A provider that reports nothing gets
// Pulumi's response unchanged.
//
// Protocol: as Pulumi's own launcher, the engine's address is the argument; @pulumi/pulumi is found
// by Node's resolution from the folder the engine starts the plugin in (the program's), because
// that is where the serialized providers in state resolve their modules too.
import path from "node:path";
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire } from "node:module";
import { endWithEngine } from "./engine-watch.ts";
import { DETAILED_DIFF_SINK, type DetailedDiffStore, type FieldChange } from "../providers/shared/diff.ts";
import { redact, rememberSecret } from "../providers/shared/redact.ts";

const fromProgram = createRequire(path.join(process.cwd(), "index.js"));
const entry = fromProgram.resolve("@pulumi/pulumi/cmd/dynamic-provider");
const pulumiRoot = path.resolve(path.dirname(entry), "../..");
const fromPulumi = createRequire(entry);
// The same module instances the server uses (a second copy of grpc-js would have its own Server).
const grpc = fromPulumi("@grpc/grpc-js") as { Server: { prototype: { addService(service: unknown, impl: Record<string, unknown>): void } } };
const provproto = fromPulumi(path.join(pulumiRoot, "proto/provider_pb"));

const KIND: Record<FieldChange, number> = {
    add: provproto.PropertyDiff.Kind.ADD,
    delete: provproto.PropertyDiff.Kind.DELETE,
    update: provproto.PropertyDiff.Kind.UPDATE,
    "update-replace": provproto.PropertyDiff.Kind.UPDATE_REPLACE,
};

interface DiffResponse {
    getDetaileddiffMap(): Map<string, unknown> & { set(k: string, v: unknown): void };
    setDiffsList(v: string[]): void;
    setHasdetaileddiff(v: boolean): void;
}
type Callback = (err: unknown, resp?: DiffResponse | null, ...rest: unknown[]) => void;

const sink = new AsyncLocalStorage<DetailedDiffStore>();
(globalThis as Record<symbol, unknown>)[DETAILED_DIFF_SINK] = sink;

function complete(resp: DiffResponse, fields: Record<string, FieldChange>): void {
    const names = Object.keys(fields);
    // Sent even when empty: the engine takes the step (update, replace) from `changes` and
    // `replaces`, and the detailed diff only for what it shows, so an empty one shows no field
    // rather than the engine's own input comparison (which names bookkeeping inputs).
    const map = resp.getDetaileddiffMap();
    for (const name of names) {
        const diff = new provproto.PropertyDiff();
        diff.setKind(KIND[fields[name]!]);
        // Old *outputs* against new inputs: what the vendor has now (drift included) against the YAML.
        diff.setInputdiff(false);
        map.set(name, diff);
    }
    resp.setDiffsList(names);
    resp.setHasdetaileddiff(true);
}

// The provider's stderr: the engine streams it to the operator as it comes, with no URN and no
// masking, and keyfleet's plan prints it (ops/plan.ts). So each line goes out with its call's URN in
// front (PROVIDER_STDERR there) and every secret this process has handled taken out
// (providers/shared/redact.ts). Lines written during a call wait for its end: a value the call
// was about to remember (the key it just made) is then known. What Node itself writes to the file
// descriptor on a crash bypasses this; the provider never puts a secret in an error.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
interface CallContext {
    urn: string;
    held: string[] | null;
}
const calls = new AsyncLocalStorage<CallContext>();
const rawWrite = process.stderr.write.bind(process.stderr) as (chunk: string) => boolean;
function emit(urn: string, text: string): void {
    // After the promise callbacks now queued: a secret just read (a token) is remembered by then.
    setImmediate(() => {
        for (const line of text.split("\n")) if (line.trim()) rawWrite(`keyfleet-provider ${urn}\t${redact(line)}\n`);
    });
}
process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    const call = calls.getStore();
    if (call?.held) call.held.push(text);
    else emit(call?.urn ?? "", text);
    const done = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    done?.();
    return true;
}) as typeof process.stderr.write;

/** Secret values the engine hands over (marked with its signature): remembered for redact. */
function rememberMarked(value: unknown): void {
    if (!value || typeof value !== "object") return;
    if (SECRET_SIG in (value as object)) return rememberSecret((value as { value?: unknown }).value);
    for (const v of Object.values(value)) rememberMarked(v);
}

interface Request {
    getUrn?(): string;
    [getter: string]: unknown;
}
const STRUCTS = ["getProperties", "getOlds", "getNews", "getInputs", "getArgs", "getOldinputs"];

function withCall(method: (call: unknown, callback: Callback) => unknown) {
    return function (this: unknown, call: { request?: Request }, callback: Callback) {
        // A streaming method has no callback: nothing to hold its lines until.
        if (typeof callback !== "function") return method.call(this, call, callback);
        const request = call?.request;
        for (const g of STRUCTS) {
            const struct = typeof request?.[g] === "function" ? (request[g] as () => { toJavaScript?(): unknown } | undefined).call(request) : undefined;
            if (struct?.toJavaScript) rememberMarked(struct.toJavaScript());
        }
        const context: CallContext = { urn: typeof request?.getUrn === "function" ? request.getUrn() : "", held: [] };
        const flush = () => {
            const held = context.held ?? [];
            context.held = null;
            emit(context.urn, held.join(""));
        };
        return calls.run(context, () =>
            method.call(this, call, (err, resp, ...rest) => {
                flush();
                callback(err, resp, ...rest);
            }),
        );
    };
}

const addService = grpc.Server.prototype.addService;
grpc.Server.prototype.addService = function (service, impl) {
    const diff = impl.diff as ((call: unknown, callback: Callback) => unknown) | undefined;
    if (typeof diff === "function") {
        impl.diff = (call: unknown, callback: Callback) => {
            const store: DetailedDiffStore = {};
            return sink.run(store, () =>
                diff.call(impl, call, (err, resp, ...rest) => {
                    if (!err && resp && store.detailedDiff) complete(resp, store.detailedDiff);
                    callback(err, resp, ...rest);
                }),
            );
        };
    }
    // By the service's method list: the implementation may hold its methods on a prototype.
    for (const [name, def] of Object.entries(service as Record<string, { requestStream?: boolean; responseStream?: boolean }>)) {
        const method = impl[name];
        if (typeof method === "function" && !def?.requestStream && !def?.responseStream) impl[name] = withCall((method as (call: unknown, callback: Callback) => unknown).bind(impl));
    }
    return addService.call(this, service, impl);
};

endWithEngine("dynamic-provider plugin");
fromProgram(entry);
