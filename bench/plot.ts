// The benchmark's plot: seconds against N, one panel per step, keyfleet and the floor as two
// lines. Vega-Lite describes it, Vega lays it out as SVG without a browser, resvg renders the PNG.
import fs from "node:fs";
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile } from "vega-lite";

export interface Point {
    n: number;
    step: string;
    system: string;
    seconds: number;
}

export async function plot(points: Point[], file: string): Promise<void> {
    const steps = [...new Set(points.map((p) => p.step))];
    const spec = compile({
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        data: { values: points },
        facet: { field: "step", type: "nominal", sort: steps, title: null },
        columns: 3,
        resolve: { scale: { y: "independent" } },
        spec: {
            width: 220,
            height: 160,
            mark: { type: "line", point: true },
            encoding: {
                x: { field: "n", type: "quantitative", scale: { type: "log" }, title: "keys (N)" },
                y: { field: "seconds", type: "quantitative", title: "seconds (median)" },
                color: { field: "system", type: "nominal", title: null },
            },
        },
        config: { background: "white", font: "DejaVu Sans" },
    } as never).spec;
    const view = new vega.View(vega.parse(spec), { renderer: "none" });
    const svg = await view.toSVG();
    view.finalize();
    const png = new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
    fs.writeFileSync(file, png);
}
