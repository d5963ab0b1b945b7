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
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";

const require = createRequire(import.meta.url);
// Deep imports: the server is marked @internal but is the same code every inline program runs on.
const { LanguageServer } = require("@pulumi/pulumi/automation/server");
const langrpc = require("@pulumi/pulumi/proto/language_grpc_pb");
const { grpcChannelOptions } = require("@pulumi/pulumi/runtime");

interface RunRequest {
    getPwd(): string;
    getProgram(): string;
    getInfo(): { getProgramDirectory(): string; getEntryPoint(): string } | undefined;
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
        return super.run(call, callback);
    }
}

const server = new grpc.Server({ ...grpcChannelOptions });
server.addService(langrpc.LanguageRuntimeService, new ProjectLanguageServer());
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
        console.error(`keyfleet language host: cannot listen: ${err.message}`);
        process.exit(1);
    }
    process.stdout.write(`${port}\n`);
});
