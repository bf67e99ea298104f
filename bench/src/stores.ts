/**
 * What exactly-once costs, against plain in the same run:
 * One pool of 20 connections serves every PostgreSQL scenario.
 * - handled msgs/s of a host draining a pre-filled in-memory queue (prefetch 100, no-op handler, a new
 *   message id per message): no dedup (the baseline) vs `idempotency: true` on the in-memory, Redis
 *   and PostgreSQL stores (a claim and a complete per message), and vs the PostgreSQL inbox (a
 *   transaction per message: BEGIN, the record's INSERT, COMMIT);
 * - publish throughput on RabbitMQ (confirms), 20 concurrent writers: plain `bus.publish` (each
 *   awaiting its confirm) vs the outbox (each publish in a transaction of its own, committed; counted
 *   when the relay has published and marked every row, so it includes the relay's confirms), with the
 *   NOTIFY trigger (the default) and without it (`migrate({ outboxNotify: false })`, the relay polling
 *   every 100 ms): notifying commits take one global lock in turn.
 * Each row is the best of BENCH_ROUNDS runs (the machine is shared); ratios are to the baseline.
 *
 *   npm run bench:stores        (from the repository root; builds first)
 *
 * Environment: BENCH_MESSAGES (consume, per run, default 20,000), BENCH_PUBLISHES (publish, per run,
 * default 5,000), BENCH_ROUNDS (default 3), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
 * REDIS_URL (default redis://127.0.0.1:6379), AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 * It works in a schema, a key prefix and an exchange of its own and deletes them at the end.
 */
import { randomUUID } from 'node:crypto';
import {
  Bus,
  defineCommand,
  defineEvent,
  InMemoryBroker,
  InMemoryIdempotencyStore,
  InMemoryTransport,
  jsonCodec,
  silentLogger,
  type IdempotencyStore,
  type Middleware,
} from '@sluice/core';
import {
  migrate,
  OutboxRelay,
  PostgresIdempotencyStore,
  PostgresInbox,
  PostgresOutbox,
  PostgresUnitOfWork,
} from '@sluice/postgres';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { RedisIdempotencyStore } from '@sluice/redis';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import { timeDrain } from './no-op-host.js';

const messages = Number(process.env.BENCH_MESSAGES ?? 20_000);
const publishes = Number(process.env.BENCH_PUBLISHES ?? 5_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const writers = 20;

const id = randomUUID().slice(0, 8);
const schema = `bench_${id}`;
const keyPrefix = `sluice-bench:${id}:`;
const Job = defineCommand<{ n: number }>('bench.job.v1');
const Placed = defineEvent<{ n: number }>(`bench.placed-${id}.v1`);

const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
await migrate({ pool, schema });

/** ms for a host to drain `messages` fresh messages, deduplicating through `store` or `middleware`. */
async function drain(store: IdempotencyStore | undefined, middleware: Middleware[] = []): Promise<number> {
  const broker = new InMemoryBroker();
  broker.declareQueue('jobs');
  const body = jsonCodec.encode({ n: 1 });
  for (let i = 0; i < messages; i++) {
    broker.publish({
      messageId: randomUUID(),
      type: Job.type,
      contentType: jsonCodec.contentType,
      sentAt: new Date(),
      headers: {},
      body,
      destination: { queue: 'jobs' },
      mandatory: true,
    });
  }
  return timeDrain({
    transport: new InMemoryTransport({ broker }),
    queue: 'jobs',
    message: Job,
    consumer: store === undefined ? {} : { idempotency: true },
    idempotencyStore: store,
    middleware,
    count: messages,
  });
}

/** ms for `writers` concurrent writers to make `publishes` publishes through `publish`. */
async function concurrently(publish: (n: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < publishes) await publish(next++);
    }),
  );
  return performance.now() - started;
}

async function plainPublish(): Promise<number> {
  const transport = new RabbitMqTransport({ url: amqpUrl, logger: silentLogger });
  await transport.connect();
  const bus = new Bus(transport);
  const elapsed = await concurrently((n) => bus.publish(Placed, { n }));
  await transport.close();
  return elapsed;
}

async function outboxPublish(notify: boolean): Promise<number> {
  await migrate({ pool, schema, outboxNotify: notify });
  const broker = new RabbitMqTransport({ url: amqpUrl, logger: silentLogger });
  const relayTransport = new RabbitMqTransport({
    url: amqpUrl,
    logger: silentLogger,
    connectionName: 'bench-relay',
  });
  await broker.connect();
  const bus = new Bus(new PostgresOutbox({ pool, schema, transport: broker }));
  const unitOfWork = new PostgresUnitOfWork(pool);
  const relay = new OutboxRelay({
    pool,
    schema,
    transport: relayTransport,
    logger: silentLogger,
    ...(notify ? {} : { pollIntervalMs: 100 }),
  });
  await relay.start();
  const started = performance.now();
  await concurrently((n) => unitOfWork.run(() => bus.publish(Placed, { n })));
  while (relay.publishedCount < publishes) await new Promise((resolve) => setTimeout(resolve, 5));
  const elapsed = performance.now() - started;
  await relay.stop();
  await relayTransport.close();
  await broker.close();
  await pool.query(`DELETE FROM "${schema}".sluice_outbox`);
  return elapsed;
}

const redis = new Redis(redisUrl);
const pgStore = new PostgresIdempotencyStore({ pool, schema, cleanupIntervalMs: 0 });
const redisStore = new RedisIdempotencyStore({ client: redis, keyPrefix });
const inbox = new PostgresInbox({ pool, schema, cleanupIntervalMs: 0 });

const consume: [string, () => Promise<number>][] = [
  ['no dedup (baseline)', () => drain(undefined)],
  ['idempotency: in-memory store', () => drain(new InMemoryIdempotencyStore())],
  ['idempotency: Redis store', () => drain(redisStore)],
  ['idempotency: PostgreSQL store', () => drain(pgStore)],
  ['PostgreSQL inbox (a transaction per message)', () => drain(undefined, [inbox.middleware])],
];
const publish: [string, () => Promise<number>][] = [
  ['plain bus.publish, confirmed (baseline)', plainPublish],
  ['outbox: publish in a transaction, relayed with confirms, NOTIFY', () => outboxPublish(true)],
  ['outbox, no NOTIFY: the relay polls every 100 ms', () => outboxPublish(false)],
];

async function best(scenarios: [string, () => Promise<number>][]): Promise<Map<string, number>> {
  const results = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of scenarios)
      results.set(name, Math.min(results.get(name) ?? Infinity, await run()));
  }
  return results;
}

function table(title: string, count: number, results: Map<string, number>): void {
  const rates = [...results].map(([name, ms]) => [name, count / (ms / 1000)] as const);
  const baseline = rates[0]?.[1] ?? 1;
  console.log(`\n${title}\n`);
  console.log('| scenario | msgs/s | ratio to baseline |');
  console.log('|---|---:|---:|');
  for (const [name, rate] of rates) {
    console.log(
      `| ${name} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / baseline).toFixed(2)} |`,
    );
  }
}

try {
  console.log(`exactly-once costs, best of ${rounds} rounds, Node ${process.version}`);
  table(
    `handled msgs/s: ${messages} messages on the in-memory transport, prefetch 100, no-op handler`,
    messages,
    await best(consume),
  );
  table(
    `publish throughput on RabbitMQ: ${publishes} events, ${writers} concurrent writers`,
    publishes,
    await best(publish),
  );
} finally {
  await inbox.close();
  await pgStore.close();
  await redisStore.close();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  await pool.end();
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.deleteExchange(Placed.type);
  await connection.close();
}
