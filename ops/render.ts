// The inventory's four forms: a terminal table, Markdown, JSON and one self-contained HTML page
// (inline style and script, no external asset) with a timeline of upcoming expiries and rotations.
// Every form prints the same picked fields of KeyRow (inventory.ts), none of which is a key value.
import type { KeyRow, StackInventory } from "./inventory.ts";

export interface Report {
    generatedAt: string;
    source: "state" | "live";
    stacks: StackInventory[];
}

const DAY = 86_400_000;

function day(iso: string | null): string {
    return iso ? iso.slice(0, 16).replace("T", " ") : "–";
}

function relative(iso: string | null, now: number): string {
    if (!iso) return "";
    const d = (Date.parse(iso) - now) / DAY;
    if (Math.abs(d) < 1) return d >= 0 ? "within a day" : "today, past";
    return d > 0 ? `in ${Math.floor(d)}d` : `${Math.floor(-d)}d ago`;
}

function when(iso: string | null, now: number): string {
    return iso ? `${day(iso)} (${relative(iso, now)})` : "–";
}

function previous(k: KeyRow, now: number): string {
    if (!k.previous) return "–";
    return `${k.previous.id ?? "previous key"}${k.previous.retireAt ? ` retires ${when(k.previous.retireAt, now)}` : ""}`;
}

function delivery(k: KeyRow): string {
    if (!k.delivery) return "–";
    return `${k.delivery.result}${k.delivery.target ? ` → ${k.delivery.target}` : ""}${k.delivery.at ? ` at ${day(k.delivery.at)}` : ""}`;
}

// id: the key's non-secret id (resource id or fingerprint); the name carries what tells apart the
// keys one entry makes (SupportSystem's `ips:`), so two rows of one entry never look alike.
const COLUMNS = ["system", "kind", "name", "id", "state", "created", "age", "expires", "next rotation", "previous (retires)", "last delivery"] as const;

function cells(k: KeyRow, now: number): string[] {
    const state = k.liveError ? `${k.state} (live read failed: ${k.liveError})` : k.state;
    const rotation = k.nextRotation ? `${when(k.nextRotation, now)}${k.rotationWhy ? `: ${k.rotationWhy}` : ""}` : "–";
    return [k.system, k.kind, k.variant ? `${k.name} (${k.variant})` : k.name, k.id ?? "–", state, day(k.created), k.ageDays === null ? "–" : `${k.ageDays}d`, when(k.expires, now), rotation, previous(k, now), delivery(k)];
}

