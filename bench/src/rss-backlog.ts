/**
 * Memory while a ConsumerHost (prefetch 100, no-op handler) drains a RabbitMQ backlog of
 * BENCH_BACKLOG messages (default 100,000, 1 KiB JSON): this process's RSS sampled every 100 ms. With
 * at most a prefetch of messages in the client at once, RSS must stay flat: the report gives the peak
 * and the slope of a least-squares line through the samples of the second half of the drain (after
 * warm-up), in KiB per 10,000 messages.
 *
 *   AMQP_URL=... node bench/dist/rss-backlog.js      (npm run perf runs it)
 */
import { randomUUID } from 'node:crypto';
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
const note = 'x'.repeat(1024 - JSON.stringify({ id: 12345, note: '' }).length);

/** Slope of the least-squares line through (x, y). */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const raw = await RawClient.connect(url, 'sluice-bench-rss');
const declarer = new RabbitMqTransport({ url, connectionName: 'sluice-bench' });
await declarer.connect();
await (
  await declarer.subscribe({ queue, topics: [Job.type], prefetch: 1, retryDelaysMs: [] }, (d) => d.release())
).close();
await declarer.close();
await raw.fill(queue, backlog, { id: 12345, note }, Job.type);

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
    if (count === backlog) done();
  },
});
const samples: [handled: number, rssBytes: number][] = [];
const sample = () => samples.push([handled, process.memoryUsage.rss()]);
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
await raw.delete([queue, `${queue}.dlq`], [Job.type]);
await raw.close();

const mib = (bytes: number) => bytes / 2 ** 20;
const secondHalf = samples.filter(([count]) => count >= backlog / 2);
const kibPer10k = slope(secondHalf.map(([count, rss]) => [count / 10_000, rss / 1024]));
const peak = Math.max(...samples.map(([, rss]) => rss));
const first = samples[0]![1];
console.log(
  `\nRSS while a ConsumerHost (prefetch ${prefetch}) drains ${backlog.toLocaleString('en-US')} messages of 1 KiB from RabbitMQ (${seconds.toFixed(1)} s, ${samples.length} samples):`,
);
console.log('| RSS at start MiB | peak MiB | slope over the second half, KiB per 10,000 messages |');
console.log('|---:|---:|---:|');
console.log(`| ${mib(first).toFixed(1)} | ${mib(peak).toFixed(1)} | ${kibPer10k.toFixed(1)} |`);
console.log(
  `heap used after a full GC: ${mib(heapBeforeGc).toFixed(1)} MiB before, ${mib(heapAfterGc).toFixed(1)} MiB after the drain`,
);
record('rss', {
  backlog,
  prefetch,
  seconds,
  startMiB: mib(first),
  peakMiB: mib(peak),
  slopeKiBPer10kMessages: kibPer10k,
  heapAfterGcMiB: { before: mib(heapBeforeGc), after: mib(heapAfterGc) },
  samples: samples.length,
});
writeReport();
