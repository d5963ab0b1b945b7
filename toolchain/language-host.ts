// keyfleet's Node.js language host: the plugin (`pulumi-language-nodejs`) that the Pulumi CLI
// starts to run the program of a project with `runtime: nodejs`.
//
// Why keyfleet has its own: Pulumi's host lives in the Go module
// github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, and the Go module proxy that
// these machines reach refuses that module at every version (403 "This module version is not
// available"), so it cannot be built here. Instead of re-implementing it, this host serves the
// LanguageServer that @pulumi/pulumi itself uses for Automation API inline programs, and hands it
// the project's entry point. Node 24 strips the TypeScript types itself, so no compiler runs.
//
// Protocol (as the CLI expects of any language plugin): the engine's address is the last
// argument; the host prints its own gRPC port on stdout and serves until it is killed. RPCs the
// LanguageServer lacks (GetRequiredPackages, Handshake, About, …) answer UNIMPLEMENTED, which the
// CLI treats as an older host and falls back from.
//
// Policy packs (`--policy-pack <dir>`): the CLI runs a pack written in this host's language through
// the host's RunPlugin, as it runs the program through Run (it would fall back to a
// `pulumi-analyzer-policy-nodejs` plugin only where no language host is found, and this host always
// is). Pulumi's own host starts @pulumi/pulumi's cmd/run-policy-pack, which compiles TypeScript with
// the ts-node and TypeScript 3.8 vendored in @pulumi/pulumi; this one starts the pack's entry point
// (PulumiPolicy.yaml's `main`) with Node, which strips the types, just as it runs the program. The
// pack prints its analyzer's port on stdout; RunPlugin streams the child's output and exit code.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import { endWithEngine } from "./engine-watch.ts";

const require = createRequire(import.meta.url);
// The SDK is the program's own, found from the folder the engine starts the host in (the project's),
// as Pulumi's own host runs the program with the project's @pulumi/pulumi: a program that installed
// its SDK (and keyfleet as a package) registers resources through that copy, whose messages only
// that copy's gRPC stubs can serialize. A folder without one (none installed yet) gets keyfleet's.
const sdk = (() => {
    const fromProject = createRequire(path.join(process.cwd(), "index.js"));
    try {
        fromProject.resolve("@pulumi/pulumi/automation/server");
        return fromProject;
    } catch {
        return require;
    }
})();
// Deep imports: the server is marked @internal but is the same code every inline program runs on.
const { LanguageServer } = sdk("@pulumi/pulumi/automation/server");
const langrpc = sdk("@pulumi/pulumi/proto/language_grpc_pb");
const { grpcChannelOptions } = sdk("@pulumi/pulumi/runtime");
const langproto = sdk("@pulumi/pulumi/proto/language_pb");
const { parse: parseYaml } = require("yaml") as typeof import("yaml");

interface RunRequest {
    getPwd(): string;
    getProgram(): string;
    getInfo(): { getProgramDirectory(): string; getEntryPoint(): string } | undefined;
}

// As Pulumi's own host (cmd/run) does: a rejection nobody handles is the program's failure, not the
// host's crash. A component whose outputs fail rejects on purpose (registerOutputs re-raises its
// error "so that it triggers unhandled rejection logic"); uncaught here, it ended this process and
// the engine saw only "error reading from server: EOF".
const uncaught = new Set<unknown>();
process.on("unhandledRejection", (err) => void uncaught.add(err));
process.on("uncaughtException", (err) => void uncaught.add(err));

function failure(err: unknown, entry: string): string {
    if ((err as { __pulumiRunError?: boolean } | null)?.__pulumiRunError) return (err as Error).message;
    return `Running program '${entry}' failed with an unhandled exception:\n${(err as Error)?.stack ?? String(err)}`;
}

interface RunResponse {
    getError(): string;
    setError(v: string): void;
}

class ProjectLanguageServer extends LanguageServer {
    constructor() {
        super(undefined);
    }

