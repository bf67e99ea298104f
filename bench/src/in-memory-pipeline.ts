/**
 * In-memory throughput of the consumer pipeline: the raw transport (deliver + ack) as the baseline,
 * the host with its minimal pipeline, and the host with every middleware on. Each scenario drains the
 * same pre-filled queue; the table prints msgs/s, µs per message and the ratio to the baseline.
 *
 *   npm run bench            (from the repository root; builds first)
 */
import { randomUUID } from 'node:crypto';
import {
  defineCommand,
  InMemoryBroker,
  InMemoryTransport,
  jsonCodec,
  type EndpointOptions,
  type MessageDefinition,
  type OutgoingMessage,
} from '@sluice/core';
import { z } from 'zod';
import { timeDrain } from './no-op-host.js';

const messageCount = Number(process.env.BENCH_MESSAGES ?? 200_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

const Job = defineCommand('bench.job.v1', {
  schema: z.object({ id: z.string(), amount: z.number(), note: z.string() }),
});

function fill(broker: InMemoryBroker, queue: string): void {
  broker.declareQueue(queue);
  const body = jsonCodec.encode({ id: 'job', amount: 12.5, note: 'x'.repeat(200) });
  for (let i = 0; i < messageCount; i++) {
    const message: OutgoingMessage = {
      messageId: randomUUID(),
      type: Job.type,
      contentType: jsonCodec.contentType,
      sentAt: new Date(),
      headers: { tenant: 'bench' },
      body,
      destination: { queue },
      mandatory: true,
    };
    broker.publish(message);
  }
}

async function rawTransport(): Promise<number> {
  const broker = new InMemoryBroker();
  fill(broker, 'raw');
  const transport = new InMemoryTransport({ broker });
  await transport.connect();
  let handled = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    void transport.subscribe(
      { queue: 'raw', topics: [], prefetch: 100, retryDelaysMs: [] },
      async (delivery) => {
        await delivery.ack();
        if (++handled === messageCount) resolve();
      },
    );
  });
  const elapsed = performance.now() - started;
  await transport.close();
  return elapsed;
}

function throughHost(message: MessageDefinition, consumer: EndpointOptions = {}): Promise<number> {
  const broker = new InMemoryBroker();
  fill(broker, 'jobs');
  const transport = new InMemoryTransport({ broker });
  return timeDrain({ transport, queue: 'jobs', message, consumer, count: messageCount });
}

const Unvalidated = defineCommand<unknown>('bench.job.v1');

const scenarios: [string, () => Promise<number>][] = [
  ['raw in-memory transport (deliver + ack)', rawTransport],
  ['host, no middleware (decode, no schema)', () => throughHost(Unvalidated)],
  [
    'host, all middleware (zod, dedup, retry, breaker, timeout)',
    () =>
      throughHost(Job, {
        idempotency: true,
        circuitBreaker: true,
        timeoutMs: 30_000,
        retry: { attempts: 5, immediate: 3 },
      }),
  ],
];

const best = new Map<string, number>();
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of scenarios) {
    const elapsed = await run();
    best.set(name, Math.min(best.get(name) ?? Infinity, elapsed));
  }
}

const baseline = messageCount / ((best.get(scenarios[0]![0]) as number) / 1000);
console.log(
  `\nin-memory pipeline throughput: ${messageCount} messages, prefetch 100, best of ${rounds} rounds, Node ${process.version}\n`,
);
console.log(`| scenario | msgs/s | µs/msg | ratio to raw |`);
console.log(`|---|---:|---:|---:|`);
for (const [name] of scenarios) {
  const ms = best.get(name) as number;
  const rate = messageCount / (ms / 1000);
  console.log(
    `| ${name} | ${Math.round(rate).toLocaleString('en-US')} | ${((ms * 1000) / messageCount).toFixed(2)} | ${(rate / baseline).toFixed(2)} |`,
  );
}
