/**
 * The transactional inbox: each handler call runs in a transaction that first records the message
 * as handled (one INSERT keyed by queue and message id) and then holds the handler's own writes
 * (through `PostgresUnitOfWork`) and the messages it sends (through `PostgresOutbox`); all of it
 * commits together after the handler returned, or rolls back when it threw. A crash anywhere leaves
 * both or neither, so a redelivery is handled again exactly when the first attempt did not commit,
 * and is skipped as a duplicate when it did.
 */
import {
  defaultLogger,
  ErrorCodes,
  OptionChecker,
  SluiceError,
  type HandlerClass,
  type Logger,
  type Middleware,
} from '@sluice/core';
import { openConnection, type Connection, type PostgresOptions } from './connection.js';
import { digest } from './digest.js';
import { cleanupBatch, deleteInBatches, startPeriodicCleanup } from './periodic-cleanup.js';
import { inTransaction } from './transaction.js';
import { inScope, PostgresUnitOfWork } from './unit-of-work.js';

export interface PostgresInboxOptions extends PostgresOptions {
  /** The consumers whose handler calls go through the inbox. Default: every consumer of the host. */
  readonly consumers?: readonly HandlerClass<never>[];
  /**
   * How long a handled record is kept: a redelivery later than this is handled again. Default
   * 604,800,000 (7 days).
   */
  readonly retentionMs?: number;
  /** How often records past `retentionMs` are deleted (one `cleanup` run); 0: never. Default 60,000. */
  readonly cleanupIntervalMs?: number;
  /**
   * How long a delivery waits for another delivery of the same message whose transaction is still
   * open (a redelivery racing the first attempt) before it fails with `SLUICE_IN_PROGRESS` and is
   * retried later. It is the transaction's `lock_timeout`, so the handler's own lock waits in it are
   * bounded the same way (such a failure is retried like any other). Default 2,000.
   */
  readonly lockTimeoutMs?: number;
  /** Where a failing periodic cleanup is logged. Default `defaultLogger`. */
  readonly logger?: Logger;
}

/** PostgreSQL's code for a lock wait that ran into `lock_timeout`. */
const lockNotAvailable = '55P03';

/** A message id as a readable column: no NUL (which `text` cannot hold), at most 200 characters. */
function readable(id: string): string {
  return id.replaceAll('\0', '\uFFFD').slice(0, 200);
}

export class PostgresInbox {
  /**
   * Host middleware (`ConsumerHostOptions.middleware`) that runs every handler call of the inbox's
   * consumers in an inbox transaction. A message already handled is skipped (outcome `duplicate`)
   * without calling the handler; a handler that throws rolls everything back, record included, and
   * the host retries as usual. Each in-process retry gets a transaction of its own.
   */
  readonly middleware: Middleware;
  /** Handlers inject this to reach the transaction their call runs in. */
  readonly unitOfWork: PostgresUnitOfWork;
  private readonly connection: Connection;
  private readonly stopCleanup: () => Promise<void>;
  private readonly cleanupSql: string;

  /**
   * Checks the options (a bad one throws `SLUICE_INVALID_OPTION` naming it) and starts the periodic
   * cleanup. The table must exist: run `migrate` first.
   */
  constructor(options: PostgresInboxOptions) {
    const { consumers, retentionMs, cleanupIntervalMs, lockTimeoutMs, logger, ...connection } = options;
    const where = 'PostgresInbox';
    const check: OptionChecker = new OptionChecker(where);
    const retention = check.int('retentionMs', retentionMs ?? 7 * 86_400_000, 1, 3650 * 86_400_000);
    const interval = check.int('cleanupIntervalMs', cleanupIntervalMs ?? 60_000, 0, 2 ** 31 - 1);
    const lockTimeout = check.int('lockTimeoutMs', lockTimeoutMs ?? 2_000, 1, 2 ** 31 - 1);
    if (
      consumers !== undefined &&
      (!Array.isArray(consumers) || consumers.some((c) => typeof c !== 'function'))
    ) {
      check.fail('consumers', 'must be an array of consumer classes', consumers);
    }
    this.connection = openConnection(where, connection);
    const table = this.connection.tables.inbox;
    const { pool } = this.connection;
    this.unitOfWork = new PostgresUnitOfWork(pool);
    const applies = consumers === undefined ? undefined : new Set<unknown>(consumers);
    const record = `INSERT INTO ${table} (key, queue, message_id) VALUES ($1, $2, $3)
      ON CONFLICT (key) DO NOTHING RETURNING 1`;
    this.cleanupSql = `DELETE FROM ${table} WHERE key IN (SELECT key FROM ${table}
      WHERE handled_at < now() - ${retention}::float8 * interval '1 millisecond'
      LIMIT ${cleanupBatch} FOR UPDATE SKIP LOCKED)`;

    this.middleware = async (invocation, next) => {
      if (applies !== undefined && !applies.has(invocation.endpoint.handlerClass)) return next();
      const { queue, message } = invocation.delivery;
      const handled = await inTransaction(
        pool,
        (client) =>
          inScope(client, async () => {
            let inserted: number | null;
            try {
              // First, so that a second delivery of the message waits on this row until we commit
              // (then it is a duplicate) or roll back (then it handles the message).
              ({ rowCount: inserted } = await client.query(record, [
                digest(queue, message.messageId),
                queue,
                readable(message.messageId),
              ]));
            } catch (error) {
              if ((error as { code?: unknown }).code !== lockNotAvailable) throw error;
              throw new SluiceError(
                ErrorCodes.IN_PROGRESS,
                `message ${message.messageId} is being handled by another delivery (its inbox transaction is open)`,
                { cause: error },
              );
            }
            if (inserted !== 1) return false;
            await next();
            return true;
          }),
        `SET LOCAL lock_timeout = ${lockTimeout}`,
      );
      if (!handled) invocation.skipped = 'duplicate';
    };
    this.stopCleanup = startPeriodicCleanup(
      interval,
      (stopped) => deleteInBatches(this.connection.pool, this.cleanupSql, stopped),
      logger ?? defaultLogger,
      where,
    );
  }

  /**
   * Deletes every record older than `retentionMs`, 1,000 per statement, until none is left; resolves
   * with how many it deleted.
   */
  cleanup(): Promise<number> {
    return deleteInBatches(this.connection.pool, this.cleanupSql);
  }

  /** Stops the periodic cleanup (waiting for a run in progress) and ends the pool when the inbox created it. Idempotent. */
  async close(): Promise<void> {
    await this.stopCleanup();
    if (this.connection.ownsPool && !this.connection.pool.ended) await this.connection.pool.end();
  }
}
