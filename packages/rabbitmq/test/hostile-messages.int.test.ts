/**
 * Hostile messages published raw through amqplib, ahead of good ones, on quorum and classic queues:
 * timestamps outside a `Date`'s range, an invalid `sluice-sent-at`, typed headers amqplib cannot write
 * back as decoded (a large fraction, a timestamp of 2^64-1, -2^63), a `__proto__` table carrying `sluice-attempt`, deep
 * nesting (and a table nested deeper than amqplib's decoder can read), odd `x-death` shapes, a header
 * too big to copy, an `x-delivery-count` its publisher set. None may wedge the queue: the unreadable
 * ones are dead-lettered at once with `decode-failed` (their bytes kept), the readable ones are handled
 * (and retried through copies the broker accepts), and every good message behind them is handled
 * exactly once and acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, deadLetterQueueName, defineCommand, Headers, type MessageContext } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import type { Options } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { decode } from '../src/envelope.js';
import { BrokerAdmin, brokerUrl, eventually, publishNested } from './support/broker.js';

/** `nested`: published with a header table that many levels deep (see `publishNested`). */
type Hostile = { name: string; readable: boolean; options: Options.Publish; nested?: number };

function nested(depth: number): Record<string, unknown> {
  let table: Record<string, unknown> = { leaf: 'x' };
  for (let i = 0; i < depth; i++) table = { [`level-${i}`]: table, n: i };
  return table;
}

function hostile(type: string, ccQueue: string): Hostile[] {
  const base = (headers: Record<string, unknown>, extra: Options.Publish = {}): Options.Publish => ({
    messageId: randomUUID(),
    type,
    contentType: 'application/json',
    persistent: true,
    headers: { 'fail-once': 'yes', ...headers },
    ...extra,
  });
  return [
    {
      name: 'timestamp near 2^64',
      readable: false,
      options: base({}, { timestamp: 18_446_744_073_709_549_568 }),
    },
    {
      name: 'microsecond timestamp',
      readable: false,
      options: base({}, { timestamp: 1_767_323_045_000_000 }),
    },
    { name: 'sent-at past Date', readable: false, options: base({ [Headers.sentAt]: '9999999999999999' }) },
    {
      name: 'sent-at not a time',
      readable: false,
      options: base({ [Headers.sentAt]: { '!': 'timestamp', value: 5 } }),
    },
    {
      name: 'typed values amqplib cannot write back as they are',
      readable: true,
      options: base({
        fraction: { '!': 'double', value: -1_500_000_000_000_000.5 },
        float: { '!': 'float', value: 1.5 },
        end: { '!': 'timestamp', value: 2n ** 64n - 1n },
        lowest: { '!': 'long', value: -(2n ** 63n) },
        price: { '!': 'decimal', value: { places: 2, digits: 4_294_967_295 } },
        bytes: Buffer.from([0xff, 0xfe, 0x00]),
        '': 'empty key',
      }),
    },
    {
      name: '__proto__ table with an attempt',
      readable: true,
      options: base(
        JSON.parse(`{"__proto__": {"${Headers.attempt}": "99", "x": {"__proto__": [1]}}}`) as Record<
          string,
          unknown
        >,
      ),
    },
    {
      name: 'deep nesting and odd x-death',
      readable: true,
      options: base({
        deep: nested(60),
        'x-death': [null, 'junk', { count: 'many', time: { '!': 'timestamp', value: 2n ** 64n - 1n } }],
        list: [[[]], null, true, 'two', { '!': 'unsignedbyte', value: 7 }],
      }),
    },
    { name: 'header too big to copy', readable: true, options: base({ big: 'b'.repeat(62_000) }) },
    {
      // Some clients send (or forward) text headers as byte arrays (AMQP type x).
      name: 'sent-at and attempt as bytes',
      readable: true,
      options: base({ [Headers.sentAt]: Buffer.from('1767323045678'), [Headers.attempt]: Buffer.from('1') }),
    },
    {
      // RabbitMQ counts deliveries in x-delivery-count only on a redelivery from a quorum queue; on a
      // first delivery the header is its publisher's (a shovel's copy, say), and read as the broker's
      // count it dead-lettered the message at once past the redelivery limit, never handled.
      name: 'x-delivery-count set by its publisher',
      readable: true,
      options: base({ 'x-delivery-count': 50 }),
    },
    {
      // Sender-selected distribution: RabbitMQ sends a copy to each queue the CC header names, so a
      // retry copy that kept it sent the message there again.
      name: 'a CC header',
      readable: true,
      options: base({ CC: [ccQueue] }),
    },
    {
      // amqplib's recursive decoder overflows the stack inside its frame loop: the whole connection
      // closed on it, and the message came back first on the next one.
      name: 'a table nested deeper than amqplib can read',
      readable: false,
      options: base({ before: 'kept?' }),
      nested: 8_000,
    },
  ];
}

