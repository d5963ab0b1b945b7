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
