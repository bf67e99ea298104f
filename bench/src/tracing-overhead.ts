/**
 * Consume throughput with tracing on (SDK with a batch span processor and an exporter that drops
 * spans) against tracing off (no SDK), in the same run. Transport: RabbitMQ when AMQP_URL is set,
 * else in memory. With BENCH_OTLP_ENDPOINT set (`npm run perf` sets it to the real Jaeger it starts)
 * spans are exported there over OTLP/HTTP instead of dropped; BENCH_JSON names a file for the figures.
 *
 * Each round measures off and on back to back, in alternating order (off first in even rounds), and
 * the ratio is the median over the rounds of on / off in the same round, so that the machine's slower
 * and faster moments cancel out. A traced run's time includes flushing the span processor after the
 * drain: the spans still queued then are part of the work of those messages. Every span is counted
 * (ended, handed to the exporter, exported, failed): spans the batch processor dropped (its queue full)
 * or the exporter failed would make tracing look cheaper than it is, and are reported.
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
  type SpanProcessor,
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

/** Spans of every traced run: ended, handed to the exporter, exported, failed to export. */
const spans = { ended: 0, handed: 0, exported: 0, failed: 0 };

/**
 * Counts the spans handed to export; drops them (measuring the cost of creating and batching them, not
 * of a network), or passes them on to `next` and counts what it answers.
 */
class CountingExporter implements SpanExporter {
  constructor(private readonly next?: SpanExporter) {}
  export(batch: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    spans.handed += batch.length;
    if (this.next === undefined) {
      spans.exported += batch.length;
      done({ code: 0 });
      return;
    }
    this.next.export(batch, (result) => {
      if (result.code === 0) spans.exported += batch.length;
      else spans.failed += batch.length;
      done(result);
    });
  }
  async shutdown(): Promise<void> {
    await this.next?.shutdown();
  }
}

/** Counts the spans that end (before the batch processor, which may drop some). */
const endedCounter: SpanProcessor = {
  onStart: () => undefined,
  onEnd: () => void spans.ended++,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

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

/** One drain: its wall-clock ms and this process's CPU time (user + system) in µs. */
interface Run {
  readonly ms: number;
  readonly cpuMicros: number;
}

/**
 * Fills `queue` first, then times a host draining it, so only consumption is measured; `after` (timed
 * too) runs once every message was handled.
 */
async function consumeRun(queue: string, after: () => Promise<void> = () => Promise.resolve()): Promise<Run> {
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
  const transport = await createTransport();
  const cpu = process.cpuUsage();
  const ms = await timeDrain({ transport, queue, message: Job, count: messageCount, after });
  const { user, system } = process.cpuUsage(cpu);
  await deleteQueue(queue);
  return { ms, cpuMicros: user + system };
}

/** On RabbitMQ, deletes what a run declared (in memory there is nothing to delete). */
async function deleteQueue(queue: string): Promise<void> {
  if (!process.env.AMQP_URL) return;
  const raw = await RawClient.connect(process.env.AMQP_URL, 'sluice-bench-cleanup');
  await raw.delete([queue, deadLetterQueueName(queue)], []);
  await raw.close();
}

/** Registers a new provider; the API keeps a registered one and ignores another, so clear it first. */
function enableTracing(exporter: CountingExporter): TracerProvider {
  disableTracing();
  const provider = new TracerProvider({
    spanProcessors: [endedCounter, new BatchSpanProcessor({ exporter, maxQueueSize: 65_536 })],
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

const runs: { off: Run; on: Run }[] = [];
// The exchange of Job.type is shared by every run and deleted at the end.
for (let round = 0; round < rounds; round++) {
  const off = async () => {
    disableTracing();
    return consumeRun(`bench.tracing-off-${randomUUID().slice(0, 8)}`);
  };
  const on = async () => {
    const provider = enableTracing(newExporter());
    // The spans still queued when the last message was handled are exported within the timed run.
    const run = await consumeRun(`bench.tracing-on-${randomUUID().slice(0, 8)}`, () => provider.forceFlush());
    await provider.shutdown();
    return run;
  };
  if (round % 2 === 0) {
    const offRun = await off();
    runs.push({ off: offRun, on: await on() });
  } else {
    const onRun = await on();
    runs.push({ off: await off(), on: onRun });
  }
}
disableTracing();
if (process.env.AMQP_URL) {
  const raw = await RawClient.connect(process.env.AMQP_URL, 'sluice-bench-cleanup');
  await raw.delete([], [Job.type]);
  await raw.close();
}

const rate = (run: Run) => messageCount / (run.ms / 1000);
const cpuPerMessage = (run: Run) => run.cpuMicros / messageCount;
/** The median (the upper middle one of an even count). */
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const offPerSecond = median(runs.map((r) => rate(r.off)));
const onPerSecond = median(runs.map((r) => rate(r.on)));
const ratio = median(runs.map((r) => rate(r.on) / rate(r.off)));
// CPU per message moves much less than wall-clock time on a shared machine; off / on estimates the
// throughput ratio of a CPU-bound consumer (Jaeger's own work runs in its process, not counted here).
const cpuRatio = median(runs.map((r) => cpuPerMessage(r.off) / cpuPerMessage(r.on)));
const dropped = spans.ended - spans.handed;
console.log(
  `\nconsume throughput with tracing on vs off: ${messageCount} messages of 1 KiB, prefetch 100, median of ${rounds} rounds (off and on back to back, alternating which goes first), transport ${process.env.AMQP_URL ? 'rabbitmq' : 'in-memory'}; a traced run includes flushing its spans\n`,
);
console.log('| tracing | msgs/s | µs/msg | CPU µs/msg |');
console.log('|---|---:|---:|---:|');
for (const [name, perSecond] of Object.entries({ off: offPerSecond, on: onPerSecond })) {
  const cpu = median(runs.map((r) => cpuPerMessage(name === 'off' ? r.off : r.on)));
  console.log(
    `| ${name} | ${Math.round(perSecond).toLocaleString('en-US')} | ${(1e6 / perSecond).toFixed(1)} | ${cpu.toFixed(1)} |`,
  );
}
console.log(
  `\nratio on/off (median of the rounds' ratios): ${ratio.toFixed(2)} (target >= 0.80); CPU per message off/on ${cpuRatio.toFixed(2)}; spans ended ${spans.ended}, exported ${spans.exported}${otlpEndpoint === undefined ? ' (dropped by the counting exporter)' : ` to ${otlpEndpoint}`}, dropped by the batch processor ${dropped}, failed to export ${spans.failed}`,
);
if (dropped > 0 || spans.failed > 0) {
  console.log(
    'warning: spans were dropped or failed to export: the traced runs did less than the whole work',
  );
}
record('tracing', {
  messages: messageCount,
  rounds,
  offPerSecond,
  onPerSecond,
  ratio,
  roundRatios: runs.map((r) => rate(r.on) / rate(r.off)),
  cpuMicrosPerMessage: {
    off: median(runs.map((r) => cpuPerMessage(r.off))),
    on: median(runs.map((r) => cpuPerMessage(r.on))),
  },
  cpuRatio,
  spansEnded: spans.ended,
  spansExported: spans.exported,
  spansDropped: dropped,
  spansFailed: spans.failed,
  exportedTo: otlpEndpoint ?? null,
});
writeReport();
