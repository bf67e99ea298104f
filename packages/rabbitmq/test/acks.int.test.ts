/**
 * Coalesced acks on the real broker: settlements in any order are acknowledged, and a `multiple` ack
 * never covers a delivery that was not settled (it is returned to the queue when the transport
 * closes). Checked with coalescing on (the default) and off.
 */
import { randomUUID } from 'node:crypto';
import type { Delivery } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import type { RabbitMqSubscription } from '../src/rabbitmq-subscription.js';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerAdmin, brokerUrl, eventually, textMessages } from './support/broker.js';

describe.each([true, false])('acknowledgements (coalesceAcks: %s)', (coalesceAcks) => {
  const declared: string[] = [];

  afterEach(async () => {
    const admin = await BrokerAdmin.connect();
    for (const queue of declared.splice(0)) await admin.deleteEndpoint(queue);
    await admin.close();
  });

  it('acknowledges settlements made in any order and never an unsettled delivery', async () => {
    const queue = `rmqtest.acks.${randomUUID().slice(0, 8)}`;
    declared.push(queue);
    const transport = new RabbitMqTransport({
      url: brokerUrl,
      coalesceAcks,
      connectionName: 'sluice-acks-test',
    });
    await transport.connect();
    const held: Delivery[] = [];
    const collector = new DeliveryCollector(async (d) => {
      held.push(d);
      return new Promise<void>(() => undefined);
    });
    await transport.subscribe({ queue, topics: [], prefetch: 20, retryDelaysMs: [] }, collector.handler);
    const sent = textMessages(20, queue, 'rmqtest.ack.v1', 'n');
    await transport.publish(sent);
    await collector.waitForCount(20, 5_000);

    // Settle everything but deliveries 0 and 10, out of order, in groups that share an event-loop turn
    // (and so one flush of acks).
    const groups = [
      [19, 3, 2, 1],
      [15, 4, 5],
      [9, 8, 7, 6],
      [11, 12],
      [18, 17, 16, 14, 13],
    ];
    for (const group of groups) await Promise.all(group.map((index) => (held[index] as Delivery).ack()));
    await transport.close();

    const admin = await BrokerAdmin.connect();
    try {
      await eventually(
        async () => (await admin.messageCount(queue)) === 2,
        5_000,
        'the two unsettled messages back',
      );
      const back = await admin.drain(queue);
      expect(back.map((m) => m.properties.messageId).sort()).toEqual(
        [sent[0]?.messageId, sent[10]?.messageId].sort(),
      );
    } finally {
      await admin.close();
    }
  });
});

describe('acknowledgements behind a stuck delivery', () => {
  it('acks every later delivery while holding bookkeeping bounded by the prefetch', async () => {
    const queue = `rmqtest.acks-stuck.${randomUUID().slice(0, 8)}`;
    const transport = new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-acks-stuck-test' });
    const admin = await BrokerAdmin.connect();
    try {
      await transport.connect();
      const sent = textMessages(3_000, queue, 'rmqtest.ack.v1', 'stuck');
      const stuck = sent[0]?.messageId;
      let acked = 0;
      let largestBacklog = 0;
      const collector = new DeliveryCollector(async (d) => {
        if (d.message.messageId === stuck) return new Promise<void>(() => undefined);
        await d.ack();
        acked++;
        largestBacklog = Math.max(largestBacklog, subscription.ackBacklog);
      });
      const subscription = (await transport.subscribe(
        { queue, topics: [], prefetch: 50, retryDelaysMs: [] },
        collector.handler,
      )) as RabbitMqSubscription;
      for (let start = 0; start < sent.length; start += 500)
        await transport.publish(sent.slice(start, start + 500));
      await eventually(() => acked === sent.length - 1, 30_000, 'every later delivery acked');
      await eventually(async () => (await admin.messageCount(queue)) === 0, 10_000, 'no ready message');
      expect(largestBacklog).toBeGreaterThan(0);
      expect(largestBacklog).toBeLessThanOrEqual(50);
      await transport.close();
      // Only the stuck delivery was never acknowledged: it is back in the queue.
      await eventually(async () => (await admin.messageCount(queue)) === 1, 10_000, 'the stuck message back');
      const [back] = await admin.drain(queue);
      expect(back?.properties.messageId).toBe(stuck);
    } finally {
      await transport.close();
      await admin.deleteEndpoint(queue);
      await admin.close();
    }
  });
});
