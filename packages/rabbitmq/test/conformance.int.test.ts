import type { DeliveryHandler, EndpointSpec, Subscription } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { describeTransportConformance } from '@sluice/testing';
import { afterAll, beforeAll } from 'vitest';
import { BrokerAdmin, TestVhost } from './support/broker.js';

/** Remembers the retry delays each queue was declared with, so cleanup can delete its retry queues. */
const retryDelays = new Map<string, Set<number>>();

class RecordingTransport extends RabbitMqTransport {
  override subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    const delays = retryDelays.get(endpoint.queue) ?? new Set<number>();
    for (const delay of endpoint.retryDelaysMs) delays.add(delay);
    retryDelays.set(endpoint.queue, delays);
    return super.subscribe(endpoint, onDelivery);
  }
}

// A vhost of its own, so the connection-drop case closes only this file's connections.
let vhost: TestVhost;
beforeAll(async () => {
  vhost = await TestVhost.create('sluice-conformance');
});
afterAll(async () => {
  await vhost?.delete();
});

async function cleanup({
  queues,
  topics,
}: {
  readonly queues: readonly string[];
  readonly topics: readonly string[];
}) {
  const admin = await BrokerAdmin.connect(vhost.url);
  try {
    for (const queue of queues) await admin.deleteEndpoint(queue, [...(retryDelays.get(queue) ?? [])]);
    await admin.deleteExchanges(topics);
  } finally {
    await admin.close();
  }
}

const faults = { dropConnections: () => vhost.closeAllConnections() };

describeTransportConformance('rabbitmq (quorum queues)', {
  createTransport: () => new RecordingTransport({ url: vhost.url, connectionName: 'sluice-conformance' }),
  cleanup,
  faults,
});

describeTransportConformance('rabbitmq (classic queues)', {
  createTransport: () =>
    new RecordingTransport({
      url: vhost.url,
      connectionName: 'sluice-conformance-classic',
      queueType: 'classic',
    }),
  cleanup,
  faults,
});
