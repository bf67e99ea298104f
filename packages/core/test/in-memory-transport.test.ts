import { describe, expect, it } from 'vitest';
import { InMemoryBroker, InMemoryTransport } from '@sluice/core';
import { DeliveryCollector, describeTransportConformance } from '@sluice/testing';
import { rawMessage } from './support.js';

let broker = new InMemoryBroker();

describeTransportConformance('in-memory', {
  createTransport: () => new InMemoryTransport({ broker }),
  cleanup: async () => {
    broker.dispose();
    broker = new InMemoryBroker();
  },
});

describe('in-memory transport, as RabbitMQ behaves beyond the contract', () => {
  it('puts a released message at the back of its queue', async () => {
    const transport = new InMemoryTransport();
    await transport.connect();
    const messages = ['a', 'b', 'c'].map((id) => ({ ...rawMessage('test.order.v1', '{}'), messageId: id }));
    let releasedOnce = false;
    const collector = new DeliveryCollector((d) => {
      if (!releasedOnce) {
        releasedOnce = true;
        return d.release();
      }
      return d.ack();
    });
    const subscription = await transport.subscribe(
      { queue: 'order', topics: ['test.order.v1'], prefetch: 1, retryDelaysMs: [] },
      collector.handler,
    );
    await subscription.pause();
    await transport.publish(messages);
    await subscription.resume();
    const got = await collector.waitForCount(4, 2_000);
    expect(got.map((d) => d.message.messageId)).toEqual(['a', 'b', 'c', 'a']);
    await transport.close();
  });
});
