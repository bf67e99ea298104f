/**
 * The outbox and its relay where timing decides, on the real PostgreSQL (the broker is the in-memory
 * one: what is tested is the database side): the order of one aggregate's messages when their
 * transactions interleave, and a relay whose database connection dies while it waits for the
 * broker's confirms.
 */
import { randomUUID } from 'node:crypto';
import {
  Bus,
  defineEvent,
  InMemoryTransport,
  silentLogger,
  type OutgoingMessage,
  type Transport,
} from '@sluice/core';
import { migrate, OutboxRelay, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { ChangeSignal } from '@sluice/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../rabbitmq/test/support/broker.js';
import { TestSchema } from './support/database.js';

const Changed = defineEvent<{ step: string }>(`pgtest.changed-${randomUUID().slice(0, 8)}.v1`);

describe('the outbox relay', () => {
  let schema: TestSchema;
  let broker: InMemoryTransport;
  let bus: Bus;
  let work: PostgresUnitOfWork;
  let received: string[];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    schema = await TestSchema.create('outbox_relay');
    await migrate({ pool: schema.pool, schema: schema.name });
    broker = new InMemoryTransport();
    await broker.connect();
    received = [];
    await broker.subscribe(
      { queue: 'pgtest.changed', topics: [Changed.type], prefetch: 1, retryDelaysMs: [] },
      async (delivery) => {
        received.push(delivery.message.messageId);
        await delivery.ack();
      },
    );
    bus = new Bus(new PostgresOutbox({ pool: schema.pool, schema: schema.name, transport: broker }));
    work = new PostgresUnitOfWork(schema.pool);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await broker?.close();
    await schema?.drop();
  });

  async function startRelay(transport: Transport): Promise<OutboxRelay> {
    const relay = new OutboxRelay({
      pool: schema.pool,
      schema: schema.name,
      transport,
      pollIntervalMs: 100,
      retry: { initialMs: 50, jitter: 0 },
      logger: silentLogger,
    });
    await relay.start();
    cleanups.push(() => relay.stop());
    return relay;
  }

  it('publishes the messages of one aggregate in the order their transactions committed, however their writes interleaved', async () => {
    const first = await schema.pool.connect();
    const second = await schema.pool.connect();
    cleanups.push(async () => {
      first.release();
      second.release();
    });
    const change = (client: typeof first, messageId: string) =>
      work.enlist(client, () =>
        bus.publish(Changed, { step: messageId }, { messageId, headers: { 'aggregate-id': 'order-7' } }),
      );
    const committed: string[] = [];
    await first.query('BEGIN');
    await second.query('BEGIN');
    // The first transaction writes first (the lower row id) and stays open; the second writes to
    // the same aggregate and commits as soon as it may.
    await change(first, 'written-first');
    const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const secondDone = change(second, 'written-second').then(async () => {
      await second.query('COMMIT');
      committed.push('written-second');
    });
    const waitsForLock = async () =>
      (
        await schema.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
          [secondPid],
        )
      ).rowCount === 1;
    await eventually(
      async () => committed.length === 1 || (await waitsForLock()),
      10_000,
      'the second transaction to commit or to wait for the first',
    );
    await first.query('COMMIT');
    committed.push('written-first');
    await secondDone;

    // Both committed before any relay looked: it publishes what it finds in the aggregate's order.
    await startRelay(new InMemoryTransport({ broker: broker.broker }));
    await eventually(() => received.length === 2, 10_000, 'both messages');
    expect(received).toEqual(committed);
    expect(committed).toEqual(['written-first', 'written-second']);
  });

  it('survives its connection dying while it waits for the confirms, and publishes the row again', async () => {
    // A broker that confirms only when the test says so.
    const confirm = new ChangeSignal();
    let confirming = false;
    let publishes = 0;
    const inner = new InMemoryTransport({ broker: broker.broker });
    const slow = new Proxy(inner, {
      get(target, property) {
        if (property === 'publish') {
          return async (messages: readonly OutgoingMessage[]) => {
            publishes++;
            confirm.notify();
            await confirm.until(() => (confirming ? true : undefined), 20_000, 'the go-ahead to confirm');
            await target.publish(messages);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    await work.run(() => bus.publish(Changed, { step: 'one' }, { messageId: 'relayed-once' }));
    const relay = await startRelay(slow);
    await confirm.until(() => (publishes === 1 ? true : undefined), 10_000, 'the relay to publish');

    // Its batch transaction is open, idle, waiting for the broker: PostgreSQL ends its session.
    const batch = await schema.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE $1`,
      [`%"${schema.name}"."sluice_outbox"%SKIP LOCKED%`],
    );
    expect(batch.rows).toHaveLength(1);
    await schema.pool.query('SELECT pg_terminate_backend($1)', [batch.rows[0]?.pid]);
    await eventually(
      async () =>
        (await schema.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [batch.rows[0]?.pid]))
          .rowCount === 0,
      10_000,
      'the session to end',
    );
    confirming = true;
    confirm.notify();

    // The confirmed publish could not be marked: the row goes out again, on a new connection.
    await eventually(() => relay.publishedCount === 1, 20_000, 'the row to be published and marked');
    expect(publishes).toBe(2);
    expect(received).toEqual(['relayed-once', 'relayed-once']);
    const { rows } = await schema.pool.query(
      `SELECT published_at IS NOT NULL AS sent FROM "${schema.name}".sluice_outbox`,
    );
    expect(rows).toEqual([{ sent: true }]);
  });
});
