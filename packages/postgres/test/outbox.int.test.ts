/**
 * The outbox on the real PostgreSQL and RabbitMQ: what a transaction sends is published only once it
 * committed, exactly once even with two relays at once, in order per aggregate.
 */
import { randomUUID } from 'node:crypto';
import {
  Bus,
  Consumer,
  defineCommand,
  silentLogger,
  type HandlerClass,
  type MessageContext,
  type OutgoingMessage,
} from '@sluice/core';
import {
  migrate,
  OutboxRelay,
  PostgresOutbox,
  PostgresUnitOfWork,
  type OutboxRelayOptions,
} from '@sluice/postgres';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from '../../rabbitmq/test/support/broker.js';
import { TestSchema } from './support/database.js';

const Placed = defineCommand<{ aggregate: string; seq: number }>(
  `pgtest.placed-${randomUUID().slice(0, 8)}.v1`,
);

describe('the transactional outbox', () => {
  let schema: TestSchema;
  let vhost: TestVhost;
  let cleanups: (() => Promise<unknown>)[];
  let received: { messageId: string; aggregate: string; seq: number }[];

  beforeEach(async () => {
    cleanups = [];
    received = [];
    schema = await TestSchema.create('outbox');
    vhost = await TestVhost.create('sluice-pg-outbox');
    await migrate({ pool: schema.pool, schema: schema.name });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await vhost.delete();
    await schema.drop();
  });

  /** A consumer of `Placed` that records every delivery, in arrival order, one at a time. */
  async function startConsumer(): Promise<TestHarness> {
    @Consumer({ queue: 'pgtest.placed', message: Placed, prefetch: 1 })
    class Recorder {
      handle(payload: { aggregate: string; seq: number }, ctx: MessageContext) {
        received.push({ messageId: ctx.messageId, ...payload });
      }
    }
    return startHost([Recorder]);
  }

  /** A host of `consumers` on the test vhost, stopped after the test. */
  async function startHost(consumers: readonly HandlerClass<never>[]): Promise<TestHarness> {
    const harness = await TestHarness.start({
      serviceName: 'pgtest',
      transport: new RabbitMqTransport({ url: vhost.url, logger: silentLogger }),
      consumers,
      logger: silentLogger,
    });
    cleanups.push(() => harness.stop());
    return harness;
  }

  /** The producer's side: a bus whose sends inside a transaction go to the outbox. */
  function producer() {
    const transport = new RabbitMqTransport({ url: vhost.url, logger: silentLogger });
    const outbox = new PostgresOutbox({ pool: schema.pool, schema: schema.name, transport });
    cleanups.push(() => outbox.close());
    return { bus: new Bus(outbox), unitOfWork: new PostgresUnitOfWork(schema.pool) };
  }

  /** A relay with a pool and a broker connection of its own, as on another replica. */
  async function startRelay(
    batchSize = 100,
    options: Partial<OutboxRelayOptions> = {},
    publishDelayMs = 0,
  ): Promise<OutboxRelay> {
    const pool = new pg.Pool({ connectionString: schema.url, max: 3 });
    const transport = new RabbitMqTransport({ url: vhost.url, logger: silentLogger });
    // A slow network to the broker: each publish waits before it goes out.
    const publishing = new Proxy(transport, {
      get(target, property) {
        if (property === 'publish' && publishDelayMs > 0) {
          return async (messages: readonly OutgoingMessage[]) => {
            await new Promise((resolve) => setTimeout(resolve, publishDelayMs));
            await target.publish(messages);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const relay = new OutboxRelay({
      pool,
      schema: schema.name,
      transport: publishing,
      batchSize,
      logger: silentLogger,
      ...options,
    });
    await relay.start();
    cleanups.push(async () => {
      await relay.stop();
      await transport.close();
      await pool.end();
    });
    return relay;
  }

  async function outboxRows(): Promise<{ pending: number; sent: number }> {
    const { rows } = await schema.pool.query<{ pending: string; sent: string }>(
      `SELECT count(*) FILTER (WHERE published_at IS NULL) AS pending,
              count(*) FILTER (WHERE published_at IS NOT NULL) AS sent
       FROM "${schema.name}".sluice_outbox`,
    );
    return { pending: Number(rows[0]?.pending), sent: Number(rows[0]?.sent) };
  }

  it('publishes nothing from a transaction that rolls back, and what commits exactly once', async () => {
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    await schema.pool.query(`CREATE TABLE "${schema.name}".orders (id text PRIMARY KEY)`);
    const relay = await startRelay();

    await expect(
      unitOfWork.run(async (client) => {
        await client.query(`INSERT INTO "${schema.name}".orders VALUES ('rolled-back')`);
        await bus.send(Placed, { aggregate: 'rolled-back', seq: 1 }, { messageId: 'rolled-back' });
        throw new Error('a business rule refused the order');
      }),
    ).rejects.toThrow('a business rule refused the order');
    expect(await outboxRows()).toEqual({ pending: 0, sent: 0 });

    await unitOfWork.run(async (client) => {
      await client.query(`INSERT INTO "${schema.name}".orders VALUES ('committed')`);
      await bus.send(Placed, { aggregate: 'committed', seq: 1 }, { messageId: 'committed' });
    });
    await harness.waitForHandled('committed', 'Recorder', 15_000);
    // Published once: a later message through the same relay arrives alone after it.
    await unitOfWork.run(() => bus.send(Placed, { aggregate: 'marker', seq: 1 }, { messageId: 'marker' }));
    await harness.waitForHandled('marker', 'Recorder', 15_000);
    expect(received.map((r) => r.messageId)).toEqual(['committed', 'marker']);
    // The consumer may see a message before the relay committed its mark.
    await eventually(async () => (await outboxRows()).sent === 2, 10_000, 'both rows marked sent');
    expect(await outboxRows()).toEqual({ pending: 0, sent: 2 });
    await eventually(() => relay.publishedCount === 2, 10_000, 'the relay to count both');
    const orders = await schema.pool.query(`SELECT id FROM "${schema.name}".orders`);
    expect(orders.rows).toEqual([{ id: 'committed' }]);
  });

  it('publishes each message once with two relays at once, in order per aggregate', async () => {
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    // Few aggregates with many events each: a batch of 25 rows taken in id order alone would hold
    // several events of every aggregate, and two relays publishing such batches at once would
    // interleave them.
    const aggregates = Array.from({ length: 4 }, (_, i) => `order-${i}`);
    const perAggregate = 50;
    // Interleaved: every transaction writes the next event of every aggregate, plus unordered ones.
    const write = async (seq: number) => {
      await unitOfWork.run(async () => {
        for (const aggregate of aggregates) {
          await bus.send(Placed, { aggregate, seq }, { headers: { 'aggregate-id': aggregate } });
        }
        for (let i = 0; i < 5; i++) await bus.send(Placed, { aggregate: 'none', seq });
      });
    };
    const total = perAggregate * (aggregates.length + 5);

    // Half the rows wait for both relays; the other half are committed while both run. One relay
    // publishes slowly: without the rule per aggregate the fast one would overtake it.
    for (let seq = 1; seq <= perAggregate / 2; seq++) await write(seq);
    const relays = await Promise.all([startRelay(25, {}, 30), startRelay(25)]);
    for (let seq = perAggregate / 2 + 1; seq <= perAggregate; seq++) await write(seq);
    await harness.waitForCount({ consumer: 'Recorder', outcome: 'handled' }, total, 60_000);

    expect(new Set(received.map((r) => r.messageId)).size).toBe(total);
    expect(received).toHaveLength(total);
    await eventually(
      () => relays.map((r) => r.publishedCount).reduce((a, b) => a + b) === total,
      10_000,
      'the relays to count every row',
    );
    // Both took part: the rows were split between them, none published by both.
    for (const relay of relays) expect(relay.publishedCount).toBeGreaterThan(0);
    for (const aggregate of aggregates) {
      const order = received.filter((r) => r.aggregate === aggregate).map((r) => r.seq);
      expect(order, aggregate).toEqual(Array.from({ length: perAggregate }, (_, i) => i + 1));
    }
    await eventually(async () => (await outboxRows()).sent === total, 10_000, 'every row marked sent');
    expect(await outboxRows()).toEqual({ pending: 0, sent: total });
  });

  it('keeps a message the broker refuses in the outbox, retried later, without holding back the others', async () => {
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    const Nobody = defineCommand<{ n: number }>(`pgtest.nobody-${randomUUID().slice(0, 8)}.v1`);
    await unitOfWork.run(async () => {
      await bus.send(Nobody, { n: 1 }, { messageId: 'unroutable' });
      await bus.send(Placed, { aggregate: 'x', seq: 1 }, { messageId: 'routable' });
    });
    await startRelay();
    await harness.waitForHandled('routable', 'Recorder', 15_000);
    await eventually(
      async () =>
        (
          await schema.pool.query(
            `SELECT 1 FROM "${schema.name}".sluice_outbox WHERE attempts > 0 AND message_id = 'unroutable'`,
          )
        ).rowCount === 1,
      10_000,
      'the refused row to be rescheduled',
    );
    const { rows } = await schema.pool.query(
      `SELECT published_at, last_error, next_attempt_at > now() AS later FROM "${schema.name}".sluice_outbox WHERE message_id = 'unroutable'`,
    );
    expect(rows[0]).toMatchObject({ published_at: null, later: true });
    expect(rows[0].last_error).toContain('SLUICE_UNROUTABLE');
  });

  it('keeps a command that names its queue in that queue when the relay sends it before the consumer ever started', async () => {
    const Queued = defineCommand<{ n: number }>(`pgtest.queued-${randomUUID().slice(0, 8)}.v1`, {
      queue: 'pgtest.queued',
      queueOptions: { maxLength: 1_000 },
    });
    const { bus, unitOfWork } = producer();
    await unitOfWork.run(() => bus.send(Queued, { n: 1 }, { messageId: 'queued-1' }));
    const stored = await schema.pool.query(
      `SELECT consumer_queue FROM "${schema.name}".sluice_outbox WHERE message_id = 'queued-1'`,
    );
    expect(stored.rows[0].consumer_queue).toEqual({ queue: 'pgtest.queued', options: { maxLength: 1_000 } });
    // No consumer of the queue has run yet: the relay's publish declares it, as a direct send does,
    // instead of finding no queue for the command and retrying it for ever.
    await startRelay();
    await eventually(async () => (await outboxRows()).sent === 1, 10_000, 'the row marked sent');

    const handled: string[] = [];
    @Consumer({ queue: 'pgtest.queued', message: Queued })
    class Late {
      handle(_payload: { n: number }, ctx: MessageContext) {
        handled.push(ctx.messageId);
      }
    }
    const harness = await startHost([Late]);
    await harness.waitForHandled('queued-1', 'Late', 15_000);
    expect(handled).toEqual(['queued-1']);
  });

  it('wakes on the commit (NOTIFY), not on its poll, and prunes what it sent', async () => {
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    // A poll far longer than the test: only the notification can bring the row out in time.
    await startRelay(100, { pollIntervalMs: 600_000, retainSentMs: 0 });
    await unitOfWork.run(() => bus.send(Placed, { aggregate: 'n', seq: 1 }, { messageId: 'notified' }));
    await harness.waitForHandled('notified', 'Recorder', 15_000);
    // Kept 0 ms once sent: the relay deletes it on its next round (the commit of a later row).
    await unitOfWork.run(() => bus.send(Placed, { aggregate: 'n', seq: 2 }, { messageId: 'second' }));
    await harness.waitForHandled('second', 'Recorder', 15_000);
    await unitOfWork.run(() => bus.send(Placed, { aggregate: 'n', seq: 3 }, { messageId: 'third' }));
    await eventually(
      async () => {
        const { rows } = await schema.pool.query<{ message_id: string }>(
          `SELECT message_id FROM "${schema.name}".sluice_outbox`,
        );
        return !rows.some((r) => r.message_id === 'notified');
      },
      15_000,
      'the sent row to be pruned',
    );
  });

  it('keeps relaying, by polling and then listening again, after PostgreSQL killed its listening connection', async () => {
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    await startRelay(100, { pollIntervalMs: 300 });
    const listen = `LISTEN "${schema.name}.sluice_outbox"`;
    const listeners = async () =>
      (
        await schema.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1', [
          listen,
        ])
      ).rows;
    await eventually(async () => (await listeners()).length === 1, 10_000, 'the relay to listen');
    const [killed] = await listeners();
    await schema.pool.query('SELECT pg_terminate_backend($1)', [killed?.pid]);

    await unitOfWork.run(() => bus.send(Placed, { aggregate: 'p', seq: 1 }, { messageId: 'after-kill' }));
    await harness.waitForHandled('after-kill', 'Recorder', 15_000);
    await eventually(
      async () => (await listeners()).some((row) => row.pid !== killed?.pid),
      10_000,
      'the relay to listen again on a new connection',
    );
    await unitOfWork.run(() =>
      bus.send(Placed, { aggregate: 'p', seq: 2 }, { messageId: 'listening-again' }),
    );
    await harness.waitForHandled('listening-again', 'Recorder', 15_000);
  });

  it('without the NOTIFY trigger (outboxNotify: false), publishes by polling within its interval', async () => {
    const triggers = async () =>
      Number(
        (
          await schema.pool.query(
            `SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = 'sluice_outbox_notify'`,
            [`"${schema.name}".sluice_outbox`],
          )
        ).rows[0].n,
      );
    expect(await triggers()).toBe(1);
    await migrate({ pool: schema.pool, schema: schema.name, outboxNotify: false });
    expect(await triggers()).toBe(0);
    const harness = await startConsumer();
    const { bus, unitOfWork } = producer();
    await startRelay(100, { pollIntervalMs: 200 });
    for (const messageId of ['polled-1', 'polled-2']) {
      await unitOfWork.run(() => bus.send(Placed, { aggregate: 'q', seq: 1 }, { messageId }));
      await harness.waitForHandled(messageId, 'Recorder', 15_000);
    }
    await migrate({ pool: schema.pool, schema: schema.name });
    expect(await triggers()).toBe(1);
  });
});
