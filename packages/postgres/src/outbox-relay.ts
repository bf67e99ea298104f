/**
 * Publishes what `PostgresOutbox` wrote, after its transaction committed. Each batch is one
 * transaction: lock up to `batchSize` unsent rows with `FOR UPDATE SKIP LOCKED`, publish them
 * through the transport (which resolves once the broker confirmed each), mark them sent, commit.
 *
 * Several relays (one per replica) share the table safely: a row locked by one relay is skipped by
 * the others until that relay's transaction ends, so no row is published by two relays at once, and
 * the relays split the work instead of waiting on one leader. A relay that dies before its commit
 * leaves its rows unsent and unlocked (PostgreSQL rolls back a dead session), and they are
 * published again: a message can reach the broker twice, with the same message id, which the
 * consumers' idempotency or inbox drops. Row locks rather than advisory locks: they need no key
 * scheme, cannot collide, end with the transaction and lock exactly the rows being published.
 *
 * A relay wakes on the outbox's NOTIFY (sent by the table's trigger when a writing transaction
 * commits; `migrate({ outboxNotify: false })` drops it) and, should a notification be missed (its
 * listening connection lost) or never come, polls every `pollIntervalMs`: a committed row waits at
 * most that long. Sent rows are kept `retainSentMs`, then
 * deleted.
 */
import {
  backoffDelay,
  defaultLogger,
  OptionChecker,
  toError,
  type Backoff,
  type ConsumerQueue,
  type Logger,
  type OutgoingMessage,
  type Transport,
} from '@sluice/core';
import type pg from 'pg';
import { openConnection, type Connection, type PostgresOptions } from './connection.js';
import { cleanupBatch, deleteInBatches, startPeriodicCleanup } from './periodic-cleanup.js';
import { inTransaction } from './transaction.js';

export interface OutboxRelayOptions extends PostgresOptions {
  /**
   * Publishes the rows. The relay connects it on `start` and never closes it: give it a transport of
   * its own (a second connection) or stop the relay before the transport closes.
   */
  readonly transport: Transport;
  /** Rows locked and published per batch. Default 100. */
  readonly batchSize?: number;
  /** The longest a committed row waits when no notification arrives. Default 1,000. */
  readonly pollIntervalMs?: number;
  /** How long sent rows are kept before they are deleted. Default 600,000 (10 minutes). */
  readonly retainSentMs?: number;
  /**
   * Delay before a row whose publish failed is tried again (by attempt). Default 1 s doubling to at
   * most 5 min, jitter 0.2. A row is never given up: a message the business committed is not lost.
   */
  readonly retry?: Partial<Backoff>;
  /** Where failures are logged. Default `defaultLogger`. */
  readonly logger?: Logger;
}

interface OutboxRow {
  readonly id: string;
  readonly message_id: string;
  readonly type: string;
  readonly content_type: string;
  readonly correlation_id: string | null;
  readonly causation_id: string | null;
  readonly sent_at: Date;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly topic: string | null;
  readonly queue: string | null;
  readonly consumer_queue: ConsumerQueue | null;
  readonly mandatory: boolean;
  readonly not_before: Date | null;
  readonly ttl_ms: string | null;
  readonly attempts: number;
}

const defaultRetry: Backoff = { initialMs: 1_000, factor: 2, maxMs: 300_000, jitter: 0.2 };

function toMessage(row: OutboxRow): OutgoingMessage {
  return {
    messageId: row.message_id,
    type: row.type,
    contentType: row.content_type,
    correlationId: row.correlation_id ?? undefined,
    causationId: row.causation_id ?? undefined,
    sentAt: row.sent_at,
    headers: row.headers,
    body: row.body,
    destination:
      row.topic === null
        ? { queue: row.queue ?? '' }
        : { topic: row.topic, consumerQueue: row.consumer_queue ?? undefined },
    mandatory: row.mandatory,
    notBefore: row.not_before ?? undefined,
    ttlMs: row.ttl_ms === null ? undefined : Number(row.ttl_ms),
  };
}

