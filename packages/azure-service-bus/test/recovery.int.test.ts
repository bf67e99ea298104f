/**
 * Faults on Service Bus (the stand-in's hooks; skipped on a real namespace): a connection dropped in
 * the middle of 2,000 messages loses none; a receiver whose queue vanished is restarted with backoff
 * (the queue declared again), and the host's /readyz is false while it is down.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, defineCommand, type OutgoingMessage } from '@sluice/core';
import { DeliveryCollector, TestHarness } from '@sluice/testing';
import { expect, it } from 'vitest';
import { uniqueName, useServiceBus } from './support/service-bus.js';

const fx = useServiceBus('sb-drop');

it('loses none of 2,000 messages when every connection drops mid-stream', async ({ skip }) => {
  const standIn = fx.bus.standIn;
  if (standIn === undefined) return skip('needs the stand-in to drop connections');
  const transport = fx.bus.transport();
  fx.defer(() => transport.close());
  await transport.connect();
  const queue = uniqueName('sb-drop');
  const topic = `${uniqueName('sb-drop.topic')}.v1`;
  fx.defer(() => fx.bus.deleteEndpoint(queue, [topic]));
  const collector = new DeliveryCollector();
  await transport.subscribe({ queue, topics: [topic], prefetch: 50, retryDelaysMs: [] }, collector.handler);
  const sent: OutgoingMessage[] = Array.from({ length: 2_000 }, (_, i) => ({
    messageId: `drop-${i}`,
    type: 'sbtest.drop.v1',
    contentType: 'application/json',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from(`{"i":${i}}`),
    destination: { topic },
    mandatory: true,
  }));
  for (let i = 0; i < sent.length; i += 250) await transport.publish(sent.slice(i, i + 250));
  await collector.waitForCount(500, 30_000);
  expect(standIn.faults.dropConnections()).toBeGreaterThan(0);
  await collector.waitFor(
    (ds) => new Set(ds.map((d) => d.message.messageId)).size === sent.length,
    90_000,
    'all 2,000 messages after the drop',
  );
  expect(new Set(collector.deliveries.map((d) => d.message.messageId)).size).toBe(2_000);
  await expect.poll(() => transport.queueDepth(queue), { timeout: 20_000 }).toBe(0);
});

it('restarts a receiver whose queue vanished, with backoff, and /readyz is false while it is down', async () => {
  const Ping = defineCommand<{ n: number }>(`sbtest.ping-${randomUUID().slice(0, 6)}.v1`);
  const queue = uniqueName('sb-vanish');
  fx.defer(() => fx.bus.deleteEndpoint(queue, [Ping.type]));
  @Consumer({ queue, message: Ping })
  class PingConsumer {
    handle() {}
  }
  const harness = await TestHarness.start({
    serviceName: 'sbtest',
    transport: fx.bus.transport(),
    consumers: [PingConsumer],
    http: { port: 0 },
    processMetrics: false,
  });
  fx.defer(() => harness.stop());
  const readyz = async () => (await fetch(`http://127.0.0.1:${harness.host.httpPort}/readyz`)).status;
  expect(await readyz()).toBe(200);
  await fx.bus.admin.deleteQueue(queue);
  await expect.poll(readyz, { timeout: 20_000, interval: 50 }).toBe(503);
  await expect.poll(readyz, { timeout: 30_000 }).toBe(200);
  expect(await fx.bus.admin.queueExists(queue)).toBe(true);
  await harness.bus.send(Ping, { n: 1 }, { messageId: 'after-restart' });
  await harness.waitForHandled('after-restart', 'PingConsumer', 10_000);
});
