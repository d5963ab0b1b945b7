// keyfleet's stand-in for the `pulumi-resource-command` plugin (pulumi-command v1.2.1): the part
// of `command:local:Command` that keyfleet's deliveries use, served on @pulumi/pulumi's own
// provider API (`@pulumi/pulumi/provider`'s `main`).
//
// Why it exists: the real plugin is a Go program, and the Go module proxy these machines reach
// refuses github.com/pulumi/pulumi-command/provider at every version, so it cannot be built here;
// nor can its release binary be downloaded. scripts/keyfleet.sh writes a launcher for this file as
// `.keyfleet/bin/pulumi-resource-command` only when no real plugin is installed (`pulumi plugin ls`
// or on PATH); where one is, that one runs and this file is unused. The program is the same either way.
//
// Behaviour follows the real provider (provider/pkg/provider/local in pulumi-command):
// - create runs `create`; update runs `update`, or `create` when there is no `update`; delete runs
//   `delete`; each through `interpreter` (default /bin/sh -c) with the command as its last argument,
//   in `dir` (default: the plugin's working directory), with the provider's environment plus
//   `environment`, `stdin` on standard input, and PULUMI_COMMAND_STDOUT/STDERR from the last run
//   unless `addPreviousOutputInEnv` is false (default true, filled in by check like the real one).
// - Outputs are the inputs plus `stdout` and `stderr` (one trailing newline trimmed). Every output
//   depends on every input, as the real provider's default: when any input is secret, every output
//   is secret. A non-zero exit fails the step with `exit status N: running "<command>"` and the output.
// - Any input change updates in place; a change of `triggers` replaces (the SDK also asks for that
//   with replaceOnChanges). The id is the resource name plus 8 random hex digits.
// - Each output line is sent to the engine as an ephemeral status message on the resource, as the
//   real provider does, filtered by `logging` (stdout | stderr | stdoutAndStderr | none).
// Stricter than the real one: values of secret environment variables and a secret stdin are
// replaced by [secret] in every line it logs and in every error it returns.
// - The step's custom timeout (the engine sends it with each Create/Update/Delete; the real provider
//   runs the command under a context with that deadline) stops the command: its whole process group
//   gets SIGTERM, then SIGKILL 5 s later, and the step fails `timed out after Ns: running "<command>"`.
//   Cancel (Ctrl-C on `pulumi up`) stops every running command the same way.
// Not implemented: `assetPaths` and `archivePaths` (check refuses them, naming the real plugin).
import { spawn, type ChildProcess } from "node:child_process";
import { AsyncLocalStorage } from "node:async_hooks";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { endWithEngine } from "./engine-watch.ts";

const require = createRequire(import.meta.url);

export const VERSION = "1.2.1";
export const TYPE = "command:local:Command";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const LOGGING = ["stdout", "stderr", "stdoutAndStderr", "none"] as const;

type Schema = Record<string, unknown>;
const str = { type: "string" };
const strings = { type: "array", items: str };
/** Inputs of command:local:Command, as pulumi-command v1.2.1's schema declares them. */
export const INPUT_PROPERTIES: Record<string, Schema> = {
    addPreviousOutputInEnv: { type: "boolean", default: true },
    archivePaths: strings,
    assetPaths: strings,
    create: str,
    delete: str,
    dir: str,
    environment: { type: "object", additionalProperties: str },
    interpreter: strings,
    logging: { $ref: "#/types/command:local:Logging" },
    stdin: str,
    triggers: { type: "array", items: { $ref: "pulumi.json#/Any" } },
    update: str,
};
/** Outputs: every input, and what the command produced. */
export const OUTPUT_PROPERTIES: Record<string, Schema> = {
    ...INPUT_PROPERTIES,
    archive: { $ref: "pulumi.json#/Archive" },
    assets: { type: "object", additionalProperties: { $ref: "pulumi.json#/Asset" } },
    stderr: str,
    stdout: str,
};
const PRODUCED = ["archive", "assets", "stderr", "stdout"];

export const SCHEMA = {
    name: "command",
    version: VERSION,
    description: "keyfleet's stand-in for the Pulumi Command provider: command:local:Command only.",
    types: {
        "command:local:Logging": { type: "string", enum: LOGGING.map((value) => ({ name: value, value })) },
    },
    resources: {
        [TYPE]: { properties: OUTPUT_PROPERTIES, required: ["stderr", "stdout"], inputProperties: INPUT_PROPERTIES },
    },
};

