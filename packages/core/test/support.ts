import { randomUUID } from 'node:crypto';
import {
  InMemoryBroker,
  InMemoryTransport,
  jsonCodec,
  type ConsumerHostOptions,
  type HandlerClass,
  type OutgoingMessage,
} from '@sluice/core';
import { DeliveryCollector, TestHarness } from '@sluice/testing';

/** A started host on an in-memory broker, with fast retry defaults. */
export async function startHost(
  consumers: readonly HandlerClass<never>[],
  options: Partial<ConsumerHostOptions> = {},
): Promise<{ harness: TestHarness; broker: InMemoryBroker; transport: InMemoryTransport }> {
  const broker = new InMemoryBroker();
  const transport = new InMemoryTransport({ broker });
  const harness = await TestHarness.start({
    serviceName: 'test',
    transport,
    consumers,
    ...options,
    defaults: {
      retry: { backoff: { initialMs: 1, maxMs: 5 }, redelivery: { initialMs: 10, factor: 2, maxMs: 100 } },
      ...options.defaults,
    },
  });
  return { harness, broker, transport };
}

/** Consumes `queue` (a dead-letter queue, say) on the same broker, acking everything. */
export async function collectQueue(broker: InMemoryBroker, queue: string): Promise<DeliveryCollector> {
  const reader = new InMemoryTransport({ broker });
  await reader.connect();
  const collector = new DeliveryCollector();
  await reader.subscribe({ queue, topics: [], prefetch: 100, retryDelaysMs: [] }, collector.handler);
  return collector;
}

/** A raw message, bypassing the bus (and its validation), as a foreign producer would send it. */
export function rawMessage(topic: string, body: string | Uint8Array, type = topic): OutgoingMessage {
  return {
    messageId: randomUUID(),
    type,
    contentType: jsonCodec.contentType,
    sentAt: new Date(),
    headers: {},
    body: typeof body === 'string' ? Buffer.from(body) : body,
    destination: { topic },
    mandatory: true,
  };
}
