/**
 * Consume throughput with tracing on (SDK with a batch span processor and an exporter that drops
 * spans) against tracing off (no SDK), in the same run. Transport: RabbitMQ when AMQP_URL is set,
 * else in memory. With BENCH_OTLP_ENDPOINT set (`npm run perf` sets it to the real Jaeger it starts)
 * spans are exported there over OTLP/HTTP instead of dropped; BENCH_JSON names a file for the figures.
 *
 *   npm run bench:tracing
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import {
  Bus,
  deadLetterQueueName,
  defineCommand,
  InMemoryBroker,
  InMemoryTransport,
  type Transport,
} from '@sluice/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { record, writeReport } from './bench-report.js';
import { timeDrain } from './no-op-host.js';
import { RawClient } from './rabbitmq-raw.js';

const messageCount = Number(process.env.BENCH_MESSAGES ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const Job = defineCommand<{ id: number; note: string }>('bench.traced-job.v1');

/**
 * Counts the spans handed to export; drops them (measuring the cost of creating and batching them, not
 * of a network), or passes them on to `next`.
 */
class CountingExporter implements SpanExporter {
  static exported = 0;
  constructor(private readonly next?: SpanExporter) {}
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    CountingExporter.exported += spans.length;
    if (this.next === undefined) done({ code: 0 });
    else this.next.export(spans, done);
  }
  async shutdown(): Promise<void> {
    await this.next?.shutdown();
  }
}

const otlpEndpoint = process.env.BENCH_OTLP_ENDPOINT;

const broker = new InMemoryBroker();

function createTransport(): Promise<Transport> | Transport {
  if (process.env.AMQP_URL) {
    return import('@sluice/rabbitmq').then(
      ({ RabbitMqTransport }) => new RabbitMqTransport({ url: process.env.AMQP_URL }),
    );
  }
  return new InMemoryTransport({ broker });
}

/** Fills `queue` first, then times a host draining it, so only consumption is measured. */
async function consumeRun(queue: string): Promise<number> {
  const filler = await createTransport();
  await filler.connect();
  const declared = await filler.subscribe(
    { queue, topics: [Job.type], prefetch: 1, retryDelaysMs: [] },
    (delivery) => delivery.release(),
  );
  await declared.close();
  const bus = new Bus(filler);
  const note = 'x'.repeat(950);
  for (let i = 0; i < messageCount; i += 500) {
    const size = Math.min(500, messageCount - i);
    await bus.sendBatch(
      Job,
      Array.from({ length: size }, (_, j) => ({ id: i + j, note })),
    );
  }
  await filler.close();
  const elapsed = await timeDrain({
    transport: await createTransport(),
    queue,
    message: Job,
    count: messageCount,
  });
  await deleteQueue(queue);
  return elapsed;
}

/** On RabbitMQ, deletes what a run declared (in memory there is nothing to delete). */
async function deleteQueue(queue: string): Promise<void> {
  if (!process.env.AMQP_URL) return;
  const raw = await RawClient.connect(process.env.AMQP_URL, 'sluice-bench-cleanup');
  await raw.delete([queue, deadLetterQueueName(queue)], []);
  await raw.close();
}

function enableTracing(exporter: CountingExporter): TracerProvider {
  const provider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 65_536 })],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return provider;
}

function disableTracing(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

/** A fresh exporter per tracing run (shutting the provider down shuts its exporter down). */
const newExporter = () =>
  new CountingExporter(
    otlpEndpoint === undefined ? undefined : new OTLPTraceExporter({ url: `${otlpEndpoint}/v1/traces` }),
  );

const results = { off: Infinity, on: Infinity };
// The exchange of Job.type is shared by every run and deleted at the end.
for (let round = 0; round < rounds; round++) {
  disableTracing();
  results.off = Math.min(results.off, await consumeRun(`bench.tracing-off-${randomUUID().slice(0, 8)}`));
  const provider = enableTracing(newExporter());
  results.on = Math.min(results.on, await consumeRun(`bench.tracing-on-${randomUUID().slice(0, 8)}`));
  await provider.shutdown();
}
disableTracing();
if (process.env.AMQP_URL) {
  const raw = await RawClient.connect(process.env.AMQP_URL, 'sluice-bench-cleanup');
  await raw.delete([], [Job.type]);
  await raw.close();
}

const rate = (ms: number) => messageCount / (ms / 1000);
console.log(
  `\nconsume throughput with tracing on vs off: ${messageCount} messages of 1 KiB, prefetch 100, best of ${rounds}, transport ${process.env.AMQP_URL ? 'rabbitmq' : 'in-memory'}\n`,
);
console.log('| tracing | msgs/s | µs/msg |');
console.log('|---|---:|---:|');
for (const [name, ms] of Object.entries(results)) {
  console.log(
    `| ${name} | ${Math.round(rate(ms)).toLocaleString('en-US')} | ${((ms * 1000) / messageCount).toFixed(1)} |`,
  );
}
console.log(
  `\nratio on/off: ${(rate(results.on) / rate(results.off)).toFixed(2)} (target >= 0.80); spans exported: ${CountingExporter.exported}${otlpEndpoint === undefined ? ' (dropped)' : ` to ${otlpEndpoint}`}`,
);
record('tracing', {
  messages: messageCount,
  offPerSecond: rate(results.off),
  onPerSecond: rate(results.on),
  ratio: rate(results.on) / rate(results.off),
  spansExported: CountingExporter.exported,
  exportedTo: otlpEndpoint ?? null,
});
writeReport();
