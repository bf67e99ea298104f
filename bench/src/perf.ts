/**
 * `npm run perf`: the performance report. One command, against the same broker in one run, reusing
 * the benchmarks of this folder (each in a process of its own, its figures read from BENCH_JSON):
 * - raw amqplib vs Sluice on RabbitMQ (`rabbitmq.js`, quorum queues, Sluice's default): consume with
 *   prefetch 100 (ConsumerHost vs a raw consumer), confirmed publish (`bus.publish` and `bus.send` vs a
 *   raw confirm channel), each ratio the median over the rounds of Sluice / raw in the same round;
 *   end-to-end latency p50/p99 at 500 and at 2,000 msg/s;
 * - tracing on vs off (`tracing-overhead.js`) on RabbitMQ, the batch span processor exporting to the
 *   real Jaeger (started here from `npm run tools:build`'s binary), and once with the spans dropped
 *   after the processor, which separates the SDK's cost from the export's;
 * - memory while a ConsumerHost drains a backlog (`rss-backlog.js`, filled by another process): RSS
 *   and heap peaks and slopes, and the live heap (after a full GC every 10,000 messages), at
 *   PERF_BACKLOG and at a tenth of it. Bounded by the prefetch: the live heap stays within 4 MiB of
 *   where it started and grows by less than 100 KiB per 10,000 messages (10,000 retained messages
 *   would be 9.8 MiB), at either size.
 * Prints a markdown table and writes `bench/results/<date>.json` with `ratios` (Sluice / baseline):
 * `consume`, `publish`, `tracing` (on / off), and the load average before and after each part.
 *
 * Environment: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672), PERF_MESSAGES (per throughput
 * run, default 20,000), PERF_TRACING_MESSAGES (per tracing run, default 30,000: a consume run of 20,000 lasts
 * half a second, and single rounds' ratios then moved from 0.6 to 1.3 on this shared machine),
 * PERF_ROUNDS (default 5), PERF_BACKLOG (default 100,000).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingToolLine, startJaeger, toolPath } from '@sluice/tools';
import { loadAverage } from './rounds.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const messages = process.env.PERF_MESSAGES ?? '20000';
const tracingMessages = process.env.PERF_TRACING_MESSAGES ?? '30000';
const rounds = process.env.PERF_ROUNDS ?? '5';
const backlog = process.env.PERF_BACKLOG ?? '100000';
const here = fileURLToPath(new URL('.', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'sluice-perf-'));

interface Throughput {
  readonly label: string;
  readonly messagesPerSecond: number;
  /** Median over the rounds of this client's msg/s over raw amqplib's in the same round (raw: 1). */
  readonly ratio?: number;
}
interface Latency {
  readonly ratePerSecond: number;
  readonly paths: readonly { path: string; p50Ms: number; p99Ms: number; addedP99Ms: number }[];
}
interface Figures {
  throughput?: Record<string, Throughput>;
  latency?: Latency;
  tracing?: {
    offPerSecond: number;
    onPerSecond: number;
    ratio: number;
    cpuRatio: number;
    spansExported: number;
    spansDropped: number;
    spansFailed: number;
  };
  rss?: {
    backlog: number;
    prefetch: number;
    startMiB: number;
    peakMiB: number;
    slopeKiBPer10kMessages: number;
    heap: { startMiB: number; peakMiB: number; slopeKiBPer10kMessages: number };
    heapAfterGcMiB: { before: number; after: number };
    liveHeap: { peakMiB: number; slopeKiBPer10kMessages: number };
  };
}

/** The load average (1, 5, 15 min) before and after each benchmark, by benchmark name. */
const loads: Record<string, { before: string; after: string }> = {};

