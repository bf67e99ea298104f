import { toError, type Logger } from '@sluice/core';
import type pg from 'pg';

/** Rows one cleanup statement deletes at most (its `LIMIT`), so no statement holds locks for long. */
export const cleanupBatch = 1_000;

/**
 * Runs `sql`, a DELETE of at most {@link cleanupBatch} rows, until it deletes fewer (nothing is left
 * to delete) or `stopped()` turns true; resolves with the rows deleted. There is no cap on the
 * statements of a run: a cap would let a table that gains more rows per interval than the cap grow
 * without bound.
 */
export async function deleteInBatches(
  pool: pg.Pool,
  sql: string,
  stopped: () => boolean = () => false,
): Promise<number> {
  let deleted = 0;
  while (!stopped()) {
    const count = (await pool.query(sql)).rowCount ?? 0;
    deleted += count;
    if (count < cleanupBatch) break;
  }
  return deleted;
}

/**
 * Runs `cleanup` every `intervalMs` (0: never) on an unref'd timer, one run at a time, until the
 * returned function is called; a failing run is logged and the next one runs on time. `cleanup` gets
 * a `stopped` predicate to end a long run early. The returned function resolves once the run in
 * progress (if any) has ended, so the pool can be ended after it.
 */
export function startPeriodicCleanup(
  intervalMs: number,
  cleanup: (stopped: () => boolean) => Promise<number>,
  logger: Logger,
  what: string,
): () => Promise<void> {
  if (intervalMs === 0) return () => Promise.resolve();
  let stopped = false;
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= cleanup(() => stopped)
      .then(
        () => undefined,
        (error: unknown) => logger.warn({ err: toError(error) }, `${what} cleanup failed`),
      )
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
