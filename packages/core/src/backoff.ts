import type { Backoff } from './types.js';

/**
 * The `n`-th delay (1-based) of an exponential backoff: min(maxMs, initialMs * factor^(n-1)), spread
 * by +/- `jitter` and rounded to whole ms. Never negative.
 */
export function backoffDelay(backoff: Backoff, n: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, n - 1));
  const spread = backoff.jitter === 0 ? 0 : base * backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}
