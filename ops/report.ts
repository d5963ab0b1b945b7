// npm run report -- --stack <name> | --all [--format table|markdown|json|html] [--out file] [--live]
// The inventory of the keys of one stack or of every stack of the backend (see inventory.ts and
// render.ts). Exit status 1 when a stack could not be read, 2 on bad arguments.
import fs from "node:fs";
import { parseCli } from "../scripts/cli.ts";
import { report as REPORT } from "../scripts/commands.ts";
import { inventory, type StackInventory } from "./inventory.ts";
import { renderHtml, renderJson, renderMarkdown, renderTable, type Report } from "./render.ts";
import { backendStacks, projectDir } from "./stacks.ts";
import { closeConnections } from "../providers/shared/shutdown.ts";

const FORMATS = { table: renderTable, markdown: renderMarkdown, md: renderMarkdown, json: renderJson, html: renderHtml } as const;
const USAGE = REPORT.usage;

async function main(): Promise<number> {
    const { values } = parseCli(USAGE, REPORT.args);
    const render = (FORMATS as Record<string, ((r: Report) => string) | undefined>)[values.format!];
    if (!render || (!values.all && !values.stack?.length)) {
        console.error(render ? USAGE : `unknown format "${values.format}"\n${USAGE}`);
        return 2;
    }
    const dir = projectDir(values.dir);
    const names = values.all ? await backendStacks(dir) : values.stack!;
    const stacks: StackInventory[] = [];
    // One stack after another: a live read paces its calls per vendor account, which stacks may share.
    for (const name of names) stacks.push(await inventory(name, { dir, live: values.live }));
    const report: Report = { generatedAt: new Date().toISOString(), source: values.live ? "live" : "state", stacks };
    const text = render(report);
    if (values.out) {
        fs.writeFileSync(values.out, text);
        console.error(`keyfleet: wrote the ${values.format} inventory of ${names.join(", ")} to ${values.out}`);
    } else process.stdout.write(text);
    for (const s of stacks) if (s.error) console.error(`keyfleet: stack ${s.stack}: ${s.error}`);
    return stacks.some((s) => s.error) ? 1 : 0;
}

try {
    process.exitCode = await main();
} finally {
    // A live read leaves keep-alive and MySQL pools open, which would keep the process running.
    await closeConnections();
}
