// The shared HTTP transport's cap on answers (issue 17, defect 13): an endpoint that streams without
// end is cut off at the cap with a clear error, not read whole into memory.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ANSWER_BYTES, send } from "../providers/shared/wire.ts";

let server: http.Server;
let url = "";
let streamed = 0;

beforeAll(async () => {
    server = http.createServer((req, res) => {
        if (req.url === "/small") return void res.end('{"ok":true}');
        if (req.url === "/bom") return void res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"ok":"bom"}')]));
        if (req.url === "/declared") {
            res.writeHead(200, { "content-length": String(512 * 1024) });
            return void res.write(Buffer.alloc(1024, 0x61));
        }
        // 64 KiB chunks until the client hangs up (or 64 MiB, a bound for the test itself).
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        streamed = 0;
        const pump = () => {
            while (streamed < 64 * 1024 * 1024) {
                streamed += chunk.length;
                if (!res.write(chunk)) return void res.once("drain", pump);
            }
            res.end();
        };
        pump();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("answer size cap", () => {
    it("reads an ordinary answer, a leading BOM dropped as undici's text() does", async () => {
        expect((await send({ method: "GET", url: `${url}/small` })).text).toBe('{"ok":true}');
        expect(JSON.parse((await send({ method: "GET", url: `${url}/bom` })).text)).toEqual({ ok: "bom" });
    });

    it("refuses at once an answer whose Content-Length is over the cap", async () => {
        const err = await send({ method: "GET", url: `${url}/declared`, maxBytes: 64 * 1024 }).catch((e) => e);
        expect(err).toMatchObject({ kind: "invalidAnswer" });
        expect(err.message).toContain("larger than 64 KiB");
    });

    it("stops reading past the cap with an invalid-answer error that names the origin only", async () => {
        const err = await send({ method: "GET", url: `${url}/huge/secret-path`, maxBytes: 1024 * 1024 }).catch((e) => e);
        expect(err).toMatchObject({ kind: "invalidAnswer" });
        expect(err.message).toBe(`the answer from ${url} is larger than 1 MiB, more than any answer of this API; keyfleet stopped reading it`);
        expect(err.hint).toMatch(/points at the product's API/);
        // The server was cut off long before it sent everything.
        expect(streamed).toBeLessThan(32 * 1024 * 1024);
    });

    it("applies the default cap when a request sets none", async () => {
        const err = await send({ method: "GET", url: `${url}/huge` }).catch((e) => e);
        expect(err).toMatchObject({ kind: "invalidAnswer" });
        expect(err.message).toContain(`larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
        expect(streamed).toBeLessThan(MAX_ANSWER_BYTES * 4);
    });
});
