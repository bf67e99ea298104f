/**
 * Exchange kinds and queue limits on the real broker: a topic exchange routes by patterns such as
 * `order.*`, a headers exchange by header match, a direct exchange by exact key; a queue at its
 * `maxLength` refuses further publishes with SLUICE_QUEUE_FULL instead of dropping them; classic
 * queues are declared on request. The options tests check the declared arguments; these check what
 * the broker does with them.
 */
import { ErrorCodes, type EndpointSpec, type OutgoingMessage } from '@sluice/core';
import { RabbitMqTransport, type ExchangeOptions } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerAdmin, outgoing, TestVhost, uniqueName } from './support/broker.js';

/** An event to `topic` with `headers`; not mandatory (some route nowhere on purpose). */
function event(topic: string, headers: Record<string, string>): OutgoingMessage {
  return outgoing({ topic }, { headers, mandatory: false });
}

const orders = 'rmqtest.orders.v1';
const shipments = 'rmqtest.shipments.v1';
const alerts = 'rmqtest.alerts.v1';
/** Routing keys come from the `key` header of each message. */
const byKeyHeader = (type: ExchangeOptions['type']): ExchangeOptions => ({
  type,
  routingKey: (m) => m.headers.key ?? '',
});

describe('routing and queue limits', () => {
  let vhost: TestVhost;
  let transport: RabbitMqTransport;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-routing');
    transport = new RabbitMqTransport({
      url: vhost.url,
      connectionName: 'sluice-routing-test',
      exchanges: {
        [orders]: byKeyHeader('topic'),
        [shipments]: { type: 'headers' },
        [alerts]: byKeyHeader('direct'),
      },
    });
    await transport.connect();
  });

  afterAll(async () => {
    await transport.close();
    await vhost.delete();
  });

  /** Subscribes a collector to a new queue and returns it. */
  async function consumer(topic: string, options: EndpointSpec['options']): Promise<DeliveryCollector> {
    const collector = new DeliveryCollector();
    await transport.subscribe(
      {
        queue: uniqueName('rmqtest.routing'),
        topics: [topic],
        prefetch: 10,
        retryDelaysMs: [],
        options,
      },
      collector.handler,
    );
    return collector;
  }

  /** Keys of what `collector` received once `count` arrived, after a pause for strays. */
  async function keysOf(collector: DeliveryCollector, count: number, header: string): Promise<string[]> {
    await collector.waitForCount(count, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return collector.deliveries.map((d) => d.message.headers[header] ?? '').sort();
  }

  it('routes a topic exchange by binding patterns', async () => {
    const orderEvents = await consumer(orders, { broker: { bindingKeys: ['order.*'] } });
    const everythingEu = await consumer(orders, { broker: { bindingKeys: ['#.eu'] } });
    const keys = ['order.created', 'order.cancelled', 'order.created.eu', 'payment.settled', 'refund.eu'];
    await transport.publish(keys.map((key) => event(orders, { key })));

    expect(await keysOf(orderEvents, 2, 'key')).toEqual(['order.cancelled', 'order.created']);
    expect(await keysOf(everythingEu, 2, 'key')).toEqual(['order.created.eu', 'refund.eu']);
  });

  it('routes a headers exchange by header match, all or any', async () => {
    const euExpress = await consumer(shipments, {
      broker: { bindingHeaders: { match: 'all', headers: { region: 'eu', speed: 'express' } } },
    });
    const euOrExpress = await consumer(shipments, {
      broker: { bindingHeaders: { match: 'any', headers: { region: 'eu', speed: 'express' } } },
    });
    await transport.publish([
      event(shipments, { id: 'eu-express', region: 'eu', speed: 'express' }),
      event(shipments, { id: 'eu-standard', region: 'eu', speed: 'standard' }),
      event(shipments, { id: 'us-express', region: 'us', speed: 'express' }),
      event(shipments, { id: 'us-standard', region: 'us', speed: 'standard' }),
    ]);

    expect(await keysOf(euExpress, 1, 'id')).toEqual(['eu-express']);
    expect(await keysOf(euOrExpress, 3, 'id')).toEqual(['eu-express', 'eu-standard', 'us-express']);
  });

  it('routes a direct exchange by exact key', async () => {
    const pager = await consumer(alerts, { broker: { bindingKeys: ['critical'] } });
    const log = await consumer(alerts, { broker: { bindingKeys: ['critical', 'warning'] } });
    await transport.publish(
      ['critical', 'warning', 'info', 'critical.db'].map((key) => event(alerts, { key })),
    );

    expect(await keysOf(pager, 1, 'key')).toEqual(['critical']);
    expect(await keysOf(log, 2, 'key')).toEqual(['critical', 'warning']);
  });

  it('matches a returned message by its id and destination when message ids repeat', async () => {
    const bound = await consumer(alerts, { broker: { bindingKeys: ['critical'] } });
    const unbound = uniqueName('rmqtest.nowhere');
    const id = `repeated-${uniqueName('id')}`;
    const send = (destination: OutgoingMessage['destination'], key: string) =>
      transport.publish([outgoing(destination, { messageId: id, headers: { key } })]).then(
        () => 'confirmed',
        (error: unknown) => (error as { code?: string }).code,
      );
    // In flight together, with one id: the routable ones must not be failed by the other's return.
    const outcomes = await Promise.all([
      send({ topic: alerts }, 'critical'),
      send({ queue: unbound }, 'x'),
      send({ topic: alerts }, 'critical'),
      send({ queue: unbound }, 'y'),
    ]);
    expect(outcomes).toEqual(['confirmed', ErrorCodes.UNROUTABLE, 'confirmed', ErrorCodes.UNROUTABLE]);
    expect(await keysOf(bound, 2, 'key')).toEqual(['critical', 'critical']);
  });

  it('never confirms a mandatory message no queue took, whatever its id or destination holds', async () => {
    // A lone surrogate travels as U+FFFD: RabbitMQ returned the message under another id, queue or
    // exchange than the send's, the return matched no send, and the publish resolved as delivered.
    const unbound = uniqueName('rmqtest.nowhere');
    const outcomes = await Promise.all(
      [
        outgoing({ queue: unbound }, { messageId: `${uniqueName('id')}\ud800` }),
        outgoing({ queue: `${unbound}\udc00` }),
        outgoing({ topic: `${uniqueName('rmqtest.unbound')}\ud800` }),
        outgoing({ queue: unbound }),
      ].map((message) =>
        transport.publish([message]).then(
          () => 'confirmed',
          (error: unknown) => (error as { code?: string }).code,
        ),
      ),
    );
    expect(outcomes).toEqual([
      ErrorCodes.INVALID_OPTION,
      ErrorCodes.INVALID_OPTION,
      ErrorCodes.INVALID_OPTION,
      ErrorCodes.UNROUTABLE,
    ]);
  });

  // A quorum queue checks its limit after it took a message in, so it accepts one past `maxLength`
  // before it refuses (RabbitMQ 3.10 here); a classic queue stops at the limit.
  it.each([
    ['classic', 3],
    ['quorum', 4],
  ] as const)(
    'refuses publishes to a full %s queue with SLUICE_QUEUE_FULL, keeping every confirmed message',
    async (queueType, accepted) => {
      const queue = uniqueName('rmqtest.full');
      const subscription = await transport.subscribe(
        {
          queue,
          topics: [],
          prefetch: 1,
          retryDelaysMs: [],
          options: { maxLength: 3, broker: { queueType } },
        },
        (delivery) => delivery.release(),
      );
      await subscription.close();
      const toQueue = (n: number) => outgoing({ queue }, { headers: { n: String(n) } });
      const outcomes = [];
      for (let n = 0; n < 5; n++) {
        outcomes.push(
          await transport.publish([toQueue(n)]).then(
            () => 'confirmed',
            (error: unknown) => (error as { code?: string }).code,
          ),
        );
      }
      expect(outcomes).toEqual(
        Array.from({ length: 5 }, (_, n) => (n < accepted ? 'confirmed' : ErrorCodes.QUEUE_FULL)),
      );

      const admin = await BrokerAdmin.connect(vhost.url);
      try {
        const kept = await admin.drain(queue);
        expect(kept.map((m) => (m.properties.headers as Record<string, unknown>).n)).toEqual(
          Array.from({ length: accepted }, (_, n) => String(n)),
        );
      } finally {
        await admin.close();
      }
      expect(await vhost.queueType(queue)).toBe(queueType);
    },
  );
});

