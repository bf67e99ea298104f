/**
 * Exactly-once effects across consumer processes on the real RabbitMQ, PostgreSQL and Redis: two
 * processes share one queue and one store, every message arrives twice, the broker force-closes their
 * connections mid-run, and the effect table's unique key would refuse any second effect.
 */
import { randomUUID } from 'node:crypto';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from '../../rabbitmq/test/support/broker.js';
import { deleteKeys, redisUrl, testPrefix } from '../../redis/test/support/redis.js';
import { Child, type ChildEvent } from './support/child.js';
import { TestSchema } from './support/database.js';
import { effectMessages } from './support/effects.js';
import { migrate } from '@sluice/postgres';

const messages = 5_000;

describe.each(['postgres', 'redis', 'inbox'] as const)('two consumer processes, dedup through %s', (mode) => {
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('record the effect of each of 5,000 messages, each published twice, exactly once through forced connection closes', async () => {
    const schema = await TestSchema.create(`exactly_once_${mode}`);
    cleanups.push(() => schema.drop());
    const vhost = await TestVhost.create('sluice-pg-exactly-once');
    cleanups.push(() => vhost.delete());
    const keyPrefix = testPrefix(`exactly-once-${mode}`);
    cleanups.push(() => deleteKeys(keyPrefix));
    await migrate({ pool: schema.pool, schema: schema.name });
    await schema.pool.query(
      `CREATE TABLE "${schema.name}".effects (message_id text PRIMARY KEY, n integer NOT NULL UNIQUE, consumer text NOT NULL)`,
    );
    const type = `pgtest.effect-${randomUUID().slice(0, 8)}.v1`;
    const queue = 'pgtest.effects';
    const children = ['a', 'b'].map(
      (name) =>
        new Child(name, 'consumer.mjs', {
          AMQP_URL: vhost.url,
          DATABASE_URL: schema.url,
          SCHEMA: schema.name,
          QUEUE: queue,
          MESSAGE_TYPE: type,
          MODE: mode,
          PREFETCH: '50',
          REDIS_URL: redisUrl,
          KEY_PREFIX: keyPrefix,
        }),
    );
    for (const child of children) cleanups.push(() => child.kill());
    await Promise.all(children.map((child) => child.ready()));

    const producer = new RabbitMqTransport({ url: vhost.url, connectionName: 'pgtest-producer' });
    cleanups.push(() => producer.close());
    await producer.connect();
    const sent = effectMessages(type, messages);
    const ids = sent.map((m) => m.messageId);
    const all = () => children.flatMap((child) => child.events);
    const settled = (event: ChildEvent) =>
      event.event === 'settled' && (event.outcome === 'handled' || event.outcome === 'duplicate');
    const closes = [0.3, 0.7].map((fraction) => Math.round(fraction * 2 * messages));
    // Both copies of a chunk back to back, so duplicates race each other in the two processes.
    for (let start = 0; start < messages; start += 250) {
      const chunk = sent.slice(start, start + 250);
      await producer.publish([...chunk, ...chunk]);
      if (closes.length > 0 && all().filter(settled).length >= (closes[0] as number)) {
        closes.shift();
        await vhost.closeAllConnections();
      }
    }
    for (const at of closes) {
      await eventually(() => all().filter(settled).length >= at, 120_000, `${at} settled deliveries`);
      await vhost.closeAllConnections();
    }

    // Every copy of every message ends handled or skipped as a duplicate.
    await eventually(
      () => {
        const copies = new Map<string, number>();
        for (const event of all().filter(settled)) {
          copies.set(event.messageId as string, (copies.get(event.messageId as string) ?? 0) + 1);
        }
        return ids.every((id) => (copies.get(id) ?? 0) >= 2);
      },
      150_000,
      'both copies of every message to be settled',
    );
    await eventually(async () => (await vhost.queueMessages(queue)) === 0, 30_000, 'an empty queue');

    const { rows } = await schema.pool.query<{ n: string; consumers: string }>(
      `SELECT count(*) AS n, count(DISTINCT consumer) AS consumers FROM "${schema.name}".effects`,
    );
    expect(Number(rows[0]?.n)).toBe(messages);
    // Both processes did part of the work.
    expect(Number(rows[0]?.consumers)).toBe(2);
    // No second effect was ever attempted (the unique key would have failed it).
    const refused = all().filter((e) => e.event === 'failed' && e.code === '23505');
    expect(refused).toEqual([]);
    // No message was handled twice (a delivery whose ack a closed connection lost was handled but
    // never reported settled; its redelivery was a duplicate).
    const handled = all().filter((e) => e.event === 'settled' && e.outcome === 'handled');
    expect(new Set(handled.map((e) => e.messageId)).size).toBe(handled.length);
    expect(all().filter((e) => e.event === 'settled' && e.outcome === 'dead-lettered')).toEqual([]);
  }, 240_000);
});
