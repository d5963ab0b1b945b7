// osTicket's installer makes the key table `DEFAULT CHARSET=utf8` (utf8mb3): a name or note with a
// 4-byte character (an emoji) cannot be stored. The provider reads the column's character set from
// information_schema once and refuses such text before any write, at the field's place in the YAML,
// naming the charset; characters of the Basic Multilingual Plane are stored and read back as written.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnvironment } from "../config/load.ts";
import { closeAll, firstUnstorable, statements } from "../providers/supportsystem/client.ts";
import { provider } from "../providers/supportsystem/lifecycle.ts";
import { startHelpDesk, type HelpDesk } from "./helpers/supportsystem.ts";

let h: HelpDesk;

const YAML = `supportsystem:
  apiKeys:
    - name: web form
      ip: 127.0.0.1
      note: "Deploys 🚀 from CI"
`;

async function inputs(name: string, ip: string, note: string | null, yamlAt: Record<string, string> | null = null) {
    const checked = await provider.check!({} as never, { vendor: "supportsystem", name, ip, active: true, canCreateTickets: true, canExecCron: false, internalNote: note, yamlAt } as never);
    expect(checked.failures ?? []).toEqual([]);
    return checked.inputs!;
}

beforeAll(async () => {
    h = await startHelpDesk();
    await provider.configure!({ config: { get: (k: string) => h.settings[k] } } as never);
});
afterAll(async () => {
    await closeAll();
    await h?.close();
});

describe("SupportSystem text the key table's character set cannot hold", () => {
    it("the sandbox's table is osTicket's: utf8 (utf8mb3)", async () => {
        const rows = await h.db.query<{ charset: string }[]>(
            "SELECT CHARACTER_SET_NAME AS charset FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'notes'",
            [h.db.name, h.db.table],
        );
        expect(rows[0].charset).toBe("utf8mb3");
    });

    it("the keys file gives each field's place as config errors do", () => {
        const loaded = parseEnvironment(YAML, "config/test.yaml");
        if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
        expect(loaded.at(["supportsystem", "apiKeys", 0, "note"])).toBe("config/test.yaml:5:13 supportsystem.apiKeys[0].note");
        expect(loaded.at(["supportsystem", "apiKeys", 0, "name"])).toBe("config/test.yaml:3:13 supportsystem.apiKeys[0].name");
    });

    it("a create with an emoji in the note is refused at the note's place, naming utf8mb3, and writes nothing", async () => {
        const loaded = parseEnvironment(YAML, "config/test.yaml");
        if (!loaded.ok) throw new Error("bad YAML");
        const at = { name: loaded.at(["supportsystem", "apiKeys", 0, "name"]), note: loaded.at(["supportsystem", "apiKeys", 0, "note"]) };
        const before = statements.insert;
        const err = await provider.create(await inputs("web form", "127.0.0.1", "Deploys 🚀 from CI", at)).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(err?.message).toContain("config/test.yaml:5:13 supportsystem.apiKeys[0].note: has \"🚀\" (U+1F680)");
        expect(err?.message).toContain("character set is utf8mb3");
        expect(err?.message).toContain("nothing was written");
        expect(err?.message).toContain("CONVERT TO CHARACTER SET utf8mb4");
        expect(err?.message).not.toMatch(/shorten/);
        expect(statements.insert).toBe(before);
        expect(await h.rows()).toEqual([]);
    });

    it("an emoji in the name is refused at the name's place", async () => {
        await expect(provider.create(await inputs("deploy 🤖", "127.0.0.1", null, { name: "config/test.yaml:3:13 supportsystem.apiKeys[0].name" }))).rejects.toThrow(
            /config\/test\.yaml:3:13 supportsystem\.apiKeys\[0\]\.name: has "🤖" \(U\+1F916\).*utf8mb3/,
        );
        expect(await h.rows()).toEqual([]);
    });

    it("an update to a note with an emoji is refused before the row changes; text of the BMP is stored as written", async () => {
        const note = "Café ✓ 日本語 — ok";
        const made = await provider.create(await inputs("bmp", "127.0.0.2", note));
        expect((await h.rows())[0].notes).toBe(`${note}\n[keyfleet:bmp]`);
        const news = await inputs("bmp", "127.0.0.2", "now with 😀");
        await expect(provider.update!(made.id, made.outs!, news)).rejects.toThrow(/SupportSystem key "bmp" for 127\.0\.0\.2: note: has "😀" \(U\+1F600\).*utf8mb3/);
        const rows = await h.rows();
        expect(rows[0].notes).toBe(`${note}\n[keyfleet:bmp]`);
        expect(rows[0].updated).toEqual(rows[0].created);
        await provider.delete!(made.id, made.outs!);
    });

    it("knows which characters each character set holds", () => {
        expect(firstUnstorable("a😀b", "utf8mb3")).toBe("😀");
        expect(firstUnstorable("日本", "utf8")).toBeUndefined();
        expect(firstUnstorable("a😀b", "utf8mb4")).toBeUndefined();
        expect(firstUnstorable("café €", "latin1")).toBeUndefined();
        expect(firstUnstorable("café Ж", "latin1")).toBe("Ж");
        expect(firstUnstorable("café", "ascii")).toBe("é");
    });
});
