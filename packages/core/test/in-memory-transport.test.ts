import { InMemoryBroker, InMemoryTransport } from '@sluice/core';
import { describeTransportConformance } from '@sluice/testing';

let broker = new InMemoryBroker();

describeTransportConformance('in-memory', {
  createTransport: () => new InMemoryTransport({ broker }),
  cleanup: async () => {
    broker.dispose();
    broker = new InMemoryBroker();
  },
});
