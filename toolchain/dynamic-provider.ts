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
    return addService.call(this, service, impl);
};

endWithEngine("dynamic-provider plugin");
fromProgram(entry);
