/**
 * Publishing and consuming on connections of their own. RabbitMQ blocks a connection that publishes
 * during a memory or disk alarm and stops reading it, acks included; raising a real alarm would stall
 * every other test on the shared broker, so a proxy in front of it (support/amqp-proxy.ts) does to a
 * connection exactly that: once armed, the connection that publishes is no longer read. The transport
 * still consumes and acks on the other one, and the publish that timed out meanwhile is delivered once
 * the connection is released (what the README says a timed-out publish means). And when RabbitMQ
 * refuses the publish channel (a per-user channel limit, which closes the publishing connection),
 * publishes fail clearly and come back by themselves once it is lifted, while consuming goes on.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, type Delivery } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpProxy } from './support/amqp-proxy.js';
import { BrokerAdmin, eventually, outgoing, TestUser, TestVhost } from './support/broker.js';

describe('separate publishing and consuming connections', () => {
  let vhost: TestVhost;
  let admin: BrokerAdmin;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-connections');
    admin = await BrokerAdmin.connect(vhost.url);
  });

  afterAll(async () => {
    await admin?.close();
    await vhost?.delete();
  });

  it('keeps consuming and acking while the publishing connection is blocked', async () => {
    const proxy = await AmqpProxy.start();
    const queue = `rmqtest.blocked.${randomUUID().slice(0, 8)}`;
    const transport = new RabbitMqTransport({
      url: proxy.url(vhost.url),
      publishTimeoutMs: 1_000,
      reconnect: { initialMs: 50, maxMs: 300 },
      connectionName: 'sluice-blocked-test',
    });
    try {
      await transport.connect();
      const collector = new DeliveryCollector((d: Delivery) => d.ack());
      await transport.subscribe({ queue, topics: [], prefetch: 10, retryDelaysMs: [] }, collector.handler);
      await transport.publish([outgoing({ queue })]);
      await collector.waitForCount(1, 5_000);

      proxy.blockPublishers();
      const late = outgoing({ queue });
      await expect(transport.publish([late])).rejects.toMatchObject({ code: ErrorCodes.DEADLINE_EXCEEDED });
      expect(proxy.blocked).toBe(1);
      // Published around the transport: consumed and acknowledged on the connection that is not blocked.
      const byOthers = Array.from({ length: 50 }, (_, n) => `other-${n}-${randomUUID()}`);
      for (const messageId of byOthers) {
        await admin.publish('', queue, Buffer.from('{}'), {
          messageId,
          type: 'rmqtest.message.v1',
          persistent: true,
        });
      }
      await collector.waitFor(
        (ds) => byOthers.every((id) => ds.some((d) => d.message.messageId === id)),
        10_000,
        'the messages published around the transport',
      );
      await eventually(
        async () => (await vhost.queueMessages(queue)) === 0,
        15_000,
        'every message acknowledged',
      );
      expect(proxy.blocked).toBe(1);

      // The alarm ends: the publish that timed out is delivered after all.
      proxy.release();
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === late.messageId),
        10_000,
        'the late publish',
      );

      // Both connections come back after a loss.
      await vhost.closeAllConnections();
      await eventually(() => transport.isConnected(), 15_000, 'both connections back');
      const after = outgoing({ queue });
      await transport.publish([after]);
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === after.messageId),
        10_000,
        'a message after recovery',
      );
      expect(proxy.connections).toBe(2);
    } finally {
      await transport.close();
      await proxy.close();
      await admin.deleteEndpoint(queue);
    }
  });

  it('fails publishes clearly while RabbitMQ refuses the publish channel, and recovers by itself', async () => {
    const secret = `pw-${randomUUID()}`;
    const user = await TestUser.create('sluice-channels', secret, vhost);
    const url = new URL(vhost.url);
    url.username = user.name;
    url.password = secret;
    const queue = `rmqtest.refused-channel.${randomUUID().slice(0, 8)}`;
    const transport = new RabbitMqTransport({
      url: url.toString(),
      publishTimeoutMs: 1_000,
      reconnect: { initialMs: 50, maxMs: 300 },
      connectionName: 'sluice-channel-limit-test',
    });
    try {
      await transport.connect();
      const collector = new DeliveryCollector((d: Delivery) => d.ack());
      await transport.subscribe({ queue, topics: [], prefetch: 10, retryDelaysMs: [] }, collector.handler);
      await transport.publish([outgoing({ queue })]);
      await collector.waitForCount(1, 5_000);

      // The user may open no more channels than the consumer side holds: the publish channel, once
      // lost, cannot be opened again (RabbitMQ closes that connection, 530 NOT_ALLOWED).
      await user.setLimits({ 'max-channels': 2 });
      await vhost.closeAllConnectionsNamed('sluice-channel-limit-test-publish');
      const refused = await transport.publish([outgoing({ queue })]).then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(refused).toMatchObject({ code: ErrorCodes.CONNECTION_LOST });
      expect(refused?.message).toContain('NOT_ALLOWED');
      expect(refused?.message).not.toContain(secret);
      // Consuming goes on meanwhile.
      const byOthers = `other-${randomUUID()}`;
      await admin.publish('', queue, Buffer.from('{}'), {
        messageId: byOthers,
        type: 'rmqtest.message.v1',
        persistent: true,
      });
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === byOthers),
        10_000,
        'consuming meanwhile',
      );
      await eventually(async () => (await vhost.queueMessages(queue)) === 0, 15_000, 'the ack meanwhile');

      await user.setLimits({});
      await eventually(() => transport.isConnected(), 15_000, 'the publishing connection back');
      const after = outgoing({ queue });
      await transport.publish([after]);
      await collector.waitFor(
        (ds) => ds.some((d) => d.message.messageId === after.messageId),
        10_000,
        'a publish after',
      );
    } finally {
      await user.setLimits({}).catch(() => undefined);
      await transport.close();
      await admin.deleteEndpoint(queue);
      await user.delete();
    }
  });
});
