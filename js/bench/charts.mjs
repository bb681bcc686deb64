// SVG charts of the peers bench, rendered in Node by vega-lite (compile) + vega (View, SVG
// renderer without a canvas): `await writeCharts(results, dir)` writes bench/*.svg.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

async function svg(spec) {
  const { spec: compiled } = vegaLite.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 420,
    height: 220,
    config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11 } },
    ...spec,
  });
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const out = await view.toSVG();
  view.finalize();
  return out;
}

/** A grouped bar chart: `rows` are { kind, group, value }. */
const grouped = (title, rows, yTitle, extra = {}) => ({
  title,
  data: { values: rows },
  mark: { type: 'bar', tooltip: true },
  encoding: {
    x: { field: 'kind', type: 'nominal', title: null, sort: null, axis: { labelAngle: -30 } },
    xOffset: { field: 'group', sort: null },
    y: { field: 'value', type: 'quantitative', title: yTitle, ...extra.y },
    color: { field: 'group', type: 'nominal', title: null, sort: null },
  },
});

/**
 * charts: { name: { title, rows: [{ kind, group, value }], y, log? } } -> writes `dir/<name>.svg`.
 * Returns the file names.
 */
export async function writeCharts(charts, dir) {
  const files = [];
  for (const [name, c] of Object.entries(charts)) {
    if (!c.rows.length) continue;
    const spec = grouped(c.title, c.rows, c.y, { y: c.log ? { scale: { type: 'symlog' } } : {} });
    if (c.rule !== undefined) {
      spec.layer = [
        { mark: spec.mark, encoding: spec.encoding },
        { mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { y: { datum: c.rule } } },
      ];
      delete spec.mark;
      delete spec.encoding;
    }
    const file = `${name}.svg`;
    writeFileSync(join(dir, file), await svg(spec));
    files.push(file);
  }
  return files;
}
