/**
 * One trace from `POST /orders` to the dead-letter queue, with the demo application in process and
 * spans kept in memory: on the real RabbitMQ (a private vhost) and on Azure Service Bus through the
 * real SDK (the stand-in, unless SERVICEBUS_CONNECTION_STRING names a namespace).
 */
import type { AddressInfo } from 'node:net';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { silentLogger, type Transport } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { installTestTelemetry, parentSpanId, spanKindName, TestHarness } from '@sluice/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  startServiceBus,
  type ServiceBusUnderTest,
} from '../../../packages/azure-service-bus/test/support/service-bus.js';
import { TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { createOrdersApp, type OrdersApp } from '../src/orders-app.js';

const telemetry = installTestTelemetry();

/** What differs between the brokers' spans: names, destination names, broker attributes. */
interface Broker {
  readonly name: string;
  start(): Promise<{ transport: Transport; port: number; stop(): Promise<void> }>;
  readonly system: string;
  readonly send: string;
  consumed(subscription: string): string;
  readonly ack: string;
  /** The PRODUCER span of the dead-letter copy, where one is sent (not for a native dead-letter queue). */
  readonly deadLetterSend: string | undefined;
  readonly deliveryAttribute: string;
}

const brokers: Broker[] = [
  {
    name: 'RabbitMQ',
    async start() {
      const vhost = await TestVhost.create('sluice-trace');
      return { transport: new RabbitMqTransport({ url: vhost.url }), port: 5672, stop: () => vhost.delete() };
    },
    system: 'rabbitmq',
    send: 'publish',
    consumed: (subscription) => `orders.order-placed.v1:orders.${subscription}`,
    ack: 'ack orders.order-placed.v1:orders.email',
    deadLetterSend: 'publish payments.dlq',
    deliveryAttribute: 'messaging.rabbitmq.message.delivery_tag',
  },
  {
    name: 'Azure Service Bus',
    async start() {
      const bus: ServiceBusUnderTest = await startServiceBus();
      const transport = bus.transport({ logger: silentLogger });
      return { transport, port: transport.telemetry.serverPort, stop: () => bus.close() };
    },
    system: 'servicebus',
    send: 'send',
    consumed: (subscription) => `orders.${subscription}`,
    ack: 'complete orders.email',
    deadLetterSend: undefined,
    deliveryAttribute: 'messaging.servicebus.message.delivery_count',
  },
];

describe.each(brokers)('the trace of an order on $name', (broker) => {
  let app: OrdersApp;
  let harness: TestHarness;
  let apiUrl: string;
  let port: number;
  let stopBroker: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await app?.host.stop();
    await stopBroker?.();
  });

  it('covers the request, the publish, every subscriber, the failing consumer’s retries and its dead-lettering', async () => {
    const started = await broker.start();
    stopBroker = started.stop;
    port = started.port;
    app = createOrdersApp({
      transport: started.transport,
      logger: silentLogger,
      metricsPort: false,
      handleSignals: false,
    });
    harness = new TestHarness(app.host);
    await app.host.start();
    await new Promise<void>((resolve) => app.api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(app.api.address() as AddressInfo).port}`;

    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        customerEmail: 'trace@example.com',
        items: [{ sku: 'desk', quantity: 1, unitPrice: 1300 }],
        totalAmount: 1300,
        cardToken: 'tok_gateway_down',
      }),
    });
    expect(response.status).toBe(202);
    const { orderId, traceId } = (await response.json()) as { orderId: string; traceId: string };
    const dead = await harness.waitFor({ consumer: 'ChargeCardConsumer', outcome: 'dead-lettered' }, 20_000);
    for (const consumer of [
      'SendConfirmationEmail',
      'ReserveInventory',
      'PrepareShipment',
      'NotifyVipDesk',
      'RequestPayment',
    ]) {
      await harness.waitFor({ messageId: orderId, consumer, outcome: 'handled' }, 10_000);
    }

    const spans = (await telemetry.spans()).filter((s) => s.spanContext().traceId === traceId);
    const one = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0] as ReadableSpan;
    };
    const all = (name: string) => spans.filter((s) => s.name === name);

    const request = one('POST /orders');
    expect(spanKindName(request)).toBe('SERVER');

    const publish = one(`${broker.send} orders.order-placed.v1`);
    expect(spanKindName(publish)).toBe('PRODUCER');
    expect(parentSpanId(publish)).toBe(request.spanContext().spanId);
    expect(publish.attributes).toMatchObject({
      'messaging.system': broker.system,
      'messaging.operation.name': broker.send,
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'orders.order-placed.v1',
      'messaging.message.id': orderId,
      'server.address': '127.0.0.1',
      'server.port': port,
    });

    const subscriptions = ['email', 'inventory', 'shipping', 'vip-desk', 'payments'];
    for (const subscription of subscriptions) {
      const process = spans.filter(
        (s) =>
          s.name.startsWith('process ') &&
          s.attributes['messaging.destination.subscription.name'] === subscription,
      );
      expect(process, subscription).toHaveLength(1);
      const span = process[0] as ReadableSpan;
      expect(spanKindName(span)).toBe('CONSUMER');
      expect(parentSpanId(span)).toBe(publish.spanContext().spanId);
      expect(span.links[0]?.context.spanId).toBe(publish.spanContext().spanId);
      expect(span.attributes).toMatchObject({
        'messaging.system': broker.system,
        'messaging.operation.type': 'process',
        'messaging.destination.name': broker.consumed(subscription),
        'messaging.consumer.group.name': `orders.${subscription}`,
      });
      expect(typeof span.attributes[broker.deliveryAttribute]).toBe('number');
    }

    const requestPayment = spans.find(
      (s) => s.attributes['messaging.destination.subscription.name'] === 'payments',
    )!;
    const sendCharge = one(`${broker.send} payments.charge-card.v1`);
    expect(parentSpanId(sendCharge)).toBe(requestPayment.spanContext().spanId);

    const chargeProcesses = spans.filter(
      (s) => s.name.startsWith('process ') && s.attributes['messaging.consumer.group.name'] === 'payments',
    );
    expect(chargeProcesses.map((s) => s.attributes['sluice.delivery.attempt'])).toEqual([1, 2, 3]);
    for (const span of chargeProcesses) {
      expect(parentSpanId(span)).toBe(sendCharge.spanContext().spanId);
      expect(span.status.code).toBe(2);
      expect(span.attributes['error.type']).toBe('TransientGatewayError');
      expect(span.events.filter((e) => e.name === 'exception')).toHaveLength(2);
    }
    const retries = spans.filter((s) => s.name.startsWith('retry '));
    expect(retries.map((s) => [spanKindName(s), s.attributes['sluice.retry.delay_ms']])).toEqual([
      ['CLIENT', 500],
      ['CLIENT', 1000],
    ]);
    expect(retries.map(parentSpanId)).toEqual(chargeProcesses.slice(0, 2).map((s) => s.spanContext().spanId));

    const deadLetter = spans.find((s) => s.name.startsWith('dead_letter '))!;
    expect(spanKindName(deadLetter)).toBe('CLIENT');
    expect(parentSpanId(deadLetter)).toBe(chargeProcesses[2]!.spanContext().spanId);
    expect(deadLetter.attributes).toMatchObject({
      'messaging.operation.type': 'settle',
      'sluice.fault.reason': 'max-attempts',
    });
    if (broker.deadLetterSend === undefined) {
      // A native dead-letter queue: the broker moves the message; the settle span is its last hop.
      expect(spans.filter((s) => spanKindName(s) === 'PRODUCER' && s.name.includes('payments/'))).toEqual([]);
      expect(dead.fault?.traceHeaders?.traceparent).toContain(deadLetter.spanContext().spanId);
    } else {
      const dlqSend = one(broker.deadLetterSend);
      expect(spanKindName(dlqSend)).toBe('PRODUCER');
      expect(parentSpanId(dlqSend)).toBe(deadLetter.spanContext().spanId);
      expect(dead.fault?.traceHeaders?.traceparent).toContain(dlqSend.spanContext().spanId);
    }

    const acks = all(broker.ack);
    expect(acks.map((s) => [spanKindName(s), s.attributes['messaging.operation.type']])).toEqual([
      ['CLIENT', 'settle'],
    ]);
  });
});
