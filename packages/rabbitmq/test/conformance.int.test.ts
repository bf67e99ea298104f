import { RabbitMqTransport } from '@sluice/rabbitmq';
import { describeTransportConformance } from '@sluice/testing';
import { afterAll, beforeAll } from 'vitest';
import { BrokerAdmin, TestVhost } from './support/broker.js';

// Retry queues are shared by every endpoint of the suite (service "sluice"): they stay until the
// vhost is deleted.
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
    for (const queue of queues) await admin.deleteEndpoint(queue);
    await admin.deleteExchanges(topics);
  } finally {
    await admin.close();
  }
}

const faults = { dropConnections: () => vhost.closeAllConnections() };

describeTransportConformance('rabbitmq (quorum queues)', {
  createTransport: () => new RabbitMqTransport({ url: vhost.url, connectionName: 'sluice-conformance' }),
  cleanup,
  faults,
});

describeTransportConformance('rabbitmq (classic queues)', {
  createTransport: () =>
    new RabbitMqTransport({
      url: vhost.url,
      connectionName: 'sluice-conformance-classic',
      queueType: 'classic',
    }),
  cleanup,
  faults,
});
