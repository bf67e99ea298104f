import { describeTransportConformance } from '@sluice/testing';
import { afterAll, beforeAll } from 'vitest';
import { startServiceBus, type ServiceBusUnderTest } from './support/service-bus.js';

let bus: ServiceBusUnderTest;
beforeAll(async () => {
  bus = await startServiceBus();
});
afterAll(async () => {
  await bus?.close();
});

describeTransportConformance('azure service bus (real SDK)', {
  createTransport: () => bus.transport(),
  cleanup: async ({ queues, topics }) => {
    for (const queue of queues) await bus.deleteEndpoint(queue);
    for (const topic of topics) await bus.admin.deleteTopic(topic).catch(() => undefined);
  },
  faults: {
    dropConnections: async () => {
      if (bus.standIn === undefined) throw new Error('no connection fault hook outside the stand-in');
      bus.standIn.faults.dropConnections();
    },
    expireLocks: async (queue) => {
      if (bus.standIn === undefined) throw new Error('no lock fault hook outside the stand-in');
      bus.standIn.faults.expireLocks(queue);
    },
  },
});
