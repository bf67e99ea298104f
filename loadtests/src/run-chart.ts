/**
 * A load run as an SVG chart: panels over one time axis (the spike's: requests sent per second, HTTP
 * latency of the requests issued in each second, the backlog, the consumer replicas).
 */

export interface ChartSeries {
  readonly label: string;
  readonly colour: string;
  /** [seconds, value] points; a missing value breaks the line. */
  readonly points: readonly (readonly [number, number | undefined])[];
}

export interface ChartPanel {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly ChartSeries[];
}

const width = 900;
const panelHeight = 180;
const margin = { left: 70, right: 20, top: 30, bottom: 30 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * magnitude).find((candidate) => candidate >= value) ?? value;
}

function panel(spec: ChartPanel, index: number, endS: number): string {
  const top = index * (panelHeight + margin.top + margin.bottom) + margin.top;
  const plotWidth = width - margin.left - margin.right;
  const values = spec.series.flatMap((s) => s.points.map(([, v]) => v ?? 0));
  const maxY = niceMax(Math.max(0, ...values));
  const x = (t: number) => margin.left + (t / Math.max(endS, 1)) * plotWidth;
  const y = (v: number) => top + panelHeight - (v / maxY) * panelHeight;
  const parts = [
    `<text x="${margin.left}" y="${top - 10}" font-size="14" font-weight="bold">${escape(spec.title)}</text>`,
    `<rect x="${margin.left}" y="${top}" width="${plotWidth}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  ];
  for (const fraction of [0, 0.5, 1]) {
    const value = maxY * fraction;
    parts.push(
      `<text x="${margin.left - 6}" y="${y(value) + 4}" font-size="11" text-anchor="end">${value.toLocaleString('en-US')} ${escape(spec.unit)}</text>`,
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(value)}" y2="${y(value)}" stroke="#eee"/>`,
    );
  }
  for (let t = 0; t <= endS; t += Math.max(5, Math.ceil(endS / 12 / 5) * 5)) {
    parts.push(
      `<text x="${x(t)}" y="${top + panelHeight + 16}" font-size="11" text-anchor="middle">${t} s</text>`,
    );
  }
  for (const [i, series] of spec.series.entries()) {
    const segments: string[][] = [[]];
    for (const [t, v] of series.points) {
      if (v === undefined) segments.push([]);
      else segments.at(-1)?.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    for (const segment of segments.filter((s) => s.length > 0)) {
      parts.push(
        `<polyline fill="none" stroke="${series.colour}" stroke-width="1.5" points="${segment.join(' ')}"/>`,
      );
    }
    parts.push(
      `<text x="${width - margin.right - 150 * (spec.series.length - i)}" y="${top - 10}" font-size="12" fill="${series.colour}">${escape(series.label)}</text>`,
    );
  }
  return parts.join('\n');
}

/** The SVG document for `panels`, over 0..`endS` seconds, under `title`. */
export function renderChart(title: string, panels: readonly ChartPanel[], endS: number): string {
  const height = panels.length * (panelHeight + margin.top + margin.bottom) + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 20}" viewBox="0 0 ${width} ${height + 20}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<g transform="translate(0, 20)">`,
    `<text x="${margin.left}" y="0" font-size="15">${escape(title)}</text>`,
    `<g transform="translate(0, 10)">`,
    ...panels.map((spec, index) => panel(spec, index, endS)),
    '</g></g></svg>',
    '',
  ].join('\n');
}
