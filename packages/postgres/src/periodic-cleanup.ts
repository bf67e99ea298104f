import { toError, type Logger } from '@sluice/core';
import type pg from 'pg';

/** Rows one cleanup statement deletes at most (its `LIMIT`). */
export const cleanupBatch = 1_000;
/** Statements one cleanup run issues at most, so a run is bounded even on a huge backlog. */
const cleanupBatches = 20;

/**
 * Runs `sql`, a DELETE of at most {@link cleanupBatch} rows, until it deletes fewer or 20 statements
 * ran; resolves with the rows deleted.
 */
export async function deleteInBatches(pool: pg.Pool, sql: string): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < cleanupBatches; batch++) {
    const count = (await pool.query(sql)).rowCount ?? 0;
    deleted += count;
    if (count < cleanupBatch) break;
  }
  return deleted;
}

/**
 * Runs `cleanup` every `intervalMs` (0: never) on an unref'd timer until the returned function is
 * called; a failing run is logged and the next one runs on time.
 */
export function startPeriodicCleanup(
  intervalMs: number,
  cleanup: () => Promise<number>,
  logger: Logger,
  what: string,
): () => void {
  if (intervalMs === 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    cleanup()
      .catch((error: unknown) => logger.warn({ err: toError(error) }, `${what} cleanup failed`))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