// Values on the wire: a secret is {SECRET_SIG: SECRET_VALUE, value}; an unknown (preview) a sentinel string.
const isSecret = (v: unknown): v is { value: unknown } =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
const secret = (value: unknown) => ({ [SECRET_SIG]: SECRET_VALUE, value });
function plain(v: unknown): unknown {
    if (isSecret(v)) return plain(v.value);
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
}
function hasSecret(v: unknown): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(hasSecret);
    if (v && typeof v === "object") return Object.values(v).some(hasSecret);
    return false;
}
function hasUnknown(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (isSecret(v)) return hasUnknown(v.value);
    if (Array.isArray(v)) return v.some(hasUnknown);
    if (v && typeof v === "object") return Object.values(v).some(hasUnknown);
    return false;
}
/** The plain values of secrets among the inputs that reach the process (environment values, stdin). */
function secretValues(inputs: Record<string, unknown>): string[] {
    const out: string[] = [];
    const env = isSecret(inputs.environment) ? inputs.environment.value : inputs.environment;
    const wholeEnv = isSecret(inputs.environment);
    if (env && typeof env === "object") {
        for (const v of Object.values(env)) if ((wholeEnv || isSecret(v)) && typeof plain(v) === "string") out.push(plain(v) as string);
    }
    if (isSecret(inputs.stdin) && typeof inputs.stdin.value === "string") out.push(inputs.stdin.value);
    return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}
function redact(text: string, secrets: string[]): string {
    for (const s of secrets) text = text.split(s).join("[secret]");
    return text;
}

/** Type checks as the real provider's schema would: a failure per property of the wrong kind. */
export function checkInputs(news: Record<string, unknown>): { inputs: Record<string, unknown>; failures: { property: string; reason: string }[] } {
    const failures: { property: string; reason: string }[] = [];
    const known = (v: unknown) => v !== undefined && v !== null && !hasUnknown(v);
    for (const [name, raw] of Object.entries(news)) {
        if (name.startsWith("__")) continue;
        const spec = INPUT_PROPERTIES[name];
        const v = plain(raw);
        if (!spec) {
            failures.push({ property: name, reason: `unknown property of ${TYPE}` });
            continue;
        }
        if (!known(v)) continue;
        const fail = (reason: string) => failures.push({ property: name, reason });
        if (spec.type === "string" && typeof v !== "string") fail("must be a string");
        if (spec.type === "boolean" && typeof v !== "boolean") fail("must be a boolean");
        if (spec === strings || spec.type === "array") {
            if (!Array.isArray(v)) fail("must be a list");
            else if (spec === strings && v.some((x) => typeof x !== "string")) fail("must be a list of strings");
        }
        if (name === "environment" && (typeof v !== "object" || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== "string" && x !== UNKNOWN))) {
            fail("must be a map of strings");
        }
        if (name === "logging" && !(LOGGING as readonly unknown[]).includes(v)) fail(`must be one of ${LOGGING.join(", ")}`);
        if ((name === "assetPaths" || name === "archivePaths") && Array.isArray(v) && v.length > 0) {
            fail(`is not supported by keyfleet's stand-in command plugin; install the real pulumi-resource-command v${VERSION} to use it`);
        }
    }
    const inputs = { ...news };
    if (inputs.addPreviousOutputInEnv === undefined || inputs.addPreviousOutputInEnv === null) inputs.addPreviousOutputInEnv = true;
    return { inputs, failures };
}

/** Input properties whose value differs between the last state and the new inputs, secrets compared by value. */
export function changedInputs(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
    const same = (a: unknown, b: unknown) => JSON.stringify(plain(a) ?? null) === JSON.stringify(plain(b) ?? null);
    return Object.keys(INPUT_PROPERTIES).filter((k) => hasUnknown(news[k]) || !same(olds[k], news[k]));
}

/** The timeout of the engine call in progress (seconds; 0 = none), from the request itself. */
const callTimeout = new AsyncLocalStorage<number>();
/** Commands running now, so that Cancel can stop them. */
const running = new Set<() => void>();

/** Stops every running command (the engine's Cancel). */
export function cancelAll(): void {
    for (const stop of [...running]) stop();
}

/** Runs `work` as if the engine had sent `seconds` as the call's timeout (tests; the server does it per call). */
export function withTimeout<T>(seconds: number, work: () => Promise<T>): Promise<T> {
    return callTimeout.run(seconds, work);
}

