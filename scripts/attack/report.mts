// The final report: a JSON file with the options, totals and per-second timeline, and a self-contained HTML
// page (inline SVG, no scripts, no CDN) charting rate, latency and lag over time.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Sample } from './run.mts';

interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v) as number;
}

/** One line chart as an SVG string. */
export function lineChart(title: string, unit: string, series: Series[], width = 760, height = 220): string {
  const m = { l: 60, r: 10, t: 24, b: 30 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs);
  const yMax = niceMax(Math.max(0, ...ys.filter(Number.isFinite)));
  const x = (v: number) => m.l + (v / xMax) * (width - m.l - m.r);
  const y = (v: number) => height - m.b - (v / yMax) * (height - m.t - m.b);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = yMax * f;
      return `<line x1="${m.l}" x2="${width - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${Number(v.toPrecision(3))}</text>`;
    })
    .join('');
  const lines = series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const d = s.points
        .filter((p) => Number.isFinite(p[1]))
        .map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
        .join('');
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`;
    })
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${m.l + i * 150}" y="6" width="10" height="10" fill="${s.color}"/><text x="${m.l + 14 + i * 150}" y="15" font-size="12">${escapeHtml(s.label)}</text>`,
    )
    .join('');
  return `<figure><figcaption>${escapeHtml(title)} (${escapeHtml(unit)})</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">${grid}<line x1="${m.l}" x2="${width - m.r}" y1="${height - m.b}" y2="${height - m.b}" stroke="#333"/><text x="${width / 2}" y="${height - 6}" text-anchor="middle" font-size="11">seconds (0–${xMax.toFixed(0)})</text>${lines}${legend}</svg></figure>`;
}

export function renderHtml(title: string, summary: Record<string, unknown>, samples: Sample[]): string {
  const pts = (f: (s: Sample) => number | null): [number, number][] =>
    samples.filter((s) => f(s) !== null && Number.isFinite(f(s) as number)).map((s) => [s.t, f(s) as number]);
  const charts = [
    lineChart('Rate', 'events/s', [
      { label: 'target', color: '#999', points: pts((s) => s.targetRate) },
      { label: 'sent', color: '#1f77b4', points: pts((s) => s.sentRate) },
      { label: 'acknowledged', color: '#2ca02c', points: pts((s) => s.ackedRate) },
    ]),
    lineChart('Acknowledgement latency', 'ms', [
      { label: 'p50', color: '#1f77b4', points: pts((s) => s.p50Ms) },
      { label: 'p99', color: '#d62728', points: pts((s) => s.p99Ms) },
    ]),
    lineChart('Consumer lag and decisions', 'events', [
      { label: 'lag', color: '#ff7f0e', points: pts((s) => s.lag) },
      { label: 'decisions seen', color: '#9467bd', points: pts((s) => s.decisions) },
    ]),
  ].join('\n');
  const rows = Object.entries(summary)
    .map(
      ([k, v]) =>
        `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #eee;font-size:13px}figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:4px}</style>
</head><body><h1>${escapeHtml(title)}</h1><table>${rows}</table>
${charts}
</body></html>
`;
}

export function writeReport(
  dir: string,
  name: string,
  report: Record<string, unknown> & { summary: Record<string, unknown>; samples: Sample[] },
): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${name}.json`);
  const html = path.join(dir, `${name}.html`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(`Attack ${name}`, report.summary, report.samples));
  return { json, html };
}
