/**
 * Processes killed with SIGKILL at the worst moments, on the real RabbitMQ and PostgreSQL: a consumer
 * after its inbox transaction committed and before the ack, a consumer before the commit, and an
 * outbox relay between the broker's confirm and marking the rows sent.
 */
import { randomUUID } from 'node:crypto';
import { Bus, Consumer, defineCommand, silentLogger, type MessageContext } from '@sluice/core';
import { migrate, PostgresIdempotencyStore, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from '../../rabbitmq/test/support/broker.js';
import { deleteKeys, redisUrl, testPrefix } from '../../redis/test/support/redis.js';
import { Child } from './support/child.js';
import { TestSchema } from './support/database.js';

describe('processes killed with SIGKILL', () => {
  let schema: TestSchema;
  let vhost: TestVhost;
  const cleanups: (() => Promise<unknown>)[] = [];
  const type = `pgtest.effect-${randomUUID().slice(0, 8)}.v1`;
  const Effect = defineCommand<{ n: number }>(type);
  const queue = 'pgtest.effects';

  beforeEach(async () => {
    schema = await TestSchema.create('sigkill');
    vhost = await TestVhost.create('sluice-pg-sigkill');
    await migrate({ pool: schema.pool, schema: schema.name });
    await schema.pool.query(
      `CREATE TABLE "${schema.name}".effects (message_id text PRIMARY KEY, n integer NOT NULL, consumer text NOT NULL)`,
    );
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await vhost.delete();
    await schema.drop();
  });

  function consumer(
    name: string,
    hang: '' | 'before-effect' | 'before-commit' | 'after-commit',
    env: Readonly<Record<string, string>> = {},
  ): Child {
    const child = new Child(name, 'consumer.mjs', {
      AMQP_URL: vhost.url,
      DATABASE_URL: schema.url,
      SCHEMA: schema.name,
      QUEUE: queue,
      MESSAGE_TYPE: type,
      MODE: 'inbox',
      PREFETCH: '1',
      HANG: hang,
      ...env,
    });
    cleanups.push(() => child.kill());
    return child;
  }

  async function send(messageId: string): Promise<void> {
    const producer = new RabbitMqTransport({ url: vhost.url, logger: silentLogger });
    try {
      await producer.connect();
      await new Bus(producer).send(Effect, { n: 1 }, { messageId });
    } finally {
      await producer.close();
    }
  }

  async function effects(): Promise<{ message_id: string; consumer: string }[]> {
    return (await schema.pool.query(`SELECT message_id, consumer FROM "${schema.name}".effects`)).rows;
  }

  it('skips the redelivery as a duplicate when the consumer died after its commit, before the ack', async () => {
    const doomed = consumer('doomed', 'after-commit');
    await doomed.ready();
    await send('m-after-commit');
    await doomed.waitFor((e) => e.event === 'committed', 20_000, 'the inbox commit');
    expect(await effects()).toEqual([{ message_id: 'm-after-commit', consumer: 'doomed' }]);

    const survivor = consumer('survivor', '');
    await survivor.ready();
    await doomed.kill();
    const redelivered = await survivor.waitFor(
      (e) => e.event === 'settled' && e.messageId === 'm-after-commit',
      30_000,
      'the redelivery',
    );
    expect(redelivered.outcome).toBe('duplicate');
    expect(await effects()).toEqual([{ message_id: 'm-after-commit', consumer: 'doomed' }]);
  });

  it('handles the redelivery, once, when the consumer died before its commit', async () => {
    const doomed = consumer('doomed', 'before-commit');
    await doomed.ready();
    await send('m-before-commit');
    await doomed.waitFor((e) => e.event === 'handling', 20_000, 'the effect written, not committed');
    expect(await effects()).toEqual([]);

    const survivor = consumer('survivor', '');
    await survivor.ready();
    await doomed.kill();
    const redelivered = await survivor.waitFor(
      (e) => e.event === 'settled' && e.messageId === 'm-before-commit',
      30_000,
      'the redelivery',
    );
    expect(redelivered.outcome).toBe('handled');
    expect(await effects()).toEqual([{ message_id: 'm-before-commit', consumer: 'survivor' }]);
    expect(survivor.events.filter((e) => e.event === 'failed')).toEqual([]);
  });

  it.each(['postgres', 'redis'])(
    'handles, once, the redelivery of a consumer killed while it held the %s store’s claim, however short the retry budget',
    async (mode) => {
      // Three deliveries 200 ms apart, far less than the claim's 5 s lease: the claim of the dead
      // process must make the survivor wait, not dead-letter the message.
      const keyPrefix = testPrefix('sigkill');
      cleanups.push(() => deleteKeys(keyPrefix));
      const env = { MODE: mode, ATTEMPTS: '3', REDIS_URL: redisUrl, KEY_PREFIX: keyPrefix };
      const doomed = consumer('doomed', 'before-effect', env);
      await doomed.ready();
      await send('m-claimed');
      await doomed.waitFor((e) => e.event === 'handling', 20_000, 'the handler to hold the claim');
      const survivor = consumer('survivor', '', env);
      await survivor.ready();
      await doomed.kill();
      const settled = await survivor.waitFor(
        (e) => e.event === 'settled' && e.messageId === 'm-claimed' && e.outcome !== 'retried',
        30_000,
        'the redelivery to be handled or dead-lettered',
      );
      expect(settled.outcome).toBe('handled');
      expect(await effects()).toEqual([{ message_id: 'm-claimed', consumer: 'survivor' }]);
    },
  );

  it('publishes the rows of a relay killed between the confirm and its commit again; the duplicates are dropped by message id', async () => {
    // The consumer downstream: a shared idempotency store and the effect table's unique key.
    const store = new PostgresIdempotencyStore({
      pool: schema.pool,
      schema: schema.name,
      cleanupIntervalMs: 0,
    });
    const table = `"${schema.name}".effects`;
    @Consumer({ queue, message: Effect, idempotency: true })
    class RecordEffect {
      async handle(payload: { n: number }, ctx: MessageContext) {
        await schema.pool.query(`INSERT INTO ${table} VALUES ($1, $2, 'downstream')`, [
          ctx.messageId,
          payload.n,
        ]);
      }
    }
    const harness = await TestHarness.start({
      serviceName: 'pgtest',
      transport: new RabbitMqTransport({ url: vhost.url, logger: silentLogger }),
      consumers: [RecordEffect],
      idempotencyStore: store,
      logger: silentLogger,
    });
    cleanups.push(() => harness.stop());

    const outbox = new PostgresOutbox({
      pool: schema.pool,
      schema: schema.name,
      transport: new RabbitMqTransport({ url: vhost.url, logger: silentLogger }),
    });
    cleanups.push(() => outbox.close());
    const bus = new Bus(outbox);
    const ids = Array.from({ length: 20 }, (_, n) => `relayed-${n}`);
    await new PostgresUnitOfWork(schema.pool).run(async () => {
      for (const [n, messageId] of ids.entries()) await bus.send(Effect, { n }, { messageId });
    });

    const env = { AMQP_URL: vhost.url, DATABASE_URL: schema.url, SCHEMA: schema.name };
    const doomed = new Child('doomed-relay', 'relay.mjs', { ...env, HANG_AFTER_CONFIRM: '1' });
    cleanups.push(() => doomed.kill());
    await doomed.ready();
    await doomed.changed.until(
      () => (doomed.events.filter((e) => e.event === 'confirmed').length >= ids.length ? true : undefined),
      20_000,
      'the broker to confirm every message',
    );
    await harness.waitForCount({ consumer: 'RecordEffect', outcome: 'handled' }, ids.length, 20_000);
    await doomed.kill();
    const pending = await schema.pool.query(
      `SELECT count(*) AS n FROM "${schema.name}".sluice_outbox WHERE published_at IS NULL`,
    );
    expect(Number(pending.rows[0].n)).toBe(ids.length);

    const relay = new Child('relay', 'relay.mjs', env);
    cleanups.push(() => relay.kill());
    await relay.ready();
    const duplicates = await harness.waitForCount(
      { consumer: 'RecordEffect', outcome: 'duplicate' },
      ids.length,
      20_000,
    );
    expect(new Set(duplicates.map((e) => e.messageId))).toEqual(new Set(ids));
    expect(harness.outcomes({ outcome: 'handled' })).toHaveLength(ids.length);
    expect((await effects()).map((e) => e.message_id).sort()).toEqual([...ids].sort());
    await eventually(
      async () =>
        Number(
          (
            await schema.pool.query(
              `SELECT count(*) AS n FROM "${schema.name}".sluice_outbox WHERE published_at IS NULL`,
            )
          ).rows[0].n,
        ) === 0,
      20_000,
      'every row marked sent',
    );
  });
});
