/**
 * A message that keeps going back to its queue unsettled (here: its connection is force-closed every
 * time it is in hand, as a crash on it would) counts an attempt per return on classic queues too,
 * where RabbitMQ only flags a redelivery, and is dead-lettered by the transport once `redeliveryLimit`
 * is reached; the consumer goes on with the next message. Messages alike in id, routing key and
 * bytes lost together count one return each, not one per look-alike.
 */
import { randomUUID } from 'node:crypto';
import { deadLetterQueueName, Headers, type Delivery } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../src/envelope.js';
import { BrokerAdmin, eventually, outgoing, TestVhost } from './support/broker.js';

describe.each(['classic', 'quorum'] as const)('redelivery limit on a %s queue', (queueType) => {
  let vhost: TestVhost;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-redelivery');
  });

  afterAll(async () => {
    await vhost?.delete();
  });

  /** A transport with `redeliveryLimit` 3 (connected) and an admin connection, on the vhost. */
  async function connected(connectionName: string) {
    const transport = new RabbitMqTransport({
      url: vhost.url,
      queueType,
      redeliveryLimit: 3,
      reconnect: { initialMs: 50, maxMs: 200 },
      connectionName,
    });
    const admin = await BrokerAdmin.connect(vhost.url);
    await transport.connect();
    return { transport, admin };
  }

  it('counts every unsettled return and dead-letters the message at the limit', async () => {
    const queue = `rmqtest.redelivery.${randomUUID().slice(0, 8)}`;
    const { transport, admin } = await connected('sluice-redelivery-test');
    try {
      const stuck = outgoing({ queue });
      const next = outgoing({ queue });
      // The stuck message is never settled: held until its connection goes.
      const collector = new DeliveryCollector((d: Delivery) =>
        d.message.messageId === stuck.messageId ? new Promise<void>(() => undefined) : d.ack(),
      );
      await transport.subscribe({ queue, topics: [], prefetch: 5, retryDelaysMs: [] }, collector.handler);
      await transport.publish([stuck]);
      const attemptsOfStuck = () =>
        collector.deliveries.filter((d) => d.message.messageId === stuck.messageId).map((d) => d.attempt);
      for (let seen = 1; seen <= 3; seen++) {
        await eventually(
          () => attemptsOfStuck().length === seen,
          15_000,
          `delivery ${seen} of the stuck message`,
        );
        await vhost.closeAllConnections();
      }
      const dlq = deadLetterQueueName(queue);
      await eventually(async () => (await admin.messageCount(dlq)) === 1, 15_000, 'the dead letter');
      expect(attemptsOfStuck()).toEqual([1, 2, 3]);

      await eventually(() => transport.isConnected(), 10_000, 'the reconnection');
      await transport.publish([next]);
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === next.messageId),
        10_000,
        'the next message',
      );

      const [letter] = await admin.drain(dlq);
      expect(letter?.properties.messageId).toBe(stuck.messageId);
      const { message } = decode(letter as NonNullable<typeof letter>);
      expect(message.headers[Headers.faultReason]).toBe('max-attempts');
      expect(message.headers[Headers.faultAttempts]).toBe('4');
      expect(message.headers[Headers.faultMessage]).toContain('redeliveryLimit 3');
    } finally {
      await transport.close();
      await admin.close();
    }
  });

  it('counts one return per loss for each of messages that look alike (no id, the same bytes)', async () => {
    const queue = `rmqtest.alike.${randomUUID().slice(0, 8)}`;
    const { transport, admin } = await connected('sluice-alike-test');
    try {
      let holding = true;
      const collector = new DeliveryCollector((d: Delivery) =>
        holding ? new Promise<void>(() => undefined) : d.ack(),
      );
      await transport.subscribe({ queue, topics: [], prefetch: 10, retryDelaysMs: [] }, collector.handler);
      // A foreign publisher's messages without ids, byte for byte alike: all in hand at one loss.
      for (let n = 0; n < 5; n++)
        await admin.publish('', queue, Buffer.from('{}'), { type: 'rmqtest.message.v1', persistent: true });
      await collector.waitForCount(5, 10_000);
      holding = false;
      await vhost.closeAllConnections();
      await collector.waitForCount(10, 15_000);
      // Each went back once: attempt 2, not one count per look-alike lost with it (5, past the limit).
      expect(collector.deliveries.slice(5).map((d) => d.attempt)).toEqual([2, 2, 2, 2, 2]);
      await eventually(async () => (await admin.messageCount(queue)) === 0, 10_000, 'every message acked');
      expect(await admin.messageCount(deadLetterQueueName(queue))).toBe(0);
    } finally {
      await transport.close();
      await admin.close();
    }
  });
});