export class OutboxRelay {
  private readonly connection: Connection;
  private readonly transport: Transport;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly retainSentMs: number;
  private readonly retry: Backoff;
  private readonly sql: {
    readonly take: string;
    readonly sent: string;
    readonly failed: string;
    readonly prune: string;
  };
  private loop: Promise<void> | undefined;
  private stopPruning: (() => Promise<void>) | undefined;
  private stopping = false;
  private listener: pg.PoolClient | undefined;
  /** Set by a notification (or stop); the loop clears it before each batch, so none is missed. */
  private woken = false;
  private wake: (() => void) | undefined;
  private published = 0;

  /** Checks the options (a bad one throws `SLUICE_INVALID_OPTION` naming it). Run `migrate` first. */
  constructor(options: OutboxRelayOptions) {
    const { transport, batchSize, pollIntervalMs, retainSentMs, retry, logger, ...connection } = options;
    const check: OptionChecker = new OptionChecker('OutboxRelay');
    if (typeof (transport as Partial<Transport> | undefined)?.publish !== 'function') {
      check.fail('transport', 'must be a Transport', typeof transport);
    }
    this.transport = transport;
    this.batchSize = check.int('batchSize', batchSize ?? 100, 1, 10_000);
    this.pollIntervalMs = check.int('pollIntervalMs', pollIntervalMs ?? 1_000, 1, 3_600_000);
    this.retainSentMs = check.int('retainSentMs', retainSentMs ?? 600_000, 0, 365 * 86_400_000);
    const merged = {
      ...defaultRetry,
      ...(retry === undefined ? {} : check.object('retry', retry, new Set(Object.keys(defaultRetry)))),
    };
    this.retry = {
      initialMs: check.int('retry.initialMs', merged.initialMs, 1, 86_400_000),
      factor: check.number('retry.factor', merged.factor, 1, 100),
      maxMs: check.int('retry.maxMs', merged.maxMs, 1, 86_400_000),
      jitter: check.number('retry.jitter', merged.jitter, 0, 1),
    };
    this.logger = logger ?? defaultLogger;
    this.connection = openConnection('OutboxRelay', connection);
    const table = this.connection.tables.outbox;
    this.sql = {
      // Only the first unsent row of an aggregate is eligible: a later one waits until it is sent,
      // whichever relay holds it.
      take: `SELECT id, message_id, type, content_type, correlation_id, causation_id, sent_at, headers, body,
          topic, queue, consumer_queue, mandatory, not_before, ttl_ms, attempts
        FROM ${table} o
        WHERE o.published_at IS NULL AND o.next_attempt_at <= now()
          AND (o.aggregate IS NULL OR NOT EXISTS (SELECT 1 FROM ${table} e
            WHERE e.aggregate = o.aggregate AND e.published_at IS NULL AND e.id < o.id))
        ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      sent: `UPDATE ${table} SET published_at = now(), attempts = attempts + 1, last_error = NULL
        WHERE id = ANY($1::bigint[])`,
      failed: `UPDATE ${table} AS o SET attempts = o.attempts + 1, last_error = f.error,
          next_attempt_at = now() + f.delay_ms * interval '1 millisecond'
        FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS f(id, error, delay_ms) WHERE o.id = f.id`,
      prune: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table}
        WHERE published_at < now() - ${this.retainSentMs}::float8 * interval '1 millisecond'
        LIMIT ${cleanupBatch} FOR UPDATE SKIP LOCKED)`,
    };
  }

  /** Messages this relay has published (and marked sent) so far. */
  get publishedCount(): number {
    return this.published;
  }

  /**
   * Connects the transport, starts listening for notifications and starts relaying; resolves once the
   * relay runs (rejects, running nothing, when the transport cannot connect). Idempotent.
   */
  async start(): Promise<void> {
    if (this.loop !== undefined) return;
    await this.transport.connect();
    this.stopping = false;
    await this.listen().catch((error: unknown) => {
      this.logger.warn({ err: toError(error) }, 'outbox relay cannot listen for notifications yet; polling');
    });
    this.loop = this.run();
    // On a timer of its own, so pruning a large backlog never holds up publishing.
    this.stopPruning = startPeriodicCleanup(
      Math.min(Math.max(this.retainSentMs, 1_000), 60_000),
      (stopped) => deleteInBatches(this.connection.pool, this.sql.prune, stopped),
      this.logger,
      'outbox relay',
    );
  }

