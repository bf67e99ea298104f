/** The CSV and the SVG chart of a `sluice simulate` run. */
import type { Sample, SimulationResult } from './run-simulation.js';

/** One row per sample: `t_s,model_t_s,sent,backlog,replicas,ready_replicas,throughput_per_s,handled,dead_lettered`. */
export function samplesCsv(samples: readonly Sample[]): string {
  const rows = samples.map((s) =>
    [s.t, s.modelT, s.sent, s.backlog, s.replicas, s.ready, s.throughput, s.handled, s.deadLettered].join(
      ',',
    ),
  );
  return `t_s,model_t_s,sent,backlog,replicas,ready_replicas,throughput_per_s,handled,dead_lettered\n${rows.join('\n')}\n`;
}

const width = 960;
const panelHeight = 150;
const left = 70;
const right = 30;
const top = 60;
const gap = 40;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** A "nice" axis maximum at or above `value`. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= value) ?? value;
}

interface Series {
  readonly label: string;
  readonly color: string;
  readonly values: readonly number[];
  readonly step?: boolean;
}

function panel(
  index: number,
  title: string,
  series: readonly Series[],
  times: readonly number[],
  tMax: number,
): string {
  const y0 = top + index * (panelHeight + gap);
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.values)));
  const x = (t: number) => left + ((width - left - right) * t) / tMax;
  const y = (v: number) => y0 + panelHeight - (panelHeight * v) / yMax;
  const parts = [
    `<text x="${left}" y="${y0 - 8}" font-size="13" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${left}" y="${y0}" width="${width - left - right}" height="${panelHeight}" fill="none" stroke="#999"/>`,
  ];
  for (const fraction of [0, 0.5, 1]) {
    const v = yMax * fraction;
    parts.push(
      `<text x="${left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${Number.isInteger(v) ? v : v.toFixed(1)}</text>`,
      `<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
    );
  }
  series.forEach((s, i) => {
    const points = s.values.flatMap((v, j) => {
      const t = times[j] ?? 0;
      const previous = s.values[j - 1];
      return s.step && j > 0 && previous !== undefined
        ? [`${x(t).toFixed(1)},${y(previous).toFixed(1)}`, `${x(t).toFixed(1)},${y(v).toFixed(1)}`]
        : [`${x(t).toFixed(1)},${y(v).toFixed(1)}`];
    });
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(' ')}"/>`);
    parts.push(
      `<text x="${width - right - 8}" y="${y0 + 16 + i * 15}" font-size="11" text-anchor="end" fill="${s.color}">${escape(s.label)}</text>`,
    );
  });
  return parts.join('\n');
}

/** Three panels over wall-clock time: backlog, throughput, replicas (set and ready). */
export function samplesSvg(result: SimulationResult, compression: number): string {
  const { samples } = result;
  const times = samples.map((s) => s.t);
  const tMax = niceMax(Math.max(1, ...times));
  const height = top + 3 * panelHeight + 2 * gap + 60;
  const axisY = top + 3 * panelHeight + 2 * gap + 18;
  const ticks = Array.from({ length: 6 }, (_, i) => (tMax * i) / 5);
  const x = (t: number) => left + ((width - left - right) * t) / tMax;
  const title = `sluice simulate: ${result.sent} messages, peak backlog ${result.peakBacklog}, peak replicas ${result.peakReplicas}, drained in ${result.drainSeconds?.toFixed(1) ?? '-'} s (time compression x${compression})`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="14">${escape(title)}</text>`,
    panel(
      0,
      'backlog (ready + unacknowledged, all triggers)',
      [{ label: 'messages', color: '#c0392b', values: samples.map((s) => s.backlog) }],
      times,
      tMax,
    ),
    panel(
      1,
      'throughput',
      [{ label: 'handled / s', color: '#2471a3', values: samples.map((s) => s.throughput) }],
      times,
      tMax,
    ),
    panel(
      2,
      'replicas',
      [
        { label: 'set by KEDA / HPA', color: '#1e8449', values: samples.map((s) => s.replicas), step: true },
        { label: 'consuming', color: '#7d3c98', values: samples.map((s) => s.ready), step: true },
      ],
      times,
      tMax,
    ),
    ...ticks.map(
      (t) => `<text x="${x(t)}" y="${axisY}" font-size="11" text-anchor="middle">${Math.round(t)} s</text>`,
    ),
    `<text x="${(left + width - right) / 2}" y="${axisY + 18}" font-size="12" text-anchor="middle">wall-clock time since the spike (the controllers' model time runs x${compression})</text>`,
    `</svg>`,
    '',
  ].join('\n');
}
