// Through the real engine: a keys file whose SupportSystem note holds an emoji, with the help desk's
// table as osTicket creates it (utf8mb3), stops the preview and the up before anything is written,
// at the note's file:line:col, naming the charset; once the note is BMP text the same stack goes up.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";
import { captured, createTestStack, type TestStack } from "./helpers/stack.ts";

const keys = (note: string) => `supportsystem:
  apiKeys:
    - name: plain
      ip: 127.0.0.1
    - name: web form
      ip: 127.0.0.2
      note: "${note}"
`;

let h: HelpDesk;
let s: TestStack;

beforeAll(async () => {
    h = await startHelpDesk();
    s = await createTestStack(h, keys("Deploys 🚀 from CI"));
});
afterAll(async () => {
    await s?.cleanup();
    await h?.close();
});

describe("SupportSystem: text the key table cannot hold, through pulumi", () => {
    it("preview and up are refused at the note's place, naming utf8mb3, and no row is written", async () => {
        const file = path.join(s.dir, "keys.yaml");
        const place = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:7:13 supportsystem\\.apiKeys\\[1\\]\\.note: has "🚀" \\(U\\+1F680\\).*character set is utf8mb3.*nothing was written`);
        await expect(s.stack.preview({ ...captured(s) })).rejects.toThrow(place);
        await expect(s.stack.up({ ...captured(s) })).rejects.toThrow(place);
        // Not even the other key, whose text is fine: the program stopped before declaring any.
        expect(await h.rows()).toEqual([]);
    });

    it("with the note in the table's character set, the same stack goes up", async () => {
        s.writeKeys(keys("Deploys ✓ from CI"));
        const result = await s.stack.up({ ...captured(s) });
        expect(result.summary.resourceChanges).toMatchObject({ create: 2 });
        // The two keys are created in parallel, so their rows come in either order.
        expect((await h.rows()).map((r) => r.notes).sort()).toEqual(["Deploys ✓ from CI\n[keyfleet:web form]", "[keyfleet:plain]"].sort());
        await s.stack.destroy({ ...captured(s) });
    });
});
