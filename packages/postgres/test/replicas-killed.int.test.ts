/**
 * Replicas SIGKILLed under load, on the real RabbitMQ, PostgreSQL and Redis: three consumer processes
 * share one queue and one store, every message arrives twice, and two of them are killed mid-run with
 * handlers between their effect and the store's complete (or the inbox's commit); a new process
 * replaces each. The killed processes' claims lapse with their lease, and the survivors handle what
 * they held (a message whose handler was killed before writing its effect would otherwise have none).
 * The effect table counts how often each message's effect was written.
 */
import { randomUUID } from 'node:crypto';
import { migrate } from '@sluice/postgres';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from '../../rabbitmq/test/support/broker.js';
import { deleteKeys, redisUrl, testPrefix } from '../../redis/test/support/redis.js';
import { Child, type ChildEvent } from './support/child.js';
import { TestSchema } from './support/database.js';
import { effectMessages } from './support/effects.js';

const messages = 1_500;
const prefetch = 20;

describe.each(['inbox', 'postgres', 'redis'] as const)(
  'consumer processes killed mid-run, dedup through %s',
  (mode) => {
    const cleanups: (() => Promise<unknown>)[] = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    });

    it(
      mode === 'inbox'
        ? 'records every effect exactly once through two SIGKILLs with handlers in flight'
        : 'loses nothing through two SIGKILLs with handlers in flight: the dead claims lapse and the survivors handle them',
      async () => {
        const schema = await TestSchema.create(`killed_${mode}`);
        cleanups.push(() => schema.drop());
        const vhost = await TestVhost.create('sluice-pg-killed');
        cleanups.push(() => vhost.delete());
        const keyPrefix = testPrefix(`killed-${mode}`);
        cleanups.push(() => deleteKeys(keyPrefix));
        await migrate({ pool: schema.pool, schema: schema.name });
        await schema.pool.query(
          `CREATE TABLE "${schema.name}".effects (message_id text PRIMARY KEY, n integer NOT NULL UNIQUE,
          consumer text NOT NULL, times integer NOT NULL DEFAULT 1)`,
        );
        const type = `pgtest.effect-${randomUUID().slice(0, 8)}.v1`;
        const queue = 'pgtest.effects';
        const children: Child[] = [];
        const start = (name: string) => {
          const child = new Child(name, 'consumer.mjs', {
            AMQP_URL: vhost.url,
            DATABASE_URL: schema.url,
            SCHEMA: schema.name,
            QUEUE: queue,
            MESSAGE_TYPE: type,
            MODE: mode,
            PREFETCH: String(prefetch),
            REDIS_URL: redisUrl,
            KEY_PREFIX: keyPrefix,
            COUNT_EFFECTS: '1',
            DELAY_MS: '20',
          });
          cleanups.push(() => child.kill());
          children.push(child);
          return child;
        };
        await Promise.all(['a', 'b', 'c'].map((name) => start(name).ready()));

        const producer = new RabbitMqTransport({ url: vhost.url, connectionName: 'pgtest-producer' });
        cleanups.push(() => producer.close());
        await producer.connect();
        const sent = effectMessages(type, messages);
        for (let from = 0; from < messages; from += 250) {
          const chunk = sent.slice(from, from + 250);
          await producer.publish([...chunk, ...chunk]);
        }
        const all = () => children.flatMap((child) => child.events);
        const settled = (event: ChildEvent) =>
          event.event === 'settled' && (event.outcome === 'handled' || event.outcome === 'duplicate');

        // Kill a running process at 30 % and another at 60 % of the deliveries, each while its
        // handlers are in flight, and start a new one in its place.
        for (const [fraction, victim, replacement] of [
          [0.3, 'a', 'd'],
          [0.6, 'b', 'e'],
        ] as const) {
          await eventually(
            () => all().filter(settled).length >= fraction * 2 * messages,
            120_000,
            `${fraction * 100} % of the deliveries settled`,
          );
          await children.find((child) => child.name === victim)?.kill();
          await start(replacement).ready();
        }

        const { rows: killedRows } = await schema.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${schema.name}".effects WHERE consumer IN ('a', 'b')`,
        );
        expect(Number(killedRows[0]?.n)).toBeGreaterThan(0);
        const count = async () =>
          (
            await schema.pool.query<{ effects: string; written: string | null }>(
              `SELECT count(*) AS effects, sum(times) AS written FROM "${schema.name}".effects`,
            )
          ).rows[0];
        // No message is lost: a claim a dead process held makes the survivors wait for its lease.
        await eventually(
          async () => Number((await count())?.effects) === messages,
          150_000,
          'every message to have its effect',
        );
        await eventually(async () => (await vhost.queueMessages(queue)) === 0, 30_000, 'an empty queue');
        expect(all().filter((e) => e.event === 'settled' && e.outcome === 'dead-lettered')).toEqual([]);
        const extra = Number((await count())?.written) - messages;
        if (mode === 'inbox') {
          // The effect and the "handled" record commit together: a killed call kept neither.
          expect(extra).toBe(0);
        } else {
          // A store records "handled" after the effect: a process killed between the two leaves an
          // effect the store does not know of, which the redelivery writes again. At most what the
          // two killed processes had in flight.
          expect(extra).toBeLessThanOrEqual(2 * prefetch);
        }
      },
      300_000,
    );
  },
);