  /**
   * Stops relaying: resolves once the batch in progress has been published and marked (or failed)
   * and the listening connection is released. Ends the pool when the relay created it. The transport
   * is left open. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.notify();
    await this.stopPruning?.();
    this.stopPruning = undefined;
    await this.loop;
    this.loop = undefined;
    this.releaseListener();
    if (this.connection.ownsPool && !this.connection.pool.ended) await this.connection.pool.end();
  }

  /**
   * Publishes one batch: resolves with the rows it took (those published and marked sent, and those
   * whose publish failed, rescheduled with backoff).
   */
  private async relayBatch(): Promise<number> {
    const batch = await inTransaction(this.connection.pool, async (client) => {
      const { rows } = await client.query<OutboxRow>(this.sql.take, [this.batchSize]);
      if (rows.length === 0) return { taken: 0, sent: 0 };
      // At most one row per aggregate is in a batch, so the rows are independent: publish them all
      // at once, each in its own call so one refused message does not hold back the others.
      // An odd row (or a transport that throws at once) fails alone, as a rejection.
      const results = await Promise.allSettled(
        rows.map(async (row) => this.transport.publish([toMessage(row)])),
      );
      const sent: string[] = [];
      const failed: { id: string; error: string; delayMs: number }[] = [];
      results.forEach((result, i) => {
        const row = rows[i] as OutboxRow;
        if (result.status === 'fulfilled') sent.push(row.id);
        else {
          const error = toError(result.reason);
          const delayMs = backoffDelay(this.retry, row.attempts + 1);
          const code = (error as { code?: unknown }).code;
          const summary = `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
          failed.push({ id: row.id, error: summary.slice(0, 1_000), delayMs });
          this.logger.warn(
            {
              messageId: row.message_id,
              type: row.type,
              attempts: row.attempts + 1,
              retryInMs: delayMs,
              err: error,
            },
            'outbox relay could not publish a message; it stays in the outbox and is tried again',
          );
        }
      });
      if (sent.length > 0) await client.query(this.sql.sent, [sent]);
      if (failed.length > 0) {
        await client.query(this.sql.failed, [
          failed.map((f) => f.id),
          failed.map((f) => f.error),
          failed.map((f) => f.delayMs),
        ]);
      }
      return { taken: rows.length, sent: sent.length };
    });
    this.published += batch.sent;
    return batch.taken;
  }

  /**
   * Deletes every row sent more than `retainSentMs` ago, 1,000 per statement, until none is left;
   * resolves with how many it deleted. The relay runs it every minute (every `retainSentMs` when
   * that is shorter, at least a second apart) while it runs.
   */
  prune(): Promise<number> {
    return deleteInBatches(this.connection.pool, this.sql.prune);
  }

  private notify(): void {
    this.woken = true;
    this.wake?.();
  }

  private async listen(): Promise<void> {
    const client = await this.connection.pool.connect();
    client.on('notification', () => this.notify());
    client.on('error', (error) => {
      this.logger.warn(
        { err: error },
        'outbox relay lost its listening connection; polling until it is back',
      );
      this.releaseListener(error);
    });
    await client.query(`LISTEN "${this.connection.tables.outboxChannel}"`);
    this.listener = client;
  }

  private releaseListener(error?: Error): void {
    const client = this.listener;
    this.listener = undefined;
    if (client === undefined) return;
    client.removeAllListeners('notification');
    client.release(error ?? true);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      this.woken = false;
      let idle: boolean;
      try {
        // Polling covers the time without a listening connection; it is tried again every round.
        if (this.listener === undefined) await this.listen().catch(() => undefined);
        // A batch that took rows may have made the next rows of their aggregates eligible, or left
        // more behind: only one that found nothing waits.
        idle = (await this.relayBatch()) === 0;
        failures = 0;
      } catch (error) {
        failures++;
        this.logger.warn({ err: toError(error) }, 'outbox relay batch failed; trying again');
        await this.pause(Math.min(backoffDelay(this.retry, failures), this.pollIntervalMs));
        continue;
      }
      if (idle && !this.woken) await this.pause(this.pollIntervalMs);
    }
  }

  /** Waits `ms`, or less when a notification (or `stop`) comes first. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      if (this.woken || this.stopping) done();
    });
  }
}
