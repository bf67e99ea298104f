/**
 * `IdempotencyStore` on PostgreSQL, shared by every replica. Each operation is one statement on one
 * row (by primary key), so concurrent claims from many processes serialise on the row and exactly one
 * wins; there is no read-then-write window. Leases and TTLs run on the database's clock, so replicas
 * with skewed clocks agree. An expired row means the same as no row to every operation; `cleanup`
 * deletes every expired row (in short statements), which bounds the table to the keys of one TTL and
 * one cleanup interval.
 */
import { randomUUID } from 'node:crypto';
import { defaultLogger, OptionChecker, type Claim, type IdempotencyStore, type Logger } from '@sluice/core';
import { openConnection, type Connection, type PostgresOptions } from './connection.js';
import { digest } from './digest.js';
import { cleanupBatch, deleteInBatches, startPeriodicCleanup } from './periodic-cleanup.js';

export interface PostgresIdempotencyStoreOptions extends PostgresOptions {
  /** How often expired rows are deleted (one `cleanup` run); 0: never. Default 60,000. */
  readonly cleanupIntervalMs?: number;
  /** Where a failing periodic cleanup is logged. Default `defaultLogger`. */
  readonly logger?: Logger;
}

export class PostgresIdempotencyStore implements IdempotencyStore {
  private readonly connection: Connection;
  private readonly stopCleanup: () => Promise<void>;
  private readonly sql: {
    readonly claim: string;
    readonly renew: string;
    readonly complete: string;
    readonly release: string;
    readonly cleanup: string;
  };

  /**
   * Checks the options (a bad one throws `SLUICE_INVALID_OPTION` naming it) and starts the periodic
   * cleanup. The table must exist: run `migrate` first.
   */
  constructor(options: PostgresIdempotencyStoreOptions) {
    const { cleanupIntervalMs, logger, ...connection } = options;
    const where = 'PostgresIdempotencyStore';
    const interval = new OptionChecker(where).int(
      'cleanupIntervalMs',
      cleanupIntervalMs ?? 60_000,
      0,
      2 ** 31 - 1,
    );
    this.connection = openConnection(where, connection);
    const table = this.connection.tables.idempotency;
    const ms = (param: string) => `now() + ${param}::float8 * interval '1 millisecond'`;
    this.sql = {
      // The conflicting row is updated to itself unless it has expired, so RETURNING always shows the
      // row as it stands after the statement: our token (claimed), NULL (completed) or another token.
      claim: `INSERT INTO ${table} AS c (key, token, expires_at) VALUES ($1, $2, ${ms('$3')})
        ON CONFLICT (key) DO UPDATE SET
          token = CASE WHEN c.expires_at <= now() THEN excluded.token ELSE c.token END,
          expires_at = CASE WHEN c.expires_at <= now() THEN excluded.expires_at ELSE c.expires_at END
        RETURNING token`,
      renew: `UPDATE ${table} SET expires_at = ${ms('$3')} WHERE key = $1 AND token = $2 AND expires_at > now()`,
      complete: `INSERT INTO ${table} AS c (key, token, expires_at) VALUES ($1, NULL, ${ms('$3')})
        ON CONFLICT (key) DO UPDATE SET token = NULL, expires_at = excluded.expires_at
          WHERE c.token = $2 OR c.expires_at <= now()`,
      release: `DELETE FROM ${table} WHERE key = $1 AND token = $2`,
      // SKIP LOCKED: replicas cleaning at once take different rows, and no claim waits on a cleanup.
      cleanup: `DELETE FROM ${table} WHERE key IN (
          SELECT key FROM ${table} WHERE expires_at <= now() LIMIT ${cleanupBatch} FOR UPDATE SKIP LOCKED)`,
    };
    this.stopCleanup = startPeriodicCleanup(
      interval,
      (stopped) => deleteInBatches(this.connection.pool, this.sql.cleanup, stopped),
      logger ?? defaultLogger,
      where,
    );
  }

  async claim(key: string, leaseMs: number): Promise<Claim> {
    const token = randomUUID();
    const result = await this.connection.pool.query<{ token: string | null }>(this.sql.claim, [
      digest(key),
      token,
      leaseMs,
    ]);
    const held = result.rows[0]?.token;
    if (held === token) return { state: 'claimed', token };
    return held === null ? { state: 'completed' } : { state: 'in-progress' };
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const result = await this.connection.pool.query(this.sql.renew, [digest(key), token, leaseMs]);
    return result.rowCount === 1;
  }

  async complete(key: string, token: string, ttlMs: number): Promise<void> {
    await this.connection.pool.query(this.sql.complete, [digest(key), token, ttlMs]);
  }

  async release(key: string, token: string): Promise<void> {
    await this.connection.pool.query(this.sql.release, [digest(key), token]);
  }

  /**
   * Deletes every expired row (lapsed claims, records past their TTL), 1,000 per statement, until
   * none is left; resolves with how many it deleted. Safe beside claims and other replicas' cleanups.
   */
  cleanup(): Promise<number> {
    return deleteInBatches(this.connection.pool, this.sql.cleanup);
  }

  /** Stops the periodic cleanup (waiting for a run in progress) and ends the pool when the store created it. Idempotent. */
  async close(): Promise<void> {
    await this.stopCleanup();
    if (this.connection.ownsPool && !this.connection.pool.ended) await this.connection.pool.end();
  }
}
