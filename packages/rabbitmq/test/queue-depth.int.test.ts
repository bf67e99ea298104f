/**
 * Queue depth for the host's gauge: ready messages by a passive declare, or ready plus unacknowledged
 * through the management API (needs the rabbitmq_management plugin on port 15672).
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, type OutgoingMessage } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerAdmin, brokerUrl } from './support/broker.js';

const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

describe('queue depth', () => {
  const open: RabbitMqTransport[] = [];
  const queue = `rmqtest.depth.${randomUUID().slice(0, 8)}`;

  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
    const admin = await BrokerAdmin.connect();
    await admin.deleteEndpoint(queue);
    await admin.close();
  });

  async function connected(
    options: ConstructorParameters<typeof RabbitMqTransport>[0],
  ): Promise<RabbitMqTransport> {
    const transport = new RabbitMqTransport({
      url: brokerUrl,
      connectionName: 'sluice-depth-test',
      ...options,
    });
    open.push(transport);
    await transport.connect();
    return transport;
  }

  it('counts ready messages, or ready plus unacknowledged through the management API', async () => {
    const plain = await connected({});
    const managed = await connected({ management: { url: managementUrl } });
    const holding = new DeliveryCollector(() => new Promise<void>(() => undefined));
    await plain.subscribe({ queue, topics: [], prefetch: 3, retryDelaysMs: [] }, holding.handler);
    const messages: OutgoingMessage[] = Array.from({ length: 10 }, () => ({
      messageId: randomUUID(),
      type: 'rmqtest.depth.v1',
      contentType: 'text/plain',
      sentAt: new Date(),
      headers: {},
      body: Buffer.from('x'),
      destination: { queue },
      mandatory: true,
    }));
    await plain.publish(messages);
    await holding.waitForCount(3, 5_000);

    await expect.poll(() => plain.queueDepth(queue), { timeout: 5_000 }).toBe(7);
    // Management statistics are refreshed every 5 s by default.
    await expect.poll(() => managed.queueDepth(queue), { timeout: 15_000, interval: 500 }).toBe(10);
    expect(await plain.queueDepth(`${queue}.missing`)).toBe(0);
    expect(await managed.queueDepth(`${queue}.missing`)).toBe(0);
  });

  it('fails loudly, without credentials, when the management API is unreachable', async () => {
    const secret = `pw-${randomUUID()}`;
    const managed = await connected({
      management: { url: `http://admin:${secret}@127.0.0.1:1`, timeoutMs: 2_000 },
    });
    const failure = await managed.queueDepth(queue).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure).toMatchObject({ code: ErrorCodes.CONNECTION_LOST });
    expect(failure?.message).toContain('http://127.0.0.1:1');
    expect(failure?.message).not.toContain(secret);
  });
});
