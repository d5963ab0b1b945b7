// The core's token and redaction wrappers, which every vendor client goes through.
import { describe, expect, it } from "vitest";
import { VendorError, vendorWords } from "../providers/shared/errors.ts";
import { TokenCache, withToken } from "../providers/shared/tokens.ts";

describe("withToken", () => {
    it("drops a refused token and resends once with a new login's token; a second refusal is the answer", async () => {
        const cache = new TokenCache();
        let n = 0;
        const login = async () => ({ value: `t${++n}`, lifetimeMs: 3_600_000 });
        const sent: string[] = [];
        const resends: number[] = [];
        const first = await withToken(cache, "k", login, async (t) => (sent.push(t), t === "t1" ? 401 : 200), (s) => s === 401, async () => void resends.push(1));
        expect(first).toEqual({ answer: 200, token: "t2" });
        expect(sent).toEqual(["t1", "t2"]);
        expect(resends).toHaveLength(1);
        // Refused again and again: exactly one resend, then the refusal comes back to the caller.
        const always = await withToken(cache, "k", login, async (t) => (sent.push(t), 401), (s) => s === 401);
        expect(always.answer).toBe(401);
        expect(sent.slice(2)).toEqual(["t2", "t3"]);
        expect(cache.logins.get("k")).toBe(3);
    });

    it("marks a failed login as not processed: the request was never sent", async () => {
        const cache = new TokenCache();
        let sent = 0;
        const err = await withToken(cache, "k", async () => {
            throw new VendorError("unauthorized", "bad client secret");
        }, async () => ++sent, () => false).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VendorError);
        expect((err as VendorError).kind).toBe("unauthorized");
        expect((err as VendorError).notProcessed).toBe(true);
        expect(sent).toBe(0);
    });
});

describe("vendorWords", () => {
    it("masks every secret before it shortens, so no part of one survives a cut", () => {
        const secret = "s3cr3t-".repeat(10);
        const text = `${"x".repeat(190)} ${secret} tail`;
        const out = vendorWords(text, [secret, undefined, ""], 200);
        expect(out).not.toContain("s3cr3t");
        expect(out.startsWith("x".repeat(190))).toBe(true);
        expect(out).toContain("[redac");
        expect(vendorWords("  a\n\n b  ")).toBe("a b");
        expect(vendorWords("")).toBe("no details");
        expect(vendorWords("y".repeat(300), [], 10)).toBe(`${"y".repeat(10)}…`);
    });
});
