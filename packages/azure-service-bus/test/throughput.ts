/**
 * Informative: how fast the Sluice transport moves messages through the stand-in on loopback, with
 * the plain SDK doing the same in the same run as the baseline, after it (so a warmer process favours
 * the baseline) (`npm run bench:throughput -w @sluice/azure-service-bus`, after `npm run build`).
 * Three phases, each through a topic whose subscription forwards to a queue: a batched publish of
 * MESSAGES (default 5,000) 1 KiB events (batches of 500); consuming them with complete (prefetch, or
 * `maxConcurrentCalls`, 100); and single-message sends (one call each, 50 at once, as `bus.publish`
 * per request does). Bounded: each phase gives up after two minutes.
 */
import { ServiceBusAdministrationClient, ServiceBusClient, type ServiceBusMessage } from '@azure/service-bus';
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
const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);
const rate = (count: number, ms: number) =>
  `${String(perSecond(count, ms)).padStart(6)} msg/s (${count} in ${Math.round(ms)} ms)`;
const within = <T>(work: Promise<T>) =>
  Promise.race([
    work,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('gave up after 2 min')), 120_000).unref(),
    ),
  ]);

/** How long `count` sends take, 50 at once, `send(i)` each. */
async function timeSends(count: number, send: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i += 50) {
    await within(Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => send(i + j))));
  }
  return performance.now() - start;
}

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
  const singleMs = await timeSends(singles, (i) => transport.publish([message(total + i, topic)]));
  await within(all);
  const sluice = [sendMs, receiveMs, singleMs];
  const sdk = await baseline(singles);
  const phases = [
    ['publish, batches of 500', total],
    ['consume + complete (prefetch 100)', total],
    ['publish, one message a call (50 at once)', singles],
  ] as const;
  console.log(`${'phase'.padEnd(42)}${'sluice'.padEnd(32)}${'plain SDK'.padEnd(32)}sluice/SDK`);
  for (const [i, [name, count]] of phases.entries()) {
    const [ours, theirs] = [sluice[i] as number, sdk[i] as number];
    console.log(
      `${name.padEnd(42)}${rate(count, ours).padEnd(32)}${rate(count, theirs).padEnd(32)}${(perSecond(count, ours) / perSecond(count, theirs)).toFixed(2)}`,
    );
  }
} finally {
  await transport.close();
  await standIn.close();
}

/** The same three phases with the plain SDK (a topic forwarding to a queue); their times in ms. */
async function baseline(singles: number): Promise<number[]> {
  const admin = new ServiceBusAdministrationClient(
    standIn.connectionString,
    standIn.administrationClientOptions,
  );
  await admin.createQueue('bench.sdk');
  await admin.createTopic('bench.sdk.v1');
  await admin.createSubscription('bench.sdk.v1', 'bench.sdk', { forwardTo: 'bench.sdk' });
  const client = new ServiceBusClient(standIn.connectionString);
  try {
    const sender = client.createSender('bench.sdk.v1');
    const sdkMessage = (i: number): ServiceBusMessage => ({
      messageId: `sdk-${i}`,
      body,
      contentType: 'application/octet-stream',
      subject: 'bench.event.v1',
      applicationProperties: { 'x-bench': 'yes', 'sluice-sent-at': Date.now() },
    });
    const sendStart = performance.now();
    // As the transport does: a call of 500 in as many full batches as they need.
    for (let i = 0; i < total; i += 500) {
      let batch = await sender.createMessageBatch();
      for (let j = i; j < Math.min(total, i + 500); j++) {
        if (batch.tryAddMessage(sdkMessage(j))) continue;
        await within(sender.sendMessages(batch));
        batch = await sender.createMessageBatch();
        batch.tryAddMessage(sdkMessage(j));
      }
      await within(sender.sendMessages(batch));
    }
    const sendMs = performance.now() - sendStart;
    const receiver = client.createReceiver('bench.sdk', { maxAutoLockRenewalDurationInMs: 0 });
    let received = 0;
    let expected = total;
    let done!: () => void;
    let all = new Promise<void>((resolve) => (done = resolve));
    const receiveStart = performance.now();
    const subscription = receiver.subscribe(
      {
        processMessage: async (m) => {
          await receiver.completeMessage(m);
          if (++received === expected) done();
        },
        processError: async () => {},
      },
      { autoCompleteMessages: false, maxConcurrentCalls: 100 },
    );
    await within(all);
    const receiveMs = performance.now() - receiveStart;
    received = 0;
    expected = singles;
    all = new Promise<void>((resolve) => (done = resolve));
    const singleMs = await timeSends(singles, (i) => sender.sendMessages(sdkMessage(total + i)));
    await within(all);
    await subscription.close();
    return [sendMs, receiveMs, singleMs];
  } finally {
    await client.close();
  }
}
