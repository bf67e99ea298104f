/**
 * What tracing costs, in the same run: tracing off (no SDK) against tracing on (SDK with a batch span
 * processor, every trace sampled, and an exporter that drops spans), against an SDK that samples
 * nothing (parent-based, root never sampled: what an unsampled message costs), and against `floor`:
 * Sluice without an SDK while the bench itself makes the spans Sluice makes per message, with their
 * attributes, through an SDK of its own (what creating and exporting those spans costs in place,
 * without the context manager, propagation or links: a floor under `on`), and against `floor-min`, the
 * same with only the process span of a delivery, the send span of a publish: the one span per message
 * that any tracing following the messaging conventions makes (they also ask for settle spans, one of
 * which may cover a batch of messages), so a floor under all of them that record the same attributes
 * (Sluice's: the required ones and the recommended ones it sets), and against `least`: that span plus
 * carrying the trace context as such a tracing must (the send span's context injected into
 * `traceparent`; on delivery the producer's extracted, the process span its child and linked to it,
 * the handler run in its context), all made by the bench with the API and SDK directly while Sluice
 * traces nothing: what Sluice's tracing would cost if it did no more than that, for
 * - consume: a ConsumerHost with a no-op handler (prefetch 100) draining a filled queue (process and
 *   settle spans per message);
 * - publish: `bus.send` with 1,000 sends in flight, each awaiting its confirm (a send span per message).
 * Per scenario and mode: msg/s, this process's CPU per message, spans per message, the ratio of msg/s
 * to off and the CPU tracing adds per span ((CPU on - CPU off) / spans per message), each against off
 * in the same round; each the median of BENCH_ROUNDS rounds, the modes in a changed order each round
 * (`roundOrder`).
 * Each round also measures the SDK's own CPU per span outside any message path (a bare span, and one
 * with a send span's attributes). Transport: RabbitMQ when AMQP_URL is set, else in memory. With
 * BENCH_OTLP_ENDPOINT set (`npm run perf` sets it to the real Jaeger it starts) spans are exported
 * there over OTLP/HTTP instead of dropped; BENCH_JSON names a file for the figures.
 *
 * A traced run's time and CPU include flushing the span processor after the work: the spans still
 * queued then are part of that work. Every span is counted (ended, handed to the exporter, failed to
 * export): spans the batch processor dropped (its queue full) or the exporter failed would make
 * tracing look cheaper than it is, and are reported.
 *
 *   npm run bench:tracing            (AMQP_URL=amqp://guest:guest@127.0.0.1:5672 for RabbitMQ)
 *
 * Environment: BENCH_MESSAGES (per run, default 20,000), BENCH_ROUNDS (default 5), BENCH_MODES (the
 * modes to run, comma-separated, e.g. `least`; `off` and `on` are always run; default all).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
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
  type Middleware,
  type Transport,
} from '@sluice/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { record, writeReport } from './bench-report.js';
import { timeDrain } from './no-op-host.js';
import { deferred } from './rabbitmq-measure.js';
import { RawClient } from './rabbitmq-raw.js';
import { loadAverage, middle, roundOrder } from './rounds.js';

const messageCount = Number(process.env.BENCH_MESSAGES ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const amqpUrl = process.env.AMQP_URL;
const otlpEndpoint = process.env.BENCH_OTLP_ENDPOINT;
const id = randomUUID().slice(0, 8);
const Job = defineCommand<{ id: number; note: string }>(`bench.traced-job-${id}.v1`);
const Sent = defineCommand<{ id: number; note: string }>(`bench.traced-sent-${id}.v1`);
const note = 'x'.repeat(950);
const randomHex = (length: number) => randomBytes(length / 2).toString('hex');

/**
 * Counts the spans handed to export; drops them (measuring the cost of creating and batching them, not
 * of a network), or passes them on to `next`.
 */
