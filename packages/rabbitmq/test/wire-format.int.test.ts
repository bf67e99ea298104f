/**
 * What Sluice puts on the wire, read back with plain amqplib: envelope fields as basic properties,
 * persistent delivery mode, per-message expiration, the exact send time and causation id in headers;
 * and a retried copy of a foreign message keeps its properties and typed headers.
 */
import { randomUUID } from 'node:crypto';
import { Headers, retryQueueName, type Delivery, type OutgoingMessage } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerAdmin, brokerUrl, eventually, textMessages } from './support/broker.js';

describe('wire format', () => {
  let admin: BrokerAdmin;
  let transport: RabbitMqTransport;
  let queue: string;
  /** A service of its own: the retry queue a test reads holds its copies alone. */
  let service: string;

  beforeEach(async () => {
    queue = `rmqtest.wire.${randomUUID().slice(0, 8)}`;
    service = `rmqtest-wire-${randomUUID().slice(0, 8)}`;
    admin = await BrokerAdmin.connect();
    transport = new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-wire-test' });
    await transport.connect();
  });

  afterEach(async () => {
    await transport.close();
    await admin.deleteEndpoint(queue);
    await admin.deleteRetryQueues(service, [60_000]);
    await admin.close();
  });

  it('writes the envelope as AMQP properties and headers', async () => {
    const subscription = await transport.subscribe(
      { queue, topics: [], prefetch: 1, retryDelaysMs: [] },
      new DeliveryCollector().handler,
    );
    await subscription.close();
    const sent: OutgoingMessage = {
      messageId: randomUUID(),
      type: 'rmqtest.wire.v1',
      contentType: 'application/json',
      correlationId: randomUUID(),
      causationId: randomUUID(),
      sentAt: new Date('2026-05-06T07:08:09.123Z'),
      headers: { tenant: 'acme', 'x-unicode': 'zürich' },
      body: Buffer.from('{"ok":true}'),
      destination: { queue },
      mandatory: true,
      ttlMs: 60_000,
    };
    await transport.publish([sent]);
    await eventually(async () => (await admin.messageCount(queue)) === 1, 5_000, 'the message');
    const [raw] = await admin.drain(queue);
    expect(raw?.properties).toMatchObject({
      messageId: sent.messageId,
      type: sent.type,
      contentType: sent.contentType,
      correlationId: sent.correlationId,
      deliveryMode: 2,
      expiration: '60000',
      timestamp: Math.floor(sent.sentAt.getTime() / 1000),
      headers: {
        tenant: 'acme',
        'x-unicode': 'zürich',
        'sluice-sent-at': String(sent.sentAt.getTime()),
        [Headers.causationId]: sent.causationId,
      },
    });
    expect(raw?.fields.routingKey).toBe(queue);
    expect(raw?.content.toString()).toBe('{"ok":true}');
  });

  it('retries a foreign message keeping its properties and typed headers', async () => {
    const collector = new DeliveryCollector((d: Delivery) => (d.attempt === 1 ? d.retry(60_000) : d.ack()));
    const subscription = await transport.subscribe(
      { queue, service, topics: [], prefetch: 1, retryDelaysMs: [60_000] },
      collector.handler,
    );
    const messageId = randomUUID();
    await admin.publish('', queue, Buffer.from('plain'), {
      messageId,
      type: 'rmqtest.foreign.v1',
      contentType: 'text/plain',
      priority: 3,
      appId: 'legacy-app',
      replyTo: 'legacy.replies',
      persistent: false,
      headers: { count: 7, flag: true },
    });
    await collector.waitForCount(1, 5_000);
    await subscription.close();
    // The copy waits in the retry queue (60 s TTL): read it there.
    const retryQueue = retryQueueName(service, 60_000);
    await eventually(async () => (await admin.messageCount(retryQueue)) === 1, 5_000, 'the retry copy');
    const [copy] = await admin.drain(retryQueue);
    expect(copy?.properties).toMatchObject({
      messageId,
      type: 'rmqtest.foreign.v1',
      contentType: 'text/plain',
      priority: 3,
      appId: 'legacy-app',
      replyTo: 'legacy.replies',
      deliveryMode: 2,
      headers: { count: 7, flag: true, [Headers.attempt]: '2' },
    });
    expect(copy?.properties.expiration).toBeUndefined();
    expect(copy?.content.toString()).toBe('plain');
    expect(await admin.messageCount(queue)).toBe(0);
  });

  it('publishes through channel.publish when something wrapped it (as instrumentations do)', async () => {
    const subscription = await transport.subscribe(
      { queue, topics: [], prefetch: 1, retryDelaysMs: [] },
      new DeliveryCollector().handler,
    );
    await subscription.close();
    const prototype = await admin.withChannel(async (channel) => Object.getPrototypeOf(channel) as object);
    const original = (prototype as { publish: (...args: unknown[]) => boolean }).publish;
    let seen = 0;
    Object.assign(prototype, {
      publish(this: unknown, ...args: unknown[]) {
        seen++;
        return original.apply(this, args);
      },
    });
    const wrapped = new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-wire-test-wrapped' });
    try {
      await wrapped.connect();
      const messages = textMessages(3, queue, 'rmqtest.wire.v1', 'wrapped');
      await wrapped.publish(messages);
      expect(seen).toBe(3);
    } finally {
      Object.assign(prototype, { publish: original });
      await wrapped.close();
    }
    await eventually(async () => (await admin.messageCount(queue)) === 3, 5_000, 'the three messages');
  });
});
