/**
 * Recovery specifics on the real broker: a consumer cancelled by RabbitMQ because its queue was
 * deleted comes back; during an outage `isConnected()` (and so the host's readiness) is false and true
 * again after it; publishes made during the outage wait and succeed, or fail loudly after their bound;
 * a publish channel closed by the broker is reopened.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, defineCommand, ErrorCodes, type Delivery, type Transport } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector, TestHarness } from '@sluice/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrokerAdmin, eventually, outgoing, TestVhost } from './support/broker.js';

describe('recovery', () => {
  let vhost: TestVhost;
  let admin: BrokerAdmin;
  const open: Transport[] = [];
  const reconnect = { initialMs: 50, maxMs: 300 };

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-recovery');
    admin = await BrokerAdmin.connect(vhost.url);
  });

  afterEach(async () => {
    await vhost.allowAccess();
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  afterAll(async () => {
    await admin?.close();
    await vhost?.delete();
  });

  async function connected(
    options: ConstructorParameters<typeof RabbitMqTransport>[0] = {},
  ): Promise<RabbitMqTransport> {
    const transport = new RabbitMqTransport({ url: vhost.url, reconnect, ...options });
    open.push(transport);
    await transport.connect();
    return transport;
  }

  it('recovers a consumer that RabbitMQ cancelled because its queue was deleted', async () => {
    const transport = await connected({ connectionName: 'recovery-cancel' });
    const queue = `rmqtest.cancelled.${randomUUID().slice(0, 8)}`;
    const topic = `rmqtest.cancelled-${randomUUID().slice(0, 8)}.v1`;
    const collector = new DeliveryCollector();
    await transport.subscribe({ queue, topics: [topic], prefetch: 5, retryDelaysMs: [] }, collector.handler);
    await transport.publish([outgoing({ topic })]);
    await collector.waitForCount(1, 5_000);

    await admin.deleteQueues([queue]);
    // The consumer declares its queue (and binding) again and consumes; a message sent to the topic
    // afterwards reaches it.
    await eventually(() => admin.queueExists(queue), 10_000, 'the queue to be declared again');
    const after = outgoing({ topic });
    await eventually(
      async () => {
        await transport.publish([outgoing({ topic }, { mandatory: false })]);
        return collector.deliveries.length >= 2;
      },
      10_000,
      'the recovered consumer to receive',
    );
    await transport.publish([after]);
    await collector.waitFor(
      (ds) => ds.some((d: Delivery) => d.message.messageId === after.messageId),
      5_000,
      'the message sent after recovery',
    );
    expect(transport.isConnected()).toBe(true);
  });

  it('reports the outage, holds publishes through it and fails them loudly past their bound', async () => {
    const id = randomUUID().slice(0, 8);
    const Command = defineCommand<{ n: number }>(`rmqtest.during-outage-${id}.v1`);
    @Consumer({ queue: `rmqtest.outage.${id}`, message: Command })
    class Handle {
      handle(): void {}
    }
    const harness = await TestHarness.start({
      serviceName: 'rmqtest',
      transport: new RabbitMqTransport({ url: vhost.url, reconnect, connectionName: 'recovery-host' }),
      consumers: [Handle],
    });
    try {
      const patient = await connected({ connectionName: 'recovery-patient', publishTimeoutMs: 30_000 });
      const impatient = await connected({ connectionName: 'recovery-impatient', publishTimeoutMs: 500 });
      expect(harness.host.isReady()).toBe(true);

      await vhost.denyAccess();
      await vhost.closeAllConnections();
      await eventually(
        () => !patient.isConnected() && !impatient.isConnected(),
        5_000,
        'the outage to be noticed',
      );
      expect(harness.host.isReady()).toBe(false);

      const sentDuring = outgoing({ topic: Command.type });
      const held = patient.publish([{ ...sentDuring, type: Command.type, body: Buffer.from('{"n":1}') }]);
      const started = Date.now();
      await expect(impatient.publish([outgoing({ topic: Command.type })])).rejects.toMatchObject({
        code: ErrorCodes.CONNECTION_LOST,
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      // Still an outage: reconnect attempts are refused.
      expect(patient.isConnected()).toBe(false);

      await vhost.allowAccess();
      await eventually(() => patient.isConnected() && harness.host.isReady(), 10_000, 'the reconnection');
      await expect(held).resolves.toBeUndefined();
      await harness.waitForHandled(sentDuring.messageId, 'Handle', 10_000);
    } finally {
      await harness.stop();
    }
  });

  it('reopens a publish channel that the broker closed', async () => {
    const transport = await connected({ connectionName: 'recovery-channel' });
    const queue = `rmqtest.channel.${randomUUID().slice(0, 8)}`;
    const topic = `rmqtest.channel-${randomUUID().slice(0, 8)}.v1`;
    const collector = new DeliveryCollector();
    await transport.subscribe({ queue, topics: [topic], prefetch: 5, retryDelaysMs: [] }, collector.handler);
    await transport.publish([outgoing({ topic })]);
    // Deleted behind the transport's back: the next publish to it makes the broker close the channel
    // (404). The transport reopens the channel, declares the exchange again and resends; with the
    // binding gone too, the mandatory message is reported unroutable rather than lost or hanging.
    await admin.deleteExchanges([topic]);
    await expect(transport.publish([outgoing({ topic })])).rejects.toMatchObject({
      code: ErrorCodes.UNROUTABLE,
    });
    const direct = outgoing({ queue });
    await transport.publish([direct]);
    await collector.waitFor(
      (ds) => ds.some((d) => d.message.messageId === direct.messageId),
      5_000,
      'a direct send',
    );
  });
});