class CountingExporter implements SpanExporter {
  exported = 0;
  failed = 0;
  constructor(private readonly next?: SpanExporter) {}
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.exported += spans.length;
    if (this.next === undefined) done({ code: 0 });
    else
      this.next.export(spans, (result) => {
        if (result.code !== 0) this.failed += spans.length;
        done(result);
      });
  }
  async shutdown(): Promise<void> {
    await this.next?.shutdown();
  }
}

type Mode = 'off' | 'on' | 'unsampled' | 'floor' | 'floor-min' | 'least';
const allModes: readonly Mode[] = ['off', 'on', 'unsampled', 'floor', 'floor-min', 'least'];
/**
 * The modes BENCH_MODES names (comma-separated; unset or empty: all), with `off`, which every ratio is
 * to, and `on`, which the report (`record`, read by `perf`) and `unsampled`'s added CPU per span need.
 */
const modes = chosenModes(process.env.BENCH_MODES);
function chosenModes(names: string | undefined): readonly Mode[] {
  const named = (names ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (named.length === 0) return allModes;
  const unknown = named.filter((name) => !(allModes as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new Error(`BENCH_MODES: unknown mode ${unknown.join(', ')} (modes: ${allModes.join(', ')})`);
  return allModes.filter((mode) => mode === 'off' || mode === 'on' || named.includes(mode));
}
/**
 * What the bench traces itself in a mode where Sluice traces nothing: the spans Sluice makes (`floor`),
 * only the process or send span (`floor-min`), or the least a tracing that follows the conventions does
 * (`least`: that span, with the producer's context carried in `traceparent`, extracted and the handler
 * run in it).
 */
type BenchTracing = 'spans' | 'one-span' | 'least';
const benchTracing: Partial<Record<Mode, BenchTracing>> = {
  floor: 'spans',
  'floor-min': 'one-span',
  least: 'least',
};
/** `least`'s own propagator: Sluice, which reads the global one, neither injects nor extracts. */
const leastPropagator = new W3CTraceContextPropagator();

let broker = new InMemoryBroker();

async function createTransport(): Promise<Transport> {
  if (amqpUrl !== undefined) {
    const { RabbitMqTransport } = await import('@sluice/rabbitmq');
    return new RabbitMqTransport({ url: amqpUrl, connectionName: 'sluice-bench-tracing' });
  }
  return new InMemoryTransport({ broker });
}

/** Declares `queue` bound to `type`'s exchange, as a consumer would. */
async function declare(transport: Transport, queue: string, type: string): Promise<void> {
  const declared = await transport.subscribe(
    { queue, topics: [type], prefetch: 1, retryDelaysMs: [] },
    (delivery) => delivery.release(),
  );
  await declared.close();
}

/** Counts the spans that end, before the batch processor (which drops spans when its queue is full). */
class EndedCounter implements SpanProcessor {
  ended = 0;
  onStart(): void {}
  onEnd(): void {
    this.ended++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Sdk {
  readonly exporter: CountingExporter | undefined;
  readonly counter: EndedCounter | undefined;
  /** Where the bench traces itself: what, and the tracer of an SDK Sluice does not see. */
  readonly bench: { readonly tracing: BenchTracing; readonly tracer: Tracer } | undefined;
  /** Exports every span ended so far. */
  flush(): Promise<void>;
  /** Flushes and shuts the SDK down. */
  stop(): Promise<void>;
}

/** The SDK for a mode (none when off). */
function install(mode: Mode): Sdk {
  trace.disable();
  context.disable();
  propagation.disable();
  if (mode === 'off')
    return {
      exporter: undefined,
      counter: undefined,
      bench: undefined,
      flush: async () => undefined,
      stop: async () => undefined,
    };
  const exporter = new CountingExporter(
    otlpEndpoint === undefined ? undefined : new OTLPTraceExporter({ url: `${otlpEndpoint}/v1/traces` }),
  );
  const counter = new EndedCounter();
  const provider = new TracerProvider({
    ...(mode === 'unsampled' ? { sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) } : {}),
    spanProcessors: [counter, new BatchSpanProcessor({ exporter, maxQueueSize: 65_536 })],
  });
  // Where the bench traces itself, Sluice runs without an SDK or propagator (the API's no-ops); the
  // bench makes, with this provider, the spans Sluice would make per message (`floor-min`: only the
  // process or send span), with their attributes: what creating and exporting them costs in place,
  // without the context manager or propagation. `least` adds those, through the global context
  // manager (which Sluice's own context switch per delivery then uses too) and a propagator of its own.
  const tracing = benchTracing[mode];
  if (tracing === undefined || tracing === 'least')
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (tracing === undefined) {
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  return {
    exporter,
    counter,
    bench: tracing === undefined ? undefined : { tracing, tracer: provider.getTracer('sluice-bench-floor') },
    flush: () => provider.forceFlush(),
    stop: async () => {
      await provider.forceFlush();
      await provider.shutdown();
    },
  };
}

/**
 * One measured run: wall time and this process's CPU, each with the flush of the run's spans, and its
 * spans: exported, dropped by the batch processor (ended but never handed to the exporter), failed.
 */
interface Run {
  readonly ms: number;
  readonly cpuMicros: number;
  readonly spans: number;
  readonly dropped: number;
  readonly failed: number;
}

/** `work` resolves with the ms it timed itself (a drain, without its fill), or undefined. */
async function measured(sdk: Sdk, work: () => Promise<number | undefined>): Promise<Run> {
  await sdk.flush();
  const before = {
    exported: sdk.exporter?.exported ?? 0,
    failed: sdk.exporter?.failed ?? 0,
    ended: sdk.counter?.ended ?? 0,
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const timed = await work();
  const flushFrom = performance.now();
  await sdk.flush();
  const ms = (timed ?? flushFrom - started) + (performance.now() - flushFrom);
  const used = process.cpuUsage(cpu);
  await sdk.stop();
  const spans = (sdk.exporter?.exported ?? 0) - before.exported;
  return {
    ms,
    cpuMicros: used.user + used.system,
    spans,
    dropped: (sdk.counter?.ended ?? 0) - before.ended - spans,
    failed: (sdk.exporter?.failed ?? 0) - before.failed,
  };
}

/** The attributes every span Sluice makes has (the messaging conventions' ones). */
const spanAttributes = (operation: string, type: string, destination: string): Attributes => ({
  'messaging.system': 'rabbitmq',
  'messaging.operation.name': operation,
  'messaging.operation.type': type,
  'messaging.destination.name': destination,
  'server.address': '127.0.0.1',
  'server.port': 5672,
});

/** The attributes of Sluice's send span (one message id for all: making ids is not the SDK's cost). */
const sendAttributes: Attributes = {
  ...spanAttributes('publish', 'send', Sent.type),
  'messaging.message.id': randomUUID(),
  'messaging.message.body.size': 1_024,
  'messaging.message.conversation_id': randomUUID(),
};

/**
 * The bench's own consume tracing, around the no-op handler while Sluice itself traces nothing: per
 * message what Sluice makes when it traces (`spans`: a CONSUMER process span with its attributes, a
 * CLIENT settle span under it), the process span alone (`one-span`), or (`least`) the process span as
 * the child of the producer's context extracted from `traceparent`, linked to it, with the handler run
 * in its context.
 */
function benchConsumeTracing(tracer: Tracer, queue: string, tracing: BenchTracing): Middleware {
  const destination = `${Job.type}:${queue}`;
  const processAttributes: Attributes = {
    ...spanAttributes('process', 'process', destination),
    'messaging.message.body.size': 1_024,
    'messaging.consumer.group.name': queue,
    'sluice.delivery.attempt': 1,
  };
  const settleAttributes = spanAttributes('ack', 'settle', destination);
  return async (invocation, next) => {
    const { message } = invocation.delivery;
    const producer =
      tracing === 'least'
        ? leastPropagator.extract(ROOT_CONTEXT, message.headers, defaultTextMapGetter)
        : ROOT_CONTEXT;
    const producerSpan = trace.getSpanContext(producer);
    const process = tracer.startSpan(
      `process ${destination}`,
      { kind: SpanKind.CONSUMER, links: producerSpan === undefined ? [] : [{ context: producerSpan }] },
      producer,
    );
    process.setAttributes({
      ...processAttributes,
      'messaging.message.id': message.messageId,
      'messaging.message.conversation_id': message.correlationId ?? message.messageId,
    });
    if (tracing === 'least') await context.with(trace.setSpan(producer, process), next);
    else await next();
    if (tracing === 'spans') {
      const settle = tracer.startSpan(
        `ack ${destination}`,
        { kind: SpanKind.CLIENT, attributes: settleAttributes },
        trace.setSpan(context.active(), process),
      );
      settle.end();
    }
    process.end();
  };
}

/**
 * Fills a fresh queue (with the mode's SDK: an unsampled fill gives unsampled trace context), then
 * times a ConsumerHost draining it.
 */
async function consumeRun(mode: Mode): Promise<Run> {
  const queue = `bench.tracing.${mode}.${randomUUID().slice(0, 8)}`;
  const sdk = install(mode);
  const filler = await createTransport();
  await filler.connect();
  await declare(filler, queue, Job.type);
  const bus = new Bus(filler);
  // `least` extracts the producer's context itself: the fill carries a sampled one, as `on`'s does.
  const fillOptions =
    sdk.bench?.tracing === 'least'
      ? { headers: { traceparent: `00-${randomHex(32)}-${randomHex(16)}-01` } }
      : {};
  for (let i = 0; i < messageCount; i += 500) {
    const size = Math.min(500, messageCount - i);
    await bus.sendBatch(
      Job,
      Array.from({ length: size }, (_, j) => ({ id: i + j, note })),
      fillOptions,
    );
  }
  await filler.close();
  const consumer = await createTransport();
  // The fill's spans are flushed before the timed part (`measured`): they are not counted.
  // Every mode has one middleware, so that a bench-traced mode's differs from off by its tracing only.
  const middleware: Middleware[] = [
    sdk.bench === undefined
      ? (_invocation, next) => next()
      : benchConsumeTracing(sdk.bench.tracer, queue, sdk.bench.tracing),
  ];
  const run = await measured(sdk, () =>
    timeDrain({ transport: consumer, queue, message: Job, count: messageCount, middleware }),
  );
  await cleanUp([queue, deadLetterQueueName(queue)]);
  return run;
}

/** Times `bus.send` of every message with 1,000 sends in flight, to a queue that takes them. */
async function publishRun(mode: Mode): Promise<Run> {
  const queue = `bench.tracing-publish.${mode}.${randomUUID().slice(0, 8)}`;
  const sdk = install(mode);
  const producer = await createTransport();
  await producer.connect();
  await declare(producer, queue, Sent.type);
  const bus = new Bus(producer);
  const payload = { id: 1, note };
  await bus.send(Sent, payload);
  const run = await measured(sdk, async () => {
    let outstanding = 0;
    let slot = deferred();
    let failed: unknown;
    const settled = () => {
      outstanding--;
      slot.resolve();
    };
    for (let i = 0; i < messageCount; i++) {
      while (outstanding >= 1_000) {
        await slot.promise;
        slot = deferred();
      }
      outstanding++;
      const span = sdk.bench?.tracer.startSpan(`send ${Sent.type}`, { kind: SpanKind.PRODUCER });
      span?.setAttributes(sendAttributes);
      // `least` carries the send span's context in `traceparent`, as Sluice's tracing does.
      const headers: Record<string, string> = {};
      if (span !== undefined && sdk.bench?.tracing === 'least')
        leastPropagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, defaultTextMapSetter);
      bus.send(Sent, payload, { headers }).then(
        () => {
          span?.end();
          settled();
        },
        (error: unknown) => {
          failed = error;
          span?.end();
          settled();
        },
      );
    }
    while (outstanding > 0) {
      await slot.promise;
      slot = deferred();
    }
    if (failed !== undefined) throw failed;
    return undefined;
  });
  await producer.close();
  await cleanUp([queue, deadLetterQueueName(queue)]);
  return run;
}

/** On RabbitMQ, deletes `queues`; in memory, starts a fresh broker. */
async function cleanUp(queues: readonly string[]): Promise<void> {
  if (amqpUrl === undefined) {
    broker = new InMemoryBroker();
    return;
  }
  const raw = await RawClient.connect(amqpUrl, 'sluice-bench-cleanup');
  await raw.delete(queues, []);
  await raw.close();
}

/**
 * What the SDK itself costs per span, in this process with the `on` SDK (the same batch processor and
 * exporter): a bare span, and a span with the attributes of Sluice's send span (the messaging
 * conventions' required and recommended ones), each started and ended `floorSpans` times. Sluice's
 * added CPU per span cannot go below the second; what it adds above it is Sluice's own.
 */
const floorSpans = 50_000;
async function sdkFloor(): Promise<{ bare: number; attributed: number }> {
  const sdk = install('on');
  const tracer = trace.getTracer('sluice-bench-floor');
  const perSpan = async (make: () => void): Promise<number> => {
    for (let i = 0; i < 5_000; i++) make();
    await sdk.flush();
    const cpu = process.cpuUsage();
    for (let i = 0; i < floorSpans; i++) make();
    await sdk.flush();
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / floorSpans;
  };
  const bare = await perSpan(() => tracer.startSpan(`send ${Sent.type}`).end());
  const attributed = await perSpan(() =>
    tracer.startSpan(`send ${Sent.type}`, { kind: SpanKind.PRODUCER, attributes: sendAttributes }).end(),
  );
  await sdk.stop();
  return { bare, attributed };
}

const scenarios = { consume: consumeRun, publish: publishRun } as const;
type Scenario = keyof typeof scenarios;
const runs = new Map<string, Run[]>();
const floors: { bare: number; attributed: number }[] = [];
const loads: string[] = [];
for (let round = 0; round < rounds; round++) {
  loads.push(loadAverage());
  for (const scenario of Object.keys(scenarios) as Scenario[]) {
    for (const mode of roundOrder(modes, round)) {
      const key = `${scenario}/${mode}`;
      runs.set(key, [...(runs.get(key) ?? []), await scenarios[scenario](mode)]);
    }
  }
  floors.push(await sdkFloor());
}
loads.push(loadAverage());
install('off');
if (amqpUrl !== undefined) {
  const raw = await RawClient.connect(amqpUrl, 'sluice-bench-cleanup');
  await raw.delete([], [Job.type, Sent.type]);
  await raw.close();
}

const perSecond = (run: Run) => messageCount / (run.ms / 1000);
/**
 * A mode's medians over the rounds; its ratio and added CPU are taken against `off` in the same round
 * (the broker's state drifts between rounds more than the modes differ), then the median.
 */
const summary = (scenario: Scenario, mode: Mode) => {
  const taken = runs.get(`${scenario}/${mode}`) ?? [];
  const off = runs.get(`${scenario}/off`) ?? [];
  const paired = (of: (run: Run, offRun: Run) => number) =>
    middle(taken.map((run, round) => of(run, off[round] as Run)));
  return {
    perSecond: middle(taken.map(perSecond)),
    cpuMicrosPerMessage: middle(taken.map((r) => r.cpuMicros / messageCount)),
    spansPerMessage: middle(taken.map((r) => r.spans / messageCount)),
    ratio: paired((run, offRun) => perSecond(run) / perSecond(offRun)),
    cpuRatio: paired((run, offRun) => offRun.cpuMicros / run.cpuMicros),
    addedCpuMicrosPerMessage: paired((run, offRun) => (run.cpuMicros - offRun.cpuMicros) / messageCount),
  };
};

console.log(
  `\ntracing ${modes.filter((mode) => mode !== 'off').join(' / ')} vs off: ${messageCount.toLocaleString('en-US')} messages of 1 KiB per run, median of ${rounds} rounds (ratio and added CPU against off in the same round), transport ${amqpUrl === undefined ? 'in-memory' : 'rabbitmq'}, spans ${otlpEndpoint === undefined ? 'dropped after the batch processor' : `exported to ${otlpEndpoint}`}; load average at each round's start and at the end: ${loads.join(' | ')}\n`,
);
console.log(
  '| scenario | tracing | msg/s | ratio to off | client CPU µs/msg | spans/msg | added CPU µs/span |',
);
console.log('|---|---|---:|---:|---:|---:|---:|');
const recorded: Record<string, unknown> = {};
for (const scenario of Object.keys(scenarios) as Scenario[]) {
  const on = summary(scenario, 'on');
  for (const mode of modes) {
    const s = summary(scenario, mode);
    // Per span that tracing on makes (unsampled makes none), a bench-traced mode's per span of its own.
    const spans = benchTracing[mode] !== undefined ? s.spansPerMessage : on.spansPerMessage;
    const added = mode === 'off' ? undefined : s.addedCpuMicrosPerMessage / spans;
    recorded[`${scenario}/${mode}`] = { ...s, addedCpuMicrosPerSpan: added ?? null };
    console.log(
      `| ${scenario} | ${mode} | ${Math.round(s.perSecond).toLocaleString('en-US')} | ${s.ratio.toFixed(2)} | ${s.cpuMicrosPerMessage.toFixed(2)} | ${s.spansPerMessage.toFixed(2)} | ${added === undefined ? '-' : added.toFixed(2)} |`,
    );
  }
}
const consumeOn = summary('consume', 'on');
const consumeOff = summary('consume', 'off');
const all = [...runs.values()].flat();
const dropped = all.reduce((sum, r) => sum + r.dropped, 0);
const failed = all.reduce((sum, r) => sum + r.failed, 0);
const ratios: Record<Exclude<Mode, 'off'>, string> = {
  on: 'ratio on/off',
  unsampled: 'nothing sampled (unsampled/off)',
  floor: "the SDK's spans alone (floor/off)",
  'floor-min': 'only the process or send span (floor-min/off)',
  least: 'the least a tracing following the conventions does (least/off)',
};
const ratioOf = (scenario: Scenario, mode: Mode) => summary(scenario, mode).ratio.toFixed(2);
const ratioLines = modes.flatMap((mode) =>
  mode === 'off'
    ? []
    : [
        `${ratios[mode]}: consume ${ratioOf('consume', mode)}, publish ${ratioOf('publish', mode)}${mode === 'on' ? ' (target >= 0.90)' : ''}`,
      ],
);
console.log(
  `\n${ratioLines.join('; ')}; spans dropped by the batch processor ${dropped}, failed to export ${failed}`,
);
const floor = {
  bare: middle(floors.map((f) => f.bare)),
  attributed: middle(floors.map((f) => f.attributed)),
};
console.log(
  `the SDK's own CPU per span (same processor and exporter, ${floorSpans.toLocaleString('en-US')} spans, median of ${rounds} rounds): bare ${floor.bare.toFixed(2)} µs, with a send span's 9 attributes ${floor.attributed.toFixed(2)} µs (the floor under "added CPU µs/span"; target <= 1.50 added)`,
);
if (dropped > 0 || failed > 0) {
  console.log(
    'warning: spans were dropped or failed to export: the traced runs did less than the whole work',
  );
}
record('tracing', {
  messages: messageCount,
  offPerSecond: consumeOff.perSecond,
  onPerSecond: consumeOn.perSecond,
  ratio: consumeOn.ratio,
  cpuRatio: consumeOn.cpuRatio,
  spansExported: all.reduce((sum, r) => sum + r.spans, 0),
  spansDropped: dropped,
  spansFailed: failed,
  exportedTo: otlpEndpoint ?? null,
  scenarios: recorded,
  sdkCpuMicrosPerSpan: floor,
  loadAverages: loads,
});
writeReport();
