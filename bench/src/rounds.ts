/**
 * What the benchmarks that repeat their runs in rounds share: the order rotated each round, the median
 * over the rounds, and the machine's load average printed beside the figures (two shared cores carry
 * the client and the broker, so a figure taken under load is marked as such).
 */
import { loadavg } from 'node:os';
import { percentile } from './rabbitmq-measure.js';

/** `list` turned left by `by` places: each round starts with a different entry. */
export function rotate<T>(list: readonly T[], by: number): T[] {
  const n = list.length;
  return n === 0 ? [] : list.map((_, i) => list[(i + by) % n] as T);
}

/** The median of `values` by nearest rank (of an even count, the lower of the two middle values). */
export function middle(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The load average over 1, 5 and 15 minutes, as `1.23 0.98 0.76`. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
