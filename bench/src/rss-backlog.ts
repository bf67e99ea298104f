/**
 * Memory while a ConsumerHost (prefetch 100, no-op handler) drains a RabbitMQ backlog of
 * BENCH_BACKLOG messages (default 100,000, 1 KiB JSON). The backlog is filled by another process
 * (`fill-queue.js`), so this one holds nothing but the consumer: its RSS and V8 heap are sampled every
 * 100 ms from a baseline taken after a full GC. With at most a prefetch of messages in the client at
 * once, memory must not grow with the messages drained: the report gives the peaks above the baseline
 * and the slope of a least-squares line through the samples of the second half of the drain (after
 * warm-up), in KiB per 10,000 messages, and the heap after a full GC at the end. A peak of RSS or
 * heap is mostly garbage not yet collected (V8 collects lazily, more so the faster it allocates), so
 * the live heap is measured too: a full GC after every 10,000th message, the heap used after it; what
 * the consumer retains stays flat when it holds no more than a prefetch of messages. `npm run perf`
 * runs it at two backlog sizes.
 *
 *   AMQP_URL=... node bench/dist/rss-backlog.js      (npm run perf runs it)
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defineCommand } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { record, writeReport } from './bench-report.js';
import { noOpHost } from './no-op-host.js';
import { RawClient } from './rabbitmq-raw.js';

const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const backlog = Number(process.env.BENCH_BACKLOG ?? 100_000);
const prefetch = 100;
const queue = `bench.rss.${randomUUID().slice(0, 8)}`;
const Job = defineCommand<{ id: number; note: string }>(`bench.rss-job-${randomUUID().slice(0, 8)}.v1`);

/** Slope of the least-squares line through (x, y). */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const declarer = new RabbitMqTransport({ url, connectionName: 'sluice-bench' });
await declarer.connect();
await (
  await declarer.subscribe({ queue, topics: [Job.type], prefetch: 1, retryDelaysMs: [] }, (d) => d.release())
).close();
await declarer.close();
await promisify(execFile)(
  process.execPath,
  [fileURLToPath(new URL('./fill-queue.js', import.meta.url)), queue, String(backlog), Job.type],
  { env: { ...process.env, AMQP_URL: url } },
);

let handled = 0;
let done!: () => void;
const finished = new Promise<void>((resolve) => (done = resolve));
const host = noOpHost({
  transport: new RabbitMqTransport({ url, connectionName: 'sluice-bench' }),
  queue,
  message: Job,
  consumer: { prefetch },
  onHandled: (count) => {
    handled = count;
    if (count % 10_000 === 0 && global.gc !== undefined) {
      global.gc();
      live.push([count, process.memoryUsage().heapUsed]);
    }
    if (count === backlog) done();
  },
});
const samples: [handled: number, rssBytes: number, heapBytes: number][] = [];
/** Heap used after a full GC, every 10,000 messages. */
const live: [handled: number, heapBytes: number][] = [];
const sample = () => {
  const { rss, heapUsed } = process.memoryUsage();
  samples.push([handled, rss, heapUsed]);
};
global.gc?.();
const heapBeforeGc = process.memoryUsage().heapUsed;
sample();
const timer = setInterval(sample, 100);
const started = performance.now();
await host.start();
await finished;
const seconds = (performance.now() - started) / 1000;
clearInterval(timer);
sample();
global.gc?.();
const heapAfterGc = process.memoryUsage().heapUsed;
await host.stop();
const raw = await RawClient.connect(url, 'sluice-bench-rss');
await raw.delete([queue, `${queue}.dlq`], [Job.type]);
await raw.close();

const mib = (bytes: number) => bytes / 2 ** 20;
const secondHalf = samples.filter(([count]) => count >= backlog / 2);
const kibPer10k = (index: 1 | 2) => slope(secondHalf.map((s) => [s[0] / 10_000, s[index] / 1024] as const));
const [, startRss, startHeap] = samples[0]!;
const peakRss = Math.max(...samples.map(([, rss]) => rss));
const peakHeap = Math.max(...samples.map(([, , heap]) => heap));
console.log(
  `\nMemory while a ConsumerHost (prefetch ${prefetch}) drains ${backlog.toLocaleString('en-US')} messages of 1 KiB from RabbitMQ (${seconds.toFixed(1)} s, ${samples.length} samples; the backlog filled by another process):`,
);
console.log('| | at start MiB | peak MiB | slope over the second half, KiB per 10,000 messages |');
console.log('|---|---:|---:|---:|');
console.log(
  `| RSS | ${mib(startRss).toFixed(1)} | ${mib(peakRss).toFixed(1)} | ${kibPer10k(1).toFixed(1)} |`,
);
console.log(
  `| V8 heap used | ${mib(startHeap).toFixed(1)} | ${mib(peakHeap).toFixed(1)} | ${kibPer10k(2).toFixed(1)} |`,
);
const livePeak = Math.max(heapBeforeGc, ...live.map(([, heap]) => heap));
const liveSlope = live.length < 2 ? 0 : slope(live.map(([count, heap]) => [count / 10_000, heap / 1024]));
console.log(
  `live heap (used after a full GC): ${mib(heapBeforeGc).toFixed(1)} MiB before, at most ${mib(livePeak).toFixed(1)} MiB during (every 10,000 messages, slope ${liveSlope.toFixed(1)} KiB per 10,000), ${mib(heapAfterGc).toFixed(1)} MiB after the drain`,
);
record('rss', {
  backlog,
  prefetch,
  seconds,
  startMiB: mib(startRss),
  peakMiB: mib(peakRss),
  slopeKiBPer10kMessages: kibPer10k(1),
  heap: { startMiB: mib(startHeap), peakMiB: mib(peakHeap), slopeKiBPer10kMessages: kibPer10k(2) },
  heapAfterGcMiB: { before: mib(heapBeforeGc), after: mib(heapAfterGc) },
  liveHeap: {
    peakMiB: mib(livePeak),
    slopeKiBPer10kMessages: liveSlope,
    samples: live.map(([count, heap]) => [count, mib(heap)]),
  },
  samples: samples.length,
});
writeReport();
