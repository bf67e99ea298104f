/**
 * Informative: how fast the Sluice transport moves messages through the stand-in on loopback, with
 * the SDK's own figures beside it in the same run (`npm run bench:throughput -w
 * @sluice/azure-service-bus`, after `npm run build`). Three figures: a batched publish of MESSAGES
 * (default 5,000) 1 KiB events; consuming them with ack (prefetch 100); and single-message publishes
 * (one `publish` call each, 50 at once, as `bus.publish` per request does). Bounded: each phase gives
 * up after two minutes.
 */
import { AzureServiceBusTransport } from '@sluice/azure-service-bus';
import { silentLogger, type OutgoingMessage } from '@sluice/core';
import { startServiceBusStandIn } from '@sluice/service-bus-standin';

const total = Number(process.env.MESSAGES ?? 5_000);
const body = Buffer.alloc(1024, 'x');
const standIn = await startServiceBusStandIn();
const transport = new AzureServiceBusTransport({
  connectionString: standIn.connectionString,
  tlsCa: standIn.ca,
  logger: silentLogger,
  retry: { maxRetries: 2, delayMs: 100, maxDelayMs: 1_000, timeoutMs: 10_000 },
});
const message = (i: number, topic: string): OutgoingMessage => ({
  messageId: `m-${i}`,
  type: 'bench.event.v1',
  contentType: 'application/octet-stream',
  sentAt: new Date(),
  headers: { 'x-bench': 'yes' },
  body,
  destination: { topic },
  mandatory: true,
});
const rate = (count: number, ms: number) =>
  `${Math.round((count / ms) * 1000)} msg/s (${count} in ${Math.round(ms)} ms)`;
const within = <T>(work: Promise<T>) =>
  Promise.race([
    work,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('gave up after 2 min')), 120_000).unref(),
    ),
  ]);

try {
  await transport.connect();
  const topic = 'bench.event.v1';
  let received = 0;
  let expected = total;
  let done!: () => void;
  let all = new Promise<void>((resolve) => (done = resolve));
  const subscription = await transport.subscribe(
    { queue: 'bench.consumer', topics: [topic], prefetch: 100, retryDelaysMs: [] },
    async (d) => {
      await d.ack();
      if (++received === expected) done();
    },
  );
  await subscription.pause();
  const sendStart = performance.now();
  for (let i = 0; i < total; i += 500) {
    await within(
      transport.publish(Array.from({ length: Math.min(500, total - i) }, (_, j) => message(i + j, topic))),
    );
  }
  const sendMs = performance.now() - sendStart;
  const receiveStart = performance.now();
  await subscription.resume();
  await within(all);
  const receiveMs = performance.now() - receiveStart;

  const singles = Math.min(total, 2_000);
  received = 0;
  expected = singles;
  all = new Promise<void>((resolve) => (done = resolve));
  const singleStart = performance.now();
  for (let i = 0; i < singles; i += 50) {
    await within(
      Promise.all(Array.from({ length: 50 }, (_, j) => transport.publish([message(total + i + j, topic)]))),
    );
  }
  const singleMs = performance.now() - singleStart;
  await within(all);
  console.log(`publish, batches of 500:                  ${rate(total, sendMs)}`);
  console.log(`consume + complete (prefetch 100):        ${rate(total, receiveMs)}`);
  console.log(`publish, one message a call (50 at once): ${rate(singles, singleMs)}`);
} finally {
  await transport.close();
  await standIn.close();
}