export interface Logger {
    (line: string, stream: "stdout" | "stderr"): void;
}

/** Runs one command as the real provider does; returns the outputs or throws with the combined output. */
export async function runCommand(command: string, inputs: Record<string, unknown>, previous: { stdout?: string; stderr?: string }, log: Logger): Promise<{ stdout: string; stderr: string }> {
    const interpreter = (plain(inputs.interpreter) as string[] | undefined)?.length ? (plain(inputs.interpreter) as string[]) : ["/bin/sh", "-c"];
    const args = [...interpreter, command];
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...((plain(inputs.environment) as Record<string, string> | undefined) ?? {}) };
    if (plain(inputs.addPreviousOutputInEnv) !== false) {
        if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
        if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
    }
    const secrets = secretValues(inputs);
    const logging = (plain(inputs.logging) as string | undefined) ?? "stdoutAndStderr";
    const logs = { stdout: logging === "stdout" || logging === "stdoutAndStderr", stderr: logging === "stderr" || logging === "stdoutAndStderr" };
    const dir = plain(inputs.dir) as string | undefined;
    const stdin = plain(inputs.stdin) as string | undefined;
    const timeoutS = callTimeout.getStore() ?? 0;
    return new Promise((resolve, reject) => {
        // Its own process group, so that stopping it stops what the shell started too (`sleep`, say).
        const child = spawn(args[0], args.slice(1), { cwd: dir || process.cwd(), env, stdio: ["pipe", "pipe", "pipe"], detached: true });
        let stopped: string | undefined;
        const stop = (why: string) => {
            if (stopped || child.exitCode !== null) return;
            stopped = why;
            signalGroup(child, "SIGTERM");
            setTimeout(() => signalGroup(child, "SIGKILL"), 5_000).unref();
        };
        const cancel = () => stop("cancelled");
        running.add(cancel);
        const timer = timeoutS > 0 ? setTimeout(() => stop(`timed out after ${timeoutS}s`), timeoutS * 1000) : undefined;
        const buf = { stdout: "", stderr: "" };
        let both = "";
        const pending = { stdout: "", stderr: "" };
        for (const stream of ["stdout", "stderr"] as const) {
            child[stream].setEncoding("utf8");
            child[stream].on("data", (chunk: string) => {
                buf[stream] += chunk;
                both += chunk;
                const lines = (pending[stream] + chunk).split("\n");
                pending[stream] = lines.pop() ?? "";
                if (logs[stream]) for (const line of lines) log(redact(line, secrets), stream);
            });
        }
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin ?? "");
        child.on("error", (err) => reject(new Error(redact(`${err.message}: running ${JSON.stringify(command)}`, secrets))));
        child.on("close", (code, signal) => {
            running.delete(cancel);
            if (timer) clearTimeout(timer);
            for (const stream of ["stdout", "stderr"] as const) if (pending[stream] && logs[stream]) log(redact(pending[stream], secrets), stream);
            if (code !== 0) {
                const status = stopped ?? (signal ? `signal: ${signal}` : `exit status ${code}`);
                reject(new Error(redact(`${status}: running ${JSON.stringify(command)}:\n${both}`, secrets)));
                return;
            }
            resolve({ stdout: buf.stdout.replace(/\n$/, ""), stderr: buf.stderr.replace(/\n$/, "") });
        });
    });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
        if (child.pid) process.kill(-child.pid, signal);
    } catch {
        // Already gone.
    }
}

/** The outputs of a run: inputs plus stdout/stderr; all secret when any input is. */
function outputs(inputs: Record<string, unknown>, produced: { stdout: string; stderr: string }): Record<string, unknown> {
    const outs: Record<string, unknown> = { ...inputs, ...produced };
    if (!hasSecret(inputs)) return outs;
    return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, v === undefined || v === null || isSecret(v) ? v : secret(v)]));
}

/**
 * A failed run keeps the resource with the state it would have had (the real provider's partial
 * state): the engine records the failure on the resource and runs the command again on the next up.
 */
async function partial<T>(run: Promise<T>, id: string, properties: Record<string, unknown>): Promise<T> {
    try {
        return await run;
    } catch (err) {
        throw Object.assign(err as Error, { id, properties, reasons: [(err as Error).message] });
    }
}

