// scripts/keyfleet.sh gives the local stack's public passphrase only to commands on the local stack
// (defect 14): which stack a command acts on is read from its arguments as the CLI would.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const stackOf = (...args: string[]) =>
    execFileSync("bash", ["-c", 'source scripts/stack-of.sh; pulumi() { echo selected-stack; }; stack_of "$@"', "stack-of", ...args], { encoding: "utf8" }).trim();

describe("stack_of", () => {
    it("reads --stack, -s and positional stack commands, qualified names included", () => {
        expect(stackOf("preview", "--stack", "local")).toBe("local");
        expect(stackOf("preview", "--stack=prod")).toBe("prod");
        expect(stackOf("up", "-s", "organization/keyfleet/local")).toBe("local");
        expect(stackOf("up", "-slocal")).toBe("local");
        expect(stackOf("stack", "select", "local")).toBe("local");
        expect(stackOf("stack", "init", "staging")).toBe("staging");
    });

    it("does not take an argument that merely equals `local` for the stack", () => {
        expect(stackOf("config", "set", "region", "local", "--stack", "prod")).toBe("prod");
        expect(stackOf("config", "get", "local")).toBe("selected-stack");
    });
});

// Issue 17, defect 8: the engine's verbose logs carry every credential in plain text.
describe("verbose engine logging", () => {
    const run = (...args: string[]) => {
        try {
            return { status: 0, out: execFileSync("bash", ["scripts/keyfleet.sh", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
        } catch (err) {
            const e = err as { status: number; stderr: string; stdout: string };
            return { status: e.status, out: `${e.stdout}${e.stderr}` };
        }
    };

    it("is refused for pulumi and up unless --unsafe-verbose, before anything runs", () => {
        for (const args of [["pulumi", "preview", "--stack", "prod", "-v=9"], ["pulumi", "up", "--logtostderr"], ["up", "prod", "--debug"], ["pulumi", "preview", "-v", "3"]]) {
            const r = run(...args);
            expect(r.status, args.join(" ")).toBe(1);
            expect(r.out).toMatch(/refusing (-v=9|--logtostderr|--debug|-v): the engine's verbose logs carry every credential and key value in plain text/);
            expect(r.out).toContain("--unsafe-verbose");
            expect(r.out).not.toMatch(/Previewing|Updating/);
        }
    });

    it("runs with --unsafe-verbose, which is not passed on to the CLI", () => {
        const r = run("pulumi", "version", "--unsafe-verbose", "-v=1");
        expect(r.status).toBe(0);
        expect(r.out).toMatch(/v3\.\d+\.\d+/);
    });
});