/** Runs one benchmark script with `env`; resolves with the figures it wrote. Its output is passed through. */
async function bench(script: string, name: string, env: Record<string, string>): Promise<Figures> {
  const before = loadAverage();
  const json = join(scratch, `${name}.json`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', join(here, script)], {
      env: { ...process.env, AMQP_URL: url, BENCH_JSON: json, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${script} (${name}) exited with status ${code}`);
  loads[name] = { before, after: loadAverage() };
  return JSON.parse(readFileSync(json, 'utf8')) as Figures;
}

const jaegerBinary = toolPath('jaeger');
if (jaegerBinary === undefined) throw new Error(missingToolLine('jaeger'));

const started = new Date();
const rabbitmq: Record<number, Figures> = {};
for (const rate of [500, 2_000]) {
  rabbitmq[rate] = await bench('rabbitmq.js', `rabbitmq-${rate}`, {
    BENCH_LATENCY_RATE: String(rate),
    BENCH_LATENCY_ROUNDS: rounds,
    BENCH_ROUNDS: rounds,
    BENCH_MESSAGES: messages,
    // The throughput scenarios once, with the first latency rate.
    BENCH_ONLY:
      rate === 500 ? '^quorum/(consume100/(raw|sluice)|publish/(raw|sluice|sluice-publish))$' : '^$',
  });
}
// Tracing twice: spans dropped after the batch processor (the SDK's own cost), then exported to Jaeger.
const tracingDropped = await bench('tracing-overhead.js', 'tracing-dropped', {
  BENCH_MESSAGES: tracingMessages,
  BENCH_ROUNDS: rounds,
});
const jaeger = await startJaeger(jaegerBinary);
let tracing: Figures;
try {
  tracing = await bench('tracing-overhead.js', 'tracing', {
    BENCH_OTLP_ENDPOINT: jaeger.otlpEndpoint,
    BENCH_MESSAGES: tracingMessages,
    BENCH_ROUNDS: rounds,
  });
} finally {
  await jaeger.stop();
}
const rss = await bench('rss-backlog.js', 'rss', { BENCH_BACKLOG: backlog });
const rssSmall = await bench('rss-backlog.js', 'rss-small', {
  BENCH_BACKLOG: String(Math.max(10_000, Math.round(Number(backlog) / 10))),
});
rmSync(scratch, { recursive: true, force: true });

const throughput = rabbitmq[500]?.throughput ?? {};
const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`no ${what} in the benchmark output`);
  return value;
};
const consume = need(throughput['quorum/consume100/sluice'], 'quorum/consume100/sluice');
const consumeRaw = need(throughput['quorum/consume100/raw'], 'quorum/consume100/raw');
const publish = need(throughput['quorum/publish/sluice-publish'], 'quorum/publish/sluice-publish');
const send = need(throughput['quorum/publish/sluice'], 'quorum/publish/sluice');
const publishRaw = need(throughput['quorum/publish/raw'], 'quorum/publish/raw');
const traced = need(tracing.tracing, 'tracing');
const tracedDropped = need(tracingDropped.tracing, 'tracing (dropped)');
const memory = need(rss.rss, 'rss');
const memorySmall = need(rssSmall.rss, 'rss (small backlog)');
const latencies = [500, 2_000].map((rate) => need(rabbitmq[rate]?.latency, `latency at ${rate}/s`));

const ratios = {
  consume: need(consume.ratio, 'the consume ratio'),
  publish: need(publish.ratio, 'the publish ratio'),
  tracing: traced.ratio,
};
/** Bounded by the prefetch: the live heap within 4 MiB of its start and growing < 100 KiB per 10,000 messages. */
const bounded = [memorySmall, memory].every(
  (m) => m.liveHeap.peakMiB - m.heapAfterGcMiB.before < 4 && m.liveHeap.slopeKiBPer10kMessages < 100,
);
const n = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const signed = (value: number, digits: number) => `${value >= 0 ? '+' : '-'}${n(Math.abs(value), digits)}`;

const rows: string[] = [
  '| measure | baseline | Sluice | ratio |',
  '|---|---:|---:|---:|',
  `| consume msg/s, quorum queue, prefetch 100 (raw amqplib / ConsumerHost) | ${n(consumeRaw.messagesPerSecond)} | ${n(consume.messagesPerSecond)} | ${ratios.consume.toFixed(2)} |`,
  `| confirmed publish msg/s, quorum queue (raw confirm channel / bus.publish) | ${n(publishRaw.messagesPerSecond)} | ${n(publish.messagesPerSecond)} | ${ratios.publish.toFixed(2)} |`,
  `| confirmed publish msg/s, quorum queue (raw confirm channel / bus.send) | ${n(publishRaw.messagesPerSecond)} | ${n(send.messagesPerSecond)} | ${need(send.ratio, 'the send ratio').toFixed(2)} |`,
];
for (const latency of latencies) {
  const rawPath = latency.paths[0];
  const sluicePath = latency.paths.at(-1);
  if (rawPath === undefined || sluicePath === undefined) continue;
  rows.push(
    `| end-to-end latency p50 / p99 ms at ${n(latency.ratePerSecond)} msg/s (raw / bus.publish -> ConsumerHost) | ${n(rawPath.p50Ms, 2)} / ${n(rawPath.p99Ms, 2)} | ${n(sluicePath.p50Ms, 2)} / ${n(sluicePath.p99Ms, 2)} | added p99 ${signed(sluicePath.addedP99Ms, 2)} ms |`,
  );
}
const spanNote = (t: NonNullable<Figures['tracing']>) =>
  t.spansDropped > 0 || t.spansFailed > 0
    ? ` (${n(t.spansDropped)} spans dropped, ${n(t.spansFailed)} failed)`
    : '';
rows.push(
  `| consume msg/s on RabbitMQ, tracing off / on (batch processor, exporting to Jaeger over OTLP/HTTP, flush included)${spanNote(traced)} | ${n(traced.offPerSecond)} | ${n(traced.onPerSecond)} | ${ratios.tracing.toFixed(2)} (CPU per message off / on ${traced.cpuRatio.toFixed(2)}) |`,
  `| the same with the spans dropped after the batch processor (the SDK's cost alone)${spanNote(tracedDropped)} | ${n(tracedDropped.offPerSecond)} | ${n(tracedDropped.onPerSecond)} | ${tracedDropped.ratio.toFixed(2)} (CPU per message off / on ${tracedDropped.cpuRatio.toFixed(2)}) |`,
);
for (const m of [memorySmall, memory]) {
  rows.push(
    `| RSS MiB draining ${n(m.backlog)} messages, prefetch ${m.prefetch} (at start / peak; slope over the second half) | ${n(m.startMiB, 1)} | ${n(m.peakMiB, 1)} | ${signed(m.slopeKiBPer10kMessages, 0)} KiB per 10k messages |`,
    `| live heap MiB (after a full GC every 10,000 messages) draining ${n(m.backlog)} messages (at start / peak; slope) | ${n(m.heapAfterGcMiB.before, 1)} | ${n(m.liveHeap.peakMiB, 1)} | ${signed(m.liveHeap.slopeKiBPer10kMessages, 0)} KiB per 10k messages |`,
  );
}
console.log(
  `\n## Sluice performance report (${started.toISOString()}, Node ${process.version}, ${messages} messages per throughput run and ${tracingMessages} per tracing run, median of ${rounds} rounds)\n`,
);
console.log(rows.join('\n'));
console.log(
  `\nratios (Sluice / baseline): consume ${ratios.consume.toFixed(2)}, publish ${ratios.publish.toFixed(2)}, tracing ${ratios.tracing.toFixed(2)}`,
);
console.log(
  `memory bounded by the prefetch (live heap within 4 MiB of its start, slope < 100 KiB per 10,000 messages, at ${n(memorySmall.backlog)} and ${n(memory.backlog)} messages): ${bounded ? 'yes' : 'NO'}; RSS peak ${n(memorySmall.peakMiB, 1)} MiB at ${n(memorySmall.backlog)} messages, ${n(memory.peakMiB, 1)} MiB at ${n(memory.backlog)} (garbage not yet collected: the live heap shows what is held)`,
);
console.log(
  `load average (1, 5, 15 min) before / after each part: ${Object.entries(loads)
    .map(([name, l]) => `${name} ${l.before} / ${l.after}`)
    .join('; ')}`,
);

const resultsDir = fileURLToPath(new URL('../results', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${started.toISOString().slice(0, 10)}.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      startedAt: started.toISOString(),
      node: process.version,
      settings: {
        messages: Number(messages),
        tracingMessages: Number(tracingMessages),
        rounds: Number(rounds),
        backlog: Number(backlog),
      },
      ratios,
      throughput,
      latency: latencies,
      tracing: traced,
      tracingDropped: tracedDropped,
      rss: memory,
      rssSmallBacklog: memorySmall,
      memoryBoundedByPrefetch: bounded,
      loadAverages: loads,
      table: rows.join('\n'),
    },
    null,
    2,
  )}\n`,
);
console.log(`\nwritten: ${file}`);
