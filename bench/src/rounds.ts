/**
 * What the benchmarks that repeat their runs in rounds share: each round's order of the runs, the median
 * over the rounds, and the machine's load average printed beside the figures (two shared cores carry
 * the client and the broker, so a figure taken under load is marked as such).
 */
import { loadavg } from 'node:os';
import { percentile } from './rabbitmq-measure.js';

/**
 * Round `round`'s order of `list`: a row of a Williams design. Over a full cycle of rounds (n for n
 * entries when n is even, 2n when it is odd) each entry runs in each place equally often, and right
 * after each other entry equally often, so that what a run leaves behind (garbage to collect, a queue
 * being deleted) does not always fall on the same neighbour. A plain rotation would keep neighbours.
 */
export function roundOrder<T>(list: readonly T[], round: number): T[] {
  const n = list.length;
  // The first row 0, 1, n-1, 2, n-2, ...; row r adds r (mod n); for odd n the mirrored rows follow.
  const first: number[] = [];
  for (let i = 0, low = 1, high = n - 1; i < n; i++) first.push(i === 0 ? 0 : i % 2 === 1 ? low++ : high--);
  const row = round % (n % 2 === 0 ? n : 2 * n);
  const order = first.map((j) => list[(j + row) % n] as T);
  return row >= n ? order.reverse() : order;
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