    run(call: { request: RunRequest }, callback: unknown) {
        const req = call.request;
        const info = req.getInfo();
        const dir = info?.getProgramDirectory() || req.getPwd();
        const entry = path.resolve(dir, info?.getEntryPoint() || req.getProgram() || ".");
        if (req.getPwd()) process.chdir(req.getPwd());
        // As Pulumi's own host does (its --root-directory): the project's folder, where Pulumi.yaml is.
        const root = (info as { getRootDirectory?(): string } | undefined)?.getRootDirectory?.();
        if (root) process.env.PULUMI_NODEJS_ROOT_DIRECTORY = root;
        this.program = async () => {
            const mod = await import(pathToFileURL(entry).href);
            const exported = mod.default ?? mod;
            return typeof exported === "function" ? exported() : exported;
        };
        // Reported once: an error the run already names (the same one, rejected again) is not repeated.
        const done = callback as (err: unknown, resp?: RunResponse | null, ...rest: unknown[]) => void;
        return super.run(call, (err: unknown, resp?: RunResponse | null, ...rest: unknown[]) => {
            const first = [...uncaught][0];
            if (!err && resp && !resp.getError() && first !== undefined) resp.setError(failure(first, entry));
            uncaught.clear();
            done(err, resp, ...rest);
        });
    }
}

interface RunPluginRequest {
    getPwd(): string;
    getArgsList(): string[];
    getEnvList(): string[];
    getKind(): string;
    getInfo(): { getProgramDirectory(): string; getEntryPoint(): string } | undefined;
}

/** The entry point of the plugin in `dir`: its PulumiPolicy.yaml's (or PulumiPlugin.yaml's) `main`, else index.ts or index.js. */
function pluginEntry(dir: string, entry: string): string {
    if (entry && entry !== ".") return path.resolve(dir, entry);
    for (const manifest of ["PulumiPolicy.yaml", "PulumiPlugin.yaml"]) {
        const file = path.join(dir, manifest);
        if (!fs.existsSync(file)) continue;
        const main = (parseYaml(fs.readFileSync(file, "utf8")) as { main?: unknown } | null)?.main;
        if (typeof main === "string" && main !== "") return path.resolve(dir, main);
    }
    const found = ["index.ts", "index.js"].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    return found ?? path.join(dir, "index.ts");
}

interface PluginStream {
    request: RunPluginRequest;
    write(message: unknown): boolean;
    end(): void;
    on(event: "cancelled", listener: () => void): void;
    destroy(err: Error & { code?: number }): void;
}

/** Running plugins: they end with the host (the engine stops the host's process group too; this covers a plain kill). */
const plugins = new Set<ReturnType<typeof spawn>>();
process.on("exit", () => {
    for (const child of plugins) child.kill();
});
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
endWithEngine("language host");

function runPlugin(call: PluginStream) {
    const req = call.request;
    if (req.getKind() !== "analyzer") {
        call.destroy(Object.assign(new Error(`keyfleet's language host runs policy packs (analyzer plugins), not ${req.getKind() || "this kind of"} plugin`), { code: grpc.status.UNIMPLEMENTED }));
        return;
    }
    const dir = req.getInfo()?.getProgramDirectory() || req.getPwd();
    const entry = pluginEntry(dir, req.getInfo()?.getEntryPoint() ?? "");
    // The engine sends the whole environment the plugin gets (its own, with the run's additions).
    const env = Object.fromEntries(req.getEnvList().map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    // The pack's folder is its working directory, as Pulumi's analyzer plugin has it.
    const child = spawn(process.execPath, [entry, ...req.getArgsList()], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    plugins.add(child);
    const send = (field: "setStdout" | "setStderr", chunk: Buffer) => {
        const msg = new langproto.RunPluginResponse();
        msg[field](chunk);
        call.write(msg);
    };
    child.stdout.on("data", (chunk: Buffer) => send("setStdout", chunk));
    child.stderr.on("data", (chunk: Buffer) => send("setStderr", chunk));
    child.on("error", (err) => send("setStderr", Buffer.from(`keyfleet language host: cannot start the policy pack ${entry}: ${err.message}\n`)));
    child.on("close", (code, signal) => {
        plugins.delete(child);
        const msg = new langproto.RunPluginResponse();
        msg.setExitcode(code ?? (signal ? 128 : 1));
        call.write(msg);
        call.end();
    });
    // The engine cancels the call when it is done with the analyzer.
    call.on("cancelled", () => child.kill());
}

const server = new grpc.Server({ ...grpcChannelOptions });
const host = new ProjectLanguageServer();
// The LanguageServer has no RunPlugin; the service's method table takes this host's.
(host as unknown as { runPlugin: typeof runPlugin }).runPlugin = runPlugin;
server.addService(langrpc.LanguageRuntimeService, host);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
        console.error(`keyfleet language host: cannot listen: ${err.message}`);
        process.exit(1);
    }
    process.stdout.write(`${port}\n`);
});
