/**
 * Poison messages through the consumer host on the real broker: a failing message is redelivered
 * through the retry queues with the configured delays, then dead-lettered with fault headers; a body
 * that is not JSON and a message of an unknown type go to the dead-letter queue at once with the
 * reason, and the consumer keeps handling good messages.
 */
import { randomUUID } from 'node:crypto';
import {
  Consumer,
  deadLetterQueueName,
  defineCommand,
  Headers,
  readFault,
  type MessageContext,
} from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decode } from '../src/envelope.js';
import { BrokerAdmin, brokerUrl, eventually } from './support/broker.js';

interface Order {
  readonly poison: boolean;
}

describe('poison messages on RabbitMQ', () => {
  const id = randomUUID().slice(0, 8);
  const queue = `rmqtest.poison.${id}`;
  /** A service of its own: its retry queues are its alone, deleted after each test. */
  const service = `rmqtest-poison-${id}`;
  const Command = defineCommand<Order>(`rmqtest.place-order-${id}.v1`);
  const delays = [300, 600];
  let admin: BrokerAdmin;
  let harness: TestHarness;
  const arrivals = new Map<string, number[]>();

  @Consumer({
    queue,
    message: Command,
    prefetch: 5,
    retry: { attempts: 3, immediate: 1, redelivery: { initialMs: 300, factor: 2, maxMs: 600 } },
  })
  class PlaceOrder {
    handle(order: Order, context: MessageContext): void {
      const seen = arrivals.get(context.messageId) ?? [];
      seen.push(performance.now());
      arrivals.set(context.messageId, seen);
      if (order.poison) throw new TypeError(`order ${context.messageId} is poison`);
    }
  }

  beforeEach(async () => {
    admin = await BrokerAdmin.connect();
    harness = await TestHarness.start({
      serviceName: service,
      transport: new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-poison-test' }),
      consumers: [PlaceOrder],
    });
  });

  afterEach(async () => {
    await harness.stop();
    await admin.deleteEndpoint(queue);
    await admin.deleteRetryQueues(service, delays);
    await admin.deleteExchanges([Command.type]);
    await admin.close();
  });

  it('declares the endpoint as configured', async () => {
    expect(harness.host.endpoints[0]?.retryDelaysMs).toEqual(delays);
    for (const name of [
      queue,
      deadLetterQueueName(queue),
      `${service}.retry.300ms`,
      `${service}.retry.600ms`,
    ]) {
      expect(await admin.queueExists(name)).toBe(true);
    }
  });

  it('retries with the configured delays, then dead-letters with fault headers', async () => {
    const messageId = randomUUID();
    await harness.bus.send(Command, { poison: true }, { messageId });
    const settled = await harness.waitForDeadLettered(messageId, 'PlaceOrder', 10_000);
    expect(settled.attempt).toBe(3);
    expect(harness.outcomes({ messageId, outcome: 'retried' }).map((e) => e.delayMs)).toEqual(delays);

    const times = arrivals.get(messageId) ?? [];
    expect(times).toHaveLength(3);
    const gaps = [(times[1] as number) - (times[0] as number), (times[2] as number) - (times[1] as number)];
    for (const [i, gap] of gaps.entries()) {
      const delay = delays[i] as number;
      expect(gap, `gap before attempt ${i + 2}`).toBeGreaterThanOrEqual(delay - 20);
      expect(gap, `gap before attempt ${i + 2}`).toBeLessThan(delay + 700);
    }

    await eventually(
      async () => (await admin.messageCount(deadLetterQueueName(queue))) === 1,
      5_000,
      'the dead letter',
    );
    const [dead] = await admin.drain(deadLetterQueueName(queue));
    expect(dead?.properties.messageId).toBe(messageId);
    const { message } = decode(dead as NonNullable<typeof dead>);
    expect(readFault(message.headers)).toMatchObject({
      reason: 'max-attempts',
      errorType: 'TypeError',
      errorMessage: `order ${messageId} is poison`,
      attempts: 3,
      consumer: 'PlaceOrder',
      queue,
    });
    expect(message.headers[Headers.faultStack]).toContain('TypeError');
    expect(JSON.parse(Buffer.from(message.body).toString('utf8'))).toEqual({ poison: true });
  });

  it('dead-letters malformed JSON and unknown types at once, and keeps consuming', async () => {
    const malformed = randomUUID();
    const unknown = randomUUID();
    // A foreign publisher: plain amqplib, to the topic's exchange and straight to the queue.
    await admin.publish(Command.type, '', Buffer.from('{"poison": fals'), {
      messageId: malformed,
      type: Command.type,
      contentType: 'application/json',
      persistent: true,
    });
    await admin.publish('', queue, Buffer.from('{"poison": false}'), {
      messageId: unknown,
      type: 'rmqtest.something-else.v1',
      contentType: 'application/json',
      persistent: true,
      headers: { 'x-retries': 3 },
    });
    const [badJson, badType] = await Promise.all([
      harness.waitForDeadLettered(malformed, 'PlaceOrder', 5_000),
      harness.waitForDeadLettered(unknown, 'PlaceOrder', 5_000),
    ]);
    expect(badJson.attempt).toBe(1);
    expect(badJson.fault?.reason).toBe('decode-failed');
    expect(badType.attempt).toBe(1);
    expect(badType.fault?.reason).toBe('unknown-type');
    expect(harness.outcomes({ outcome: 'retried' })).toHaveLength(0);
    expect(arrivals.has(malformed) || arrivals.has(unknown)).toBe(false);

    const good = randomUUID();
    await harness.bus.send(Command, { poison: false }, { messageId: good });
    await harness.waitForHandled(good, 'PlaceOrder', 5_000);

    await eventually(
      async () => (await admin.messageCount(deadLetterQueueName(queue))) === 2,
      5_000,
      'two dead letters',
    );
    const dead = await admin.drain(deadLetterQueueName(queue));
    const reasons = new Map(dead.map((m) => [m.properties.messageId as string, decode(m).message.headers]));
    expect(reasons.get(malformed)?.[Headers.faultReason]).toBe('decode-failed');
    expect(reasons.get(unknown)?.[Headers.faultReason]).toBe('unknown-type');
    expect(reasons.get(unknown)?.[Headers.faultMessage]).toContain('rmqtest.something-else.v1');
    // A foreign non-string header arrives as a string and is kept on the dead letter.
    expect(reasons.get(unknown)?.['x-retries']).toBe('3');
  });
});
