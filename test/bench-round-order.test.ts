// The benchmarks' round order: a Williams design, so that a run's leftovers (garbage, a queue being
// deleted) do not always land on the same neighbour, which a plain rotation would do.
import { describe, expect, it } from 'vitest';
import { middle, roundOrder } from '../bench/src/rounds.js';

/** How often each entry runs in each place, and right after each other entry, over `rounds` rounds. */
function tally(n: number, rounds: number) {
  const list = Array.from({ length: n }, (_, i) => i);
  const places = new Map<string, number>();
  const follows = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  for (let round = 0; round < rounds; round++) {
    const order = roundOrder(list, round);
    expect([...order].sort((a, b) => a - b)).toEqual(list);
    order.forEach((entry, place) => bump(places, `${entry}@${place}`));
    for (let i = 1; i < n; i++) bump(follows, `${order[i - 1]}>${order[i]}`);
  }
  return { places, follows };
}

describe('roundOrder', () => {
  it.each([2, 3, 4, 5, 6, 7])(
    'over a full cycle puts each of %i entries in each place, and after each other, equally often',
    (n) => {
      const cycle = n % 2 === 0 ? n : 2 * n;
      const { places, follows } = tally(n, cycle);
      expect(places.size).toBe(n * n);
      expect(new Set(places.values())).toEqual(new Set([cycle / n]));
      expect(follows.size).toBe(n * (n - 1));
      expect(new Set(follows.values())).toEqual(new Set([(cycle * (n - 1)) / (n * (n - 1))]));
    },
  );

  it('does not keep neighbours as a rotation would', () => {
    const modes = ['off', 'on', 'unsampled', 'floor', 'floor-min'];
    const after = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const order = roundOrder(modes, round);
      after.add(order[order.indexOf('off') - 1] ?? '(first)');
    }
    expect(after).toEqual(new Set(['(first)', 'on', 'unsampled', 'floor', 'floor-min']));
  });

  it('returns nothing for an empty list', () => {
    expect(roundOrder([], 3)).toEqual([]);
  });
});

describe('middle', () => {
  it('is the nearest-rank median: the middle value, the lower of two', () => {
    expect(middle([5, 1, 3])).toBe(3);
    expect(middle([4, 1, 3, 2])).toBe(2);
  });
});
