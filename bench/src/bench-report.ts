/**
 * Machine-readable results of a benchmark run, for `npm run perf`: each benchmark records its figures
 * here, and when `BENCH_JSON` names a file they are written there as JSON at the end of the run. The
 * printed tables stay the benchmarks' output for people.
 */
import { writeFileSync } from 'node:fs';

const figures: Record<string, unknown> = {};

/** Records `value` under `key` (a later call with the same key replaces it). */
export function record(key: string, value: unknown): void {
  figures[key] = value;
}

/** Writes everything recorded to `BENCH_JSON`, when it is set. */
export function writeReport(): void {
  const path = process.env.BENCH_JSON;
  if (path !== undefined && path !== '') writeFileSync(path, `${JSON.stringify(figures, null, 2)}\n`);
}
