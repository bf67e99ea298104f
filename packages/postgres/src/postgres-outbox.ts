/**
 * The transactional outbox, as a transport: hand `PostgresOutbox` to the host (and so to its bus) in
 * place of the broker's transport. A send or publish made while a transaction is current (an inbox
 * handler call, `PostgresUnitOfWork.run` or `enlist`) is written to the outbox table in that
 * transaction, and `OutboxRelay` publishes it once the transaction has committed (never when it rolls
 * back). Outside a transaction it publishes through the wrapped transport as usual; everything else
 * (subscribing, queue depth, closing) is the wrapped transport's.
 */
import { OptionChecker, type Transport } from '@sluice/core';
import type { DeliveryHandler, Destination, EndpointSpec, OutgoingMessage, Subscription } from '@sluice/core';
import { openConnection, type Connection, type PostgresOptions } from './connection.js';
import { currentTransactionClient } from './unit-of-work.js';

/** Header that puts a message in an ordered aggregate (see `PostgresOutboxOptions.aggregateKey`). */
export const AggregateHeader = 'aggregate-id';

export interface PostgresOutboxOptions extends PostgresOptions {
  /** The broker's transport: it publishes outside transactions and does everything but publishing. */
  readonly transport: Transport;
  /**
   * The aggregate a message belongs to, or undefined for none. The relay publishes the messages of
   * one aggregate in the order their transactions committed (one at a time, each after the broker
   * confirmed the one before): a transaction that writes a message of an aggregate holds the
   * aggregate's lock until it ends, so concurrent writers of one aggregate commit one after the
   * other. Messages without one may go out in any order. Default: the message's `aggregate-id`
   * header (`bus.publish(evt, payload, { headers: { 'aggregate-id': orderId } })`).
   */
  readonly aggregateKey?: (message: OutgoingMessage) => string | undefined;
}

/**
 * The queue a topic message's consumer reads, with its settings, as JSON for the outbox row: the relay
 * hands it on, so the queue is declared before the first publish as a direct send would declare it.
 */
function consumerQueueOf(destination: Destination): string | null {
  return 'topic' in destination && destination.consumerQueue !== undefined
    ? JSON.stringify(destination.consumerQueue)
    : null;
}

export class PostgresOutbox implements Transport {
  readonly name: string;
  readonly capabilities: Transport['capabilities'];
  readonly telemetry: Transport['telemetry'];
  private readonly inner: Transport;
  private readonly connection: Connection;
  private readonly aggregateKey: (message: OutgoingMessage) => string | undefined;
  private readonly insert: string;
  private readonly lockAggregates: string;

  /** Checks the options (a bad one throws `SLUICE_INVALID_OPTION` naming it). Run `migrate` first. */
  constructor(options: PostgresOutboxOptions) {
    const { transport, aggregateKey, ...connection } = options;
    const check: OptionChecker = new OptionChecker('PostgresOutbox');
    if (typeof (transport as Partial<Transport> | undefined)?.publish !== 'function') {
      check.fail('transport', 'must be a Transport', typeof transport);
    }
    if (aggregateKey !== undefined && typeof aggregateKey !== 'function') {
      check.fail('aggregateKey', 'must be a function (message) => string | undefined', aggregateKey);
    }
    this.inner = transport;
    this.name = transport.name;
    this.capabilities = transport.capabilities;
    this.telemetry = transport.telemetry;
    this.aggregateKey = aggregateKey ?? ((message) => message.headers[AggregateHeader]);
    this.connection = openConnection('PostgresOutbox', connection);
    const columns = [
      'message_id text',
      'type text',
      'content_type text',
      'correlation_id text',
      'causation_id text',
      'sent_at timestamptz',
      'headers jsonb',
      'body bytea',
      'topic text',
      'queue text',
      'consumer_queue jsonb',
      'mandatory boolean',
      'not_before timestamptz',
      'ttl_ms bigint',
      'aggregate text',
    ];
    // One statement for any number of messages: one array parameter per column.
    this.insert = `INSERT INTO ${this.connection.tables.outbox} (${columns.map((c) => c.split(' ')[0]).join(', ')})
      SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${c.split(' ')[1]}[]`).join(', ')})`;
    // Transaction-scoped, so writers of one aggregate commit one after the other, in the order of
    // their row ids: the order the relay publishes in is then the order they committed in. Taken in
    // key order, so two batches holding the same aggregates cannot deadlock on each other.
    this.lockAggregates = `SELECT pg_advisory_xact_lock(hashtext($1), k)
      FROM (SELECT DISTINCT hashtext(a) AS k FROM unnest($2::text[]) AS a ORDER BY k) AS keys`;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  /**
   * Inside a current transaction: writes the messages to the outbox in it and resolves once they are
   * written (the relay publishes them after the commit; a mandatory message no queue takes is retried
   * by the relay, never dropped). A message with an aggregate first takes the aggregate's lock for
   * the rest of the transaction: another transaction writing to the same aggregate waits here until
   * this one ends. Outside one: the wrapped transport's `publish`.
   */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const client = currentTransactionClient();
    if (client === undefined) return this.inner.publish(messages);
    const column = <T>(pick: (message: OutgoingMessage) => T) => messages.map(pick);
    const aggregates = column((m) => this.aggregateKey(m) ?? null);
    const locked = aggregates.filter((a) => a !== null);
    if (locked.length > 0) {
      const { schema, outbox } = this.connection.tables.bare;
      await client.query(this.lockAggregates, [`sluice.outbox:${schema}.${outbox}`, locked]);
    }
    await client.query(this.insert, [
      column((m) => m.messageId),
      column((m) => m.type),
      column((m) => m.contentType),
      column((m) => m.correlationId ?? null),
      column((m) => m.causationId ?? null),
      column((m) => m.sentAt),
      column((m) => JSON.stringify(m.headers)),
      column((m) => Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength)),
      column((m) => ('topic' in m.destination ? m.destination.topic : null)),
      column((m) => ('queue' in m.destination ? m.destination.queue : null)),
      column((m) => consumerQueueOf(m.destination)),
      column((m) => m.mandatory),
      column((m) => m.notBefore ?? null),
      column((m) => m.ttlMs ?? null),
      aggregates,
    ]);
  }

  subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    return this.inner.subscribe(endpoint, onDelivery);
  }

  queueDepth(queue: string): Promise<number> {
    return this.inner.queueDepth(queue);
  }

  isConnected(): boolean {
    return this.inner.isConnected();
  }

  deadLetterQueue(queue: string): string {
    return this.inner.deadLetterQueue(queue);
  }

  /** Closes the wrapped transport, then ends the pool when the outbox created it. */
  async close(signal?: AbortSignal): Promise<void> {
    await this.inner.close(signal);
    if (this.connection.ownsPool && !this.connection.pool.ended) await this.connection.pool.end();
  }
}
