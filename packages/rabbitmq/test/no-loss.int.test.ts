/**
 * No loss across forced connection drops: 10,000 messages are sent while every connection to the
 * broker (of this test's private vhost: producer and consumer alike) is force-closed twice. Every
 * message id must be handled; duplicates may only come from messages in flight at a drop, and with the
 * idempotent consumer the handler's effect happens exactly once per message.
 */
import { randomUUID } from 'node:crypto';
import { Bus, Consumer, defineCommand, type MessageContext } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from './support/broker.js';

interface Numbered {
  readonly n: number;
}

const total = 10_000;
const prefetch = 50;
const confirmWindow = 200;

describe('no loss across forced connection drops', () => {
  let vhost: TestVhost;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-noloss');
  });

  afterAll(async () => {
    await vhost?.delete();
  });

  it(`delivers all ${total} messages exactly once in effect while connections are force-closed twice`, async () => {
    const id = randomUUID().slice(0, 8);
    const Command = defineCommand<Numbered>(`rmqtest.numbered-${id}.v1`);
    const effects = new Map<string, number>();
    let handlerCalls = 0;

    @Consumer({ queue: `rmqtest.noloss.${id}`, message: Command, prefetch, idempotency: true })
    class CountOnce {
      handle(_message: Numbered, context: MessageContext): void {
        handlerCalls++;
        effects.set(context.messageId, (effects.get(context.messageId) ?? 0) + 1);
      }
    }

    const reconnect = { initialMs: 50, maxMs: 500 };
    const consumerTransport = new RabbitMqTransport({
      url: vhost.url,
      connectionName: 'noloss-consumer',
      reconnect,
    });
    const harness = await TestHarness.start({
      serviceName: 'rmqtest',
      transport: consumerTransport,
      consumers: [CountOnce],
    });
    const producerTransport = new RabbitMqTransport({
      url: vhost.url,
      connectionName: 'noloss-producer',
      confirmWindow,
      reconnect,
    });
    await producerTransport.connect();
    const bus = new Bus(producerTransport);
    try {
      const ids = Array.from({ length: total }, () => randomUUID());
      let confirmed = 0;
      const failures: unknown[] = [];
      const drops: number[] = [];
      const disconnectedSeen = { producer: false, consumer: false };
      const watch = setInterval(() => {
        if (!producerTransport.isConnected()) disconnectedSeen.producer = true;
        if (!consumerTransport.isConnected()) disconnectedSeen.consumer = true;
      }, 1);

      // Paced at about 1,000 messages a second so that both drops happen mid-run.
      const produce = async () => {
        for (let start = 0; start < total; start += 100) {
          const batch = ids.slice(start, start + 100);
          await Promise.all(
            batch.map((messageId, i) =>
              bus.send(Command, { n: start + i }, { messageId }).then(
                () => confirmed++,
                (error: unknown) => failures.push(error),
              ),
            ),
          );
          await new Promise((resolve) => setTimeout(resolve, 60));
        }
      };
      const producing = produce();
      for (const threshold of [total * 0.3, total * 0.65]) {
        await eventually(() => confirmed >= threshold, 30_000, `${threshold} confirmed sends`);
        await vhost.closeAllConnections();
        drops.push(confirmed);
      }
      await producing;
      clearInterval(watch);

      expect(failures).toEqual([]);
      expect(drops).toHaveLength(2);
      expect(drops[1]).toBeLessThan(total);
      expect(disconnectedSeen).toEqual({ producer: true, consumer: true });
      await eventually(
        () => ids.every((messageId) => effects.has(messageId)),
        45_000,
        'every message handled',
      );

      // Exactly once in effect, and nothing that was not sent.
      expect(effects.size).toBe(total);
      expect([...effects.values()].every((count) => count === 1)).toBe(true);
      expect(handlerCalls).toBe(total);

      // Duplicates (skipped by the idempotency store) only for messages in flight at a drop: at most the
      // unacknowledged deliveries (prefetch) plus the unconfirmed publishes (window) per drop.
      const duplicates = harness.outcomes({ outcome: 'duplicate' }).length;
      expect(duplicates).toBeLessThanOrEqual(drops.length * (prefetch + confirmWindow));

      // Every message is settled: acknowledged after its handler ran ('handled') or, where that ack was
      // lost with the connection, acknowledged as a duplicate when the broker redelivered it; the lost
      // acks are bounded by the unacknowledged deliveries at the drops.
      const handledIds = () => new Set(harness.outcomes({ outcome: 'handled' }).map((e) => e.messageId));
      const duplicateIds = () => new Set(harness.outcomes({ outcome: 'duplicate' }).map((e) => e.messageId));
      await eventually(
        () => {
          const handled = handledIds();
          const duplicate = duplicateIds();
          return ids.every((messageId) => handled.has(messageId) || duplicate.has(messageId));
        },
        10_000,
        'every message settled',
      );
      const handled = handledIds();
      expect(harness.outcomes({ outcome: 'handled' })).toHaveLength(handled.size);
      expect(total - handled.size).toBeLessThanOrEqual(drops.length * prefetch);
    } finally {
      await producerTransport.close();
      await harness.stop();
    }
  });
});