describe.each(['quorum', 'classic'] as const)('hostile messages on a %s queue', (queueType) => {
  const id = randomUUID().slice(0, 8);
  const queue = `rmqtest.hostile.${queueType}.${id}`;
  const ccQueue = `rmqtest.hostile-cc.${queueType}.${id}`;
  const Command = defineCommand<{ n: number }>(`rmqtest.hostile-${queueType}-${id}.v1`);
  const handled = new Map<string, number[]>();
  let harness: TestHarness | undefined;
  let admin: BrokerAdmin | undefined;

  @Consumer({
    queue,
    message: Command,
    prefetch: 10,
    retry: { attempts: 3, immediate: 1, redelivery: { initialMs: 50, factor: 1, maxMs: 50 } },
    queueOptions: { broker: { queueType } },
  })
  class Handle {
    handle(_payload: unknown, context: MessageContext): void {
      const attempts = handled.get(context.messageId) ?? [];
      attempts.push(context.attempt);
      handled.set(context.messageId, attempts);
      if (context.headers['fail-once'] === 'yes' && attempts.length === 1) throw new Error('first try fails');
    }
  }

  afterEach(async () => {
    await harness?.stop();
    await admin?.deleteEndpoint(queue);
    await admin?.deleteQueues([ccQueue]);
    await admin?.deleteExchanges([Command.type]);
    await admin?.close();
  });

  it('dead-letters the unreadable at once, handles the rest, and every good message behind them once', async () => {
    admin = await BrokerAdmin.connect();
    harness = await TestHarness.start({
      serviceName: 'rmqtest',
      transport: new RabbitMqTransport({ url: brokerUrl, connectionName: `sluice-hostile-${queueType}` }),
      consumers: [Handle],
    });
    await admin.withChannel((channel) => channel.assertQueue(ccQueue, { durable: false }));
    const bad = hostile(Command.type, ccQueue);
    for (const message of bad) {
      const body = Buffer.from('{"n":-1}');
      if (message.nested === undefined) await admin.publish('', queue, body, message.options);
      else await publishNested(brokerUrl, queue, body, message.options, 'deep', message.nested);
    }
    const good = Array.from({ length: 30 }, (_, n) => ({ id: `good-${n}-${randomUUID()}`, n }));
    for (const { id: messageId, n } of good) {
      await admin.publish('', queue, Buffer.from(JSON.stringify({ n })), {
        messageId,
        type: Command.type,
        contentType: 'application/json',
        persistent: true,
      });
    }

    await eventually(
      () => good.every(({ id: messageId }) => handled.has(messageId)),
      20_000,
      'every good message',
    );
    const readable = bad.filter((b) => b.readable);
    await Promise.all(
      readable.map((b) => harness?.waitForHandled(b.options.messageId as string, 'Handle', 20_000)),
    );
    const dlq = deadLetterQueueName(queue);
    const unreadable = bad.filter((b) => !b.readable);
    await eventually(
      async () => (await admin?.messageCount(dlq)) === unreadable.length,
      20_000,
      'the dead letters',
    );
    await eventually(async () => (await admin?.messageCount(queue)) === 0, 10_000, 'an empty queue');

    for (const { id: messageId } of good) expect(handled.get(messageId), messageId).toEqual([1]);
    for (const b of readable) expect(handled.get(b.options.messageId as string), b.name).toEqual([1, 2]);
    for (const b of unreadable) expect(handled.has(b.options.messageId as string), b.name).toBe(false);
    // The CC'd queue got its one copy when the message was published, none from the retry.
    expect((await admin.drain(ccQueue)).map((m) => m.properties.headers?.['fail-once'])).toEqual(['yes']);

    const dead = await admin.drain(dlq);
    expect(dead.map((m) => m.properties.messageId).sort()).toEqual(
      unreadable.map((b) => b.options.messageId).sort(),
    );
    for (const letter of dead) {
      const { message } = decode(letter);
      expect(message.headers[Headers.faultReason]).toBe('decode-failed');
      expect(message.headers[Headers.faultMessage]).toContain('cannot read the AMQP message');
      expect(letter.content.toString()).toBe('{"n":-1}');
    }
    await harness.stop();
    harness = undefined;
    // Nothing was left unacknowledged: the queue is still empty once the consumer is gone.
    expect(await admin.messageCount(queue)).toBe(0);
  });
});
