/**
 * One invalid publish among 200 good ones sent at once. What can be checked before sending (a negative
 * or NaN TTL, a body over `maxMessageBytes`, a header amqplib cannot write or RabbitMQ refuses as text:
 * `CC`, `BCC`) is refused at once with
 * `SLUICE_INVALID_OPTION` naming the field, and exactly the 200 good messages arrive. What only the
 * broker knows (here: a routing key the user may not publish to, for which RabbitMQ closes the
 * channel) is isolated: the messages in doubt are sent again one at a time, the one the channel
 * closes on again is rejected with `SLUICE_PUBLISH_REFUSED`, and every good send resolves, each
 * message sent at most once more.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, type OutgoingMessage } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerAdmin, eventually, outgoing, TestUser, TestVhost } from './support/broker.js';

describe('one invalid publish among good ones', () => {
  let vhost: TestVhost;
  let admin: BrokerAdmin;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-isolation');
    admin = await BrokerAdmin.connect(vhost.url);
  });

  afterAll(async () => {
    await admin?.close();
    await vhost?.delete();
  });

  async function sendAround(transport: RabbitMqTransport, good: OutgoingMessage[], bad: OutgoingMessage) {
    // The bad one goes out in the middle of the window.
    const early = good.slice(0, 100).map((message) => transport.publish([message]));
    const refused = transport.publish([bad]).then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string },
    );
    const late = good.slice(100).map((message) => transport.publish([message]));
    return { all: Promise.allSettled([...early, ...late]), refused };
  }

  it.each<[string, string, (m: OutgoingMessage) => OutgoingMessage]>([
    ['a negative TTL', 'ttlMs', (m) => ({ ...m, ttlMs: -1 })],
    ['a NaN TTL', 'ttlMs', (m) => ({ ...m, ttlMs: Number.NaN })],
    ['a body over maxMessageBytes', 'body', (m) => ({ ...m, body: Buffer.alloc(70_000) })],
    ['a header that is not a string', 'headers.count', (m) => ({ ...m, headers: { count: 7 } as never })],
    ['a header name over 255 bytes', 'headers', (m) => ({ ...m, headers: { ['h'.repeat(300)]: 'x' } })],
    // RabbitMQ reads CC and BCC as lists of queues to copy the message to; it closes the channel on text.
    ['a CC header', 'headers.CC', (m) => ({ ...m, headers: { CC: 'rmqtest.elsewhere' } })],
    ['a BCC header', 'headers.BCC', (m) => ({ ...m, headers: { BCC: 'rmqtest.elsewhere' } })],
  ])('refuses %s before sending; exactly the 200 good messages arrive', async (_what, option, spoil) => {
    const queue = `rmqtest.isolation.${randomUUID().slice(0, 8)}`;
    const transport = new RabbitMqTransport({
      url: vhost.url,
      maxMessageBytes: 65_536,
      connectionName: 'sluice-isolation-test',
    });
    try {
      await transport.connect();
      await admin.withChannel((channel) => channel.assertQueue(queue, { durable: true }));
      const good = Array.from({ length: 200 }, () => outgoing({ queue }));
      const ids = good.map((m) => m.messageId);
      const bad = spoil(outgoing({ queue }));
      const { all, refused } = await sendAround(transport, good, bad);
      const results = await all;
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const error = await refused;
      expect(error).toMatchObject({ code: ErrorCodes.INVALID_OPTION });
      expect(error?.message).toContain(`option "${option}"`);
      await eventually(async () => (await admin.messageCount(queue)) === 200, 10_000, '200 messages');
      const arrived = (await admin.drain(queue)).map((m) => m.properties.messageId as string);
      expect(arrived.sort()).toEqual([...ids].sort());
    } finally {
      await transport.close();
      await admin.deleteQueues([queue]);
    }
  });

  it('isolates a message the broker closes the channel on, and sends its neighbours at most once more', async () => {
    const id = randomUUID().slice(0, 8);
    const topic = `rmqtest.isolation-${id}.v1`;
    const queue = `rmqtest.isolation.topic.${id}`;
    const secret = `pw-${randomUUID()}`;
    const user = await TestUser.create('sluice-isolation', secret, vhost);
    const url = new URL(vhost.url);
    url.username = user.name;
    url.password = secret;
    const transport = new RabbitMqTransport({
      url: url.toString(),
      exchanges: { [topic]: { type: 'topic', routingKey: (m) => m.headers.key ?? '' } },
      reconnect: { initialMs: 20, maxMs: 100 },
      connectionName: 'sluice-isolation-topic-test',
    });
    try {
      await admin.withChannel(async (channel) => {
        await channel.assertExchange(topic, 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: true });
        await channel.bindQueue(queue, topic, '#');
      });
      await user.limitTopics(vhost, topic, '^allowed\\.');
      await transport.connect();
      const good = Array.from({ length: 200 }, () =>
        outgoing({ topic }, { headers: { key: 'allowed.order' }, mandatory: false }),
      );
      const ids = good.map((m) => m.messageId);
      const bad = outgoing({ topic }, { headers: { key: 'denied.order' }, mandatory: false });
      const { all, refused } = await sendAround(transport, good, bad);
      const results = await all;
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const error = await refused;
      expect(error).toMatchObject({ code: ErrorCodes.PUBLISH_REFUSED });
      expect(error?.message).toContain('ACCESS_REFUSED');
      expect(error?.message).not.toContain(secret);

      await eventually(
        async () => ((await admin.messageCount(queue)) ?? 0) >= 200,
        10_000,
        'the good messages',
      );
      const after = outgoing({ topic }, { headers: { key: 'allowed.after' }, mandatory: false });
      await transport.publish([after]);
      await eventually(
        async () => {
          const arrived = await admin.drain(queue);
          const counts = new Map<string, number>();
          for (const m of arrived) {
            const mid = m.properties.messageId as string;
            counts.set(mid, (counts.get(mid) ?? 0) + 1);
          }
          expect(counts.has(bad.messageId)).toBe(false);
          for (const mid of ids) {
            expect(counts.get(mid), mid).toBeGreaterThanOrEqual(1);
            expect(counts.get(mid), mid).toBeLessThanOrEqual(2);
          }
          return counts.get(after.messageId) === 1;
        },
        10_000,
        'the message sent after the refusal, once',
      );
    } finally {
      await transport.close();
      await admin.deleteQueues([queue]);
      await admin.deleteExchanges([topic]);
      await user.delete();
    }
  });
});