describe('length limits that would lose messages', () => {
  it('refuses maxLength on a classic queue with delayed redeliveries at subscribe, naming the option', async () => {
    const vhost = await TestVhost.create('sluice-maxlength');
    const transport = new RabbitMqTransport({ url: vhost.url, connectionName: 'sluice-maxlength-test' });
    const admin = await BrokerAdmin.connect(vhost.url);
    try {
      await transport.connect();
      const queue = uniqueName('rmqtest.maxlength');
      const endpoint: EndpointSpec = {
        queue,
        topics: [],
        prefetch: 1,
        retryDelaysMs: [200],
        options: { maxLength: 2, broker: { queueType: 'classic' } },
      };
      await expect(transport.subscribe(endpoint, new DeliveryCollector().handler)).rejects.toMatchObject({
        code: ErrorCodes.INVALID_OPTION,
        message: expect.stringContaining('option "maxLength"'),
      });
      expect(await admin.queueExists(queue)).toBe(false);
      // The same limit on a quorum queue is kept: it dead-letters redeliveries at least once.
      await transport.subscribe({ ...endpoint, options: { maxLength: 2 } }, new DeliveryCollector().handler);
      expect(await vhost.queueType(queue)).toBe('quorum');
    } finally {
      await transport.close();
      await admin.close();
      await vhost.delete();
    }
  });
});
