import { describe, expect, it } from 'vitest';
import { ConsumerHost, defineCommand, ErrorCodes, InMemoryBroker, InMemoryTransport } from '@sluice/core';
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

describe('a bus used before its host started', () => {
  it('says the transport is not connected yet, not that the message is unroutable', async () => {
    const Ping = defineCommand<{ n: number }>('test.ping-early.v1');
    const host = new ConsumerHost({
      serviceName: 'early',
      transport: new InMemoryTransport(),
      handleSignals: false,
    });
    const error = (await host.bus.send(Ping, { n: 1 }).catch((e: unknown) => e)) as {
      code?: string;
      message: string;
    };
    expect(error.code).toBe(ErrorCodes.CLOSED);
    expect(error.message).toContain(
      'not connected yet: call connect() first (a ConsumerHost connects in start())',
    );
  });
});