export function renderTable(r: Report): string {
    const now = Date.parse(r.generatedAt);
    const out: string[] = [];
    for (const s of r.stacks) {
        out.push(`stack ${s.stack} (${s.source === "live" ? "read from the vendors" : "from state"}): ${s.error ? `not readable: ${s.error}` : `${s.keys.length} key${s.keys.length === 1 ? "" : "s"}`}`);
        if (s.error || s.keys.length === 0) {
            out.push("");
            continue;
        }
        const rows = [COLUMNS.map((c) => c.toUpperCase()), ...s.keys.map((k) => cells(k, now))];
        const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
        for (const row of rows) out.push(row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
        out.push("");
    }
    return out.join("\n");
}

const md = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderMarkdown(r: Report): string {
    const now = Date.parse(r.generatedAt);
    const out = [`# keyfleet inventory`, "", `Generated ${r.generatedAt}, ${r.source === "live" ? "read from the vendors" : "from state"}.`, ""];
    for (const s of r.stacks) {
        out.push(`## ${md(s.stack)}`, "");
        if (s.error) {
            out.push(`Not readable: ${md(s.error)}`, "");
            continue;
        }
        out.push(`| ${COLUMNS.join(" | ")} |`, `|${COLUMNS.map(() => "---").join("|")}|`);
        for (const k of s.keys) out.push(`| ${cells(k, now).map(md).join(" | ")} |`);
        out.push("");
    }
    return out.join("\n");
}

export function renderJson(r: Report): string {
    return JSON.stringify(r, null, 2) + "\n";
}

/** How soon something needs doing: drives the colour of a timeline row. */
export type Urgency = "overdue" | "week" | "month" | "later" | "none";

interface Event {
    kind: "expiry" | "rotation" | "retire";
    at: number;
}

function events(k: KeyRow): Event[] {
    const out: Event[] = [];
    if (k.expires && k.state !== "revoked") out.push({ kind: "expiry", at: Date.parse(k.expires) });
    if (k.nextRotation) out.push({ kind: "rotation", at: Date.parse(k.nextRotation) });
    if (k.previous?.retireAt) out.push({ kind: "retire", at: Date.parse(k.previous.retireAt) });
    return out;
}

export function urgency(k: KeyRow, now: number): Urgency {
    if (k.state === "expired" || k.state === "missing") return "overdue";
    const first = Math.min(...events(k).map((e) => e.at));
    if (!Number.isFinite(first)) return "none";
    if (first <= now) return "overdue";
    if (first - now <= 7 * DAY) return "week";
    if (first - now <= 30 * DAY) return "month";
    return "later";
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const COLOURS: Record<Urgency, string> = { overdue: "#b91c1c", week: "#ea580c", month: "#ca8a04", later: "#15803d", none: "#6b7280" };
const URGENCY_TEXT: Record<Urgency, string> = { overdue: "overdue", week: "within 7 days", month: "within 30 days", later: "later", none: "nothing scheduled" };
const MARK: Record<Event["kind"], string> = { expiry: "◆", rotation: "●", retire: "▲" };

export function renderHtml(r: Report): string {
    const now = Date.parse(r.generatedAt);
    const all = r.stacks.flatMap((s) => s.keys.map((k) => ({ stack: s.stack, k })));
    // The axis runs from now to the last event within a year (at least 30 days); later ones sit at the right edge.
    const upcoming = all.flatMap(({ k }) => events(k).map((e) => e.at)).filter((t) => t > now && t <= now + 366 * DAY);
    const end = Math.max(now + 30 * DAY, ...upcoming.map((t) => t + 2 * DAY));
    const pos = (t: number) => Math.max(0, Math.min(100, ((t - now) / (end - now)) * 100));
    const ticks: string[] = [];
    const step = end - now > 120 * DAY ? 30 : end - now > 45 * DAY ? 14 : 7;
    for (let d = 0; now + d * DAY <= end; d += step) ticks.push(`<span class="tick" style="left:${pos(now + d * DAY).toFixed(2)}%">${d === 0 ? "now" : `+${d}d`}</span>`);

    const order: Urgency[] = ["overdue", "week", "month", "later", "none"];
    const rows = all
        .map(({ stack, k }) => ({ stack, k, u: urgency(k, now), first: Math.min(...events(k).map((e) => e.at)) }))
        .sort((a, b) => order.indexOf(a.u) - order.indexOf(b.u) || a.first - b.first || a.k.resource.localeCompare(b.k.resource));
    const timeline = rows
        .map(({ stack, k, u, first }) => {
            const evs = events(k);
            const bar = Number.isFinite(first) ? `<span class="bar" style="width:${Math.max(pos(first), 0.6).toFixed(2)}%"></span>` : "";
            const marks = evs
                .map((e) => `<span class="mark ${e.kind}" style="left:${pos(e.at).toFixed(2)}%" title="${esc(`${e.kind} ${day(new Date(e.at).toISOString())}`)}">${MARK[e.kind]}</span>`)
                .join("");
            const next = evs.sort((a, b) => a.at - b.at)[0];
            const what = next ? `${next.kind} ${relative(new Date(next.at).toISOString(), now)}` : k.state === "missing" ? "gone at the vendor" : "nothing scheduled";
            return (
                `<tr class="row" data-stack="${esc(stack)}" data-resource="${esc(k.resource)}" data-urgency="${u}" data-state="${k.state}" style="--c:${COLOURS[u]}">` +
                `<th scope="row"><span class="dot"></span>${esc(k.variant ? `${k.name} (${k.variant})` : k.name)}<small>${esc(`${k.system} · ${k.kind}${r.stacks.length > 1 ? ` · ${stack}` : ""}`)}</small></th>` +
                `<td class="state">${esc(k.state)}</td><td class="track">${bar}${marks}</td><td class="next">${esc(what)}</td></tr>`
            );
        })
        .join("\n");
    const tables = r.stacks
        .map((s) => {
            if (s.error) return `<h2>${esc(s.stack)}</h2><p class="error">Not readable: ${esc(s.error)}</p>`;
            const body = s.keys.map((k) => `<tr>${cells(k, now).map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("\n");
            return `<h2>${esc(s.stack)}</h2><table class="inventory"><thead><tr>${COLUMNS.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table>`;
        })
        .join("\n");
    const legend = order.map((u) => `<span><span class="dot" style="--c:${COLOURS[u]}"></span>${URGENCY_TEXT[u]}</span>`).join(" ");
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyfleet inventory: ${esc(r.stacks.map((s) => s.stack).join(", "))}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111827;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta,.legend{color:#4b5563;margin:0 0 12px}.legend>span{margin-right:14px;white-space:nowrap}
table{border-collapse:collapse;width:100%}
.timeline th,.timeline td{padding:6px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:middle}
.timeline th small{display:block;color:#6b7280;font-weight:400}
.row{background:color-mix(in srgb,var(--c) 8%,#fff)}.row th{border-left:6px solid var(--c);width:22%}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;background:var(--c);margin-right:6px}
.state{width:8%}.next{width:16%;color:var(--c);font-weight:600}
.track{position:relative;height:28px;min-width:300px}
.bar{position:absolute;left:0;top:12px;height:4px;background:var(--c);opacity:.45;border-radius:2px}
.mark{position:absolute;top:4px;transform:translateX(-50%);color:var(--c);font-size:16px;line-height:20px}
.axis{position:relative;height:18px;color:#6b7280;font-size:11px}.tick{position:absolute;transform:translateX(-50%)}
.inventory th,.inventory td{border:1px solid #e5e7eb;padding:4px 6px;font-size:12px;text-align:left}
.inventory th{background:#f3f4f6}.error{color:#b91c1c}
</style></head><body>
<h1>keyfleet inventory</h1>
<p class="meta">Generated ${esc(r.generatedAt)} ${r.source === "live" ? "from the vendors (live)" : "from state"}; stacks: ${esc(r.stacks.map((s) => s.stack).join(", "))}. Key values are never shown.</p>
<p class="legend">${legend} &nbsp; ◆ expiry ● rotation ▲ previous key retires</p>
<table class="timeline"><thead><tr><th>key</th><th>state</th><th><div class="axis">${ticks.join("")}</div></th><th>next</th></tr></thead>
<tbody>
${timeline}
</tbody></table>
${tables}
<script>
// Marks the page as laid out once every timeline row has a visible track, so a headless check can tell.
const rows = [...document.querySelectorAll(".timeline .row")];
const ok = rows.every((tr) => tr.querySelector(".track").getBoundingClientRect().width > 0);
document.body.dataset.rows = String(rows.length);
document.body.dataset.laidOut = String(ok);
</script>
</body></html>
`;
}