function inputsOf(state: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(state).filter(([k]) => !PRODUCED.includes(k)));
}

/** The engine's Log service, for the status lines of a running command. */
function engineLogger(engineAddr: string | undefined) {
    if (!engineAddr) return (_urn: string) => (() => undefined) as Logger;
    const pulumiRequire = createRequire(require.resolve("@pulumi/pulumi"));
    const grpc = pulumiRequire("@grpc/grpc-js");
    const enginerpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
    const engineproto = require("@pulumi/pulumi/proto/engine_pb");
    const client = new enginerpc.EngineClient(engineAddr, grpc.credentials.createInsecure());
    return (urn: string): Logger =>
        (line) => {
            const req = new engineproto.LogRequest();
            req.setSeverity(engineproto.LogSeverity.INFO);
            req.setMessage(line);
            req.setUrn(urn);
            req.setEphemeral(true);
            client.log(req, () => undefined);
        };
}

export function commandProvider(engineAddr?: string) {
    const logFor = engineLogger(engineAddr);
    const name = (urn: string) => urn.split("::").pop() ?? "command";
    return {
        version: VERSION,
        schema: JSON.stringify(SCHEMA),
        async check(urn: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
            if (!urn.includes(`::${TYPE}::`)) return { inputs: news, failures: [{ property: "", reason: `keyfleet's stand-in command plugin serves ${TYPE} only` }] };
            return checkInputs(news);
        },
        async diff(_id: string, _urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
            const changed = changedInputs(olds, news);
            return { changes: changed.length > 0, replaces: changed.includes("triggers") ? ["triggers"] : [] };
        },
        async create(urn: string, inputs: Record<string, unknown>) {
            const id = `${name(urn)}${crypto.randomBytes(4).toString("hex")}`;
            const create = plain(inputs.create) as string | undefined;
            const produced = create ? await partial(runCommand(create, inputs, {}, logFor(urn)), id, outputs(inputs, { stdout: "", stderr: "" })) : { stdout: "", stderr: "" };
            return { id, outs: outputs(inputs, produced) };
        },
        async read(id: string, _urn: string, props: Record<string, unknown>) {
            return { id, props, inputs: inputsOf(props) };
        },
        async update(id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
            const previous = { stdout: plain(olds.stdout) as string | undefined, stderr: plain(olds.stderr) as string | undefined };
            const kept = { stdout: previous.stdout ?? "", stderr: previous.stderr ?? "" };
            const cmd = (plain(news.update) ?? plain(news.create)) as string | undefined;
            const produced = cmd ? await partial(runCommand(cmd, news, previous, logFor(urn)), id, outputs(news, kept)) : kept;
            return { outs: outputs(news, produced) };
        },
        async delete(_id: string, urn: string, props: Record<string, unknown>) {
            const cmd = plain(props.delete) as string | undefined;
            if (!cmd) return;
            await runCommand(cmd, props, { stdout: plain(props.stdout) as string | undefined, stderr: plain(props.stderr) as string | undefined }, logFor(urn));
        },
    };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
    const args = process.argv.slice(2);
    const { main } = require("@pulumi/pulumi/provider");
    // The engine passes its address as the first argument that is not a flag.
    const engineAddr = args.find((a) => !a.startsWith("-"));
    // @pulumi/pulumi's provider server does not hand the request's timeout to the provider: read it
    // from each Create/Update/Delete request as it arrives, for the command that call runs.
    const grpc = createRequire(require.resolve("@pulumi/pulumi"))("@grpc/grpc-js") as { Server: { prototype: { addService(service: unknown, impl: Record<string, unknown>): void } } };
    const addService = grpc.Server.prototype.addService;
    grpc.Server.prototype.addService = function (service, impl) {
        for (const method of ["create", "update", "delete"]) {
            const handler = impl[method] as ((call: { request: { getTimeout?(): number } }, cb: unknown) => unknown) | undefined;
            if (typeof handler !== "function") continue;
            impl[method] = (call: { request: { getTimeout?(): number } }, cb: unknown) => callTimeout.run(call.request.getTimeout?.() ?? 0, () => handler.call(impl, call, cb));
        }
        return addService.call(this, service, impl);
    };
    // A command must not outlive the plugin that ran it (it runs in a process group of its own).
    process.on("exit", cancelAll);
    endWithEngine("command provider");
    main({ ...commandProvider(engineAddr), cancel: async () => cancelAll() }, args);
}
