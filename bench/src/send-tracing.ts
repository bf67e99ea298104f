/**
 * What tracing a publish costs Sluice's producer side, in client CPU, measured in one process so that
 * builds and modes are compared in interleaved rounds (one process per mode moved by ±2 µs per round
 * and could not tell a microsecond apart). Per round, each entry publishes BENCH_MESSAGES messages of
 * 1 KiB through `MessagingTelemetry.publish` into one in-memory transport, 1,000 in flight, with one
 * SDK installed (every trace sampled, a batch span processor, an exporter that drops spans), the W3C
 * propagator and the AsyncLocalStorage context manager:
 * - `sluice`: this checkout's send tracing;
 * - `sluice-before`: the build at BENCH_SLUICE_BEFORE (see `sluice-builds.ts`), when set;
 * - `least`: the least that tracing following the messaging conventions does per send, made here with
 *   the API and SDK directly while Sluice makes no span (instrumentation ownership): the send span
 *   with Sluice's attributes, its context injected into `traceparent`;
 * - `off`: instrumentation ownership and no span, the baseline.
 * Prints each entry's median CPU per publish and its median over `off` in the same round.
 *
 *   npm run bench:send-tracing
 *
 * Environment: BENCH_MESSAGES (per round and entry, default 20,000), BENCH_ROUNDS (default 15),
 * BENCH_SLUICE_BEFORE.
 */
import {
  context,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import * as core from '@sluice/core';
import { record, writeReport } from './bench-report.js';
import { loadAverage, middle, roundOrder } from './rounds.js';
import { before } from './sluice-builds.js';

const messageCount = Number(process.env.BENCH_MESSAGES ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const inFlight = 1_000;

const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};
const provider = new TracerProvider({
  spanProcessors: [new BatchSpanProcessor({ exporter: dropping, maxQueueSize: 65_536 })],
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracer = provider.getTracer('sluice-bench-least');
const leastPropagator = new W3CTraceContextPropagator();

const transport = new core.InMemoryTransport({ broker: new core.InMemoryBroker() });
await transport.connect();
const destination = 'bench.send-tracing.v1';
const body = Buffer.alloc(1_024, 'x');
const sendAttributes: Attributes = {
  'messaging.system': 'inmemory',
  'messaging.operation.name': 'send',
  'messaging.operation.type': 'send',
  'messaging.destination.name': destination,
  'messaging.message.id': 'a-message-id',
  'messaging.message.body.size': body.byteLength,
};

/** One thing measured: `publish` sends one new message (with `least`, in the bench's own send span). */
interface Entry {
  readonly name: string;
  readonly publish: () => Promise<void>;
}

let sequence = 0;
const message = () => ({
  destination: { topic: destination },
  type: destination,
  messageId: `m-${sequence++}`,
  contentType: 'application/json',
  sentAt: new Date(),
  headers: {} as Record<string, string>,
  body,
  mandatory: false,
});

const traced = (name: string, telemetry: core.MessagingTelemetry): Entry => ({
  name,
  publish: () => telemetry.publish([message()]),
});
const untraced = new core.MessagingTelemetry(transport, { spanOwnership: 'instrumentation' });
const entries: Entry[] = [traced('sluice', new core.MessagingTelemetry(transport))];
const previous = await before();
if (previous !== undefined) entries.push(traced('sluice-before', new previous.MessagingTelemetry(transport)));
entries.push({
  name: 'least',
  publish: () => {
    const outgoing = message();
    const span = tracer.startSpan(`send ${destination}`, { kind: SpanKind.PRODUCER });
    span.setAttributes(sendAttributes);
    leastPropagator.inject(trace.setSpan(ROOT_CONTEXT, span), outgoing.headers, defaultTextMapSetter);
    return untraced.publish([outgoing]).finally(() => span.end());
  },
});
entries.push(traced('off', untraced));

/** Publishes `count` messages through `entry`, `inFlight` at a time; the CPU µs per publish. */
async function run(entry: Entry, count: number): Promise<number> {
  await provider.forceFlush();
  const cpu = process.cpuUsage();
  for (let sent = 0; sent < count; sent += inFlight) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < Math.min(inFlight, count - sent); i++) batch.push(entry.publish());
    await Promise.all(batch);
  }
  await provider.forceFlush();
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / count;
}

for (const entry of entries) await run(entry, messageCount);
const perRound = new Map(entries.map((entry) => [entry.name, [] as number[]]));
const loads: string[] = [];
for (let round = 0; round < rounds; round++) {
  loads.push(loadAverage());
  for (const entry of roundOrder(entries, round))
    perRound.get(entry.name)?.push(await run(entry, messageCount));
}
loads.push(loadAverage());
await transport.close();
await provider.shutdown();

const off = perRound.get('off') ?? [];
console.log(
  `\nclient CPU per traced publish, in one process: ${messageCount.toLocaleString('en-US')} publishes of 1 KiB per round and entry, ${inFlight.toLocaleString('en-US')} in flight, in memory, median of ${rounds} rounds in a changed order each round; load average at each round's start and at the end: ${loads.join(' | ')}\n`,
);
console.log('| entry | CPU µs/publish | over off, µs |');
console.log('|---|---:|---:|');
const figures: Record<string, unknown> = {};
for (const entry of entries) {
  const cpu = perRound.get(entry.name) ?? [];
  const over = middle(cpu.map((value, round) => value - (off[round] as number)));
  figures[entry.name] = { cpuMicrosPerPublish: middle(cpu), overOffMicros: over };
  console.log(
    `| ${entry.name} | ${middle(cpu).toFixed(2)} | ${entry.name === 'off' ? '-' : over.toFixed(2)} |`,
  );
}
record('sendTracing', { messages: messageCount, rounds, entries: figures, loadAverages: loads });
writeReport();
