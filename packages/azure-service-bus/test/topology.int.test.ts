/**
 * Topology on Service Bus through the administration client: the VIP filter as a broker-side SQL
 * rule (the others never reach the queue), correlation rules, rules and settings updated when they
 * differ, provisioning turned off, and hostile messages from the plain SDK dead-lettered with their
 * reason while the consumer keeps running.
 */
import { randomUUID } from 'node:crypto';
import type { RuleProperties, ServiceBusReceivedMessage } from '@azure/service-bus';
import { Consumer, defineCommand, ErrorCodes, type OutgoingMessage } from '@sluice/core';
import { DeliveryCollector, TestHarness } from '@sluice/testing';
import { describe, expect, it } from 'vitest';
import { uniqueName, useServiceBus } from './support/service-bus.js';

const fx = useServiceBus('sb-topo');

function order(topic: string, totalAmount: number): OutgoingMessage {
  return {
    messageId: `order-${totalAmount}-${randomUUID().slice(0, 4)}`,
    type: topic,
    contentType: 'application/json',
    sentAt: new Date(),
    headers: { totalAmount: String(totalAmount) },
    body: Buffer.from(JSON.stringify({ totalAmount })),
    destination: { topic },
    mandatory: false,
  };
}

async function rulesOf(topic: string, subscription: string): Promise<RuleProperties[]> {
  const rules: RuleProperties[] = [];
  for await (const rule of fx.bus.admin.listRules(topic, subscription)) rules.push(rule);
  return rules;
}

describe('subscription rules from the filter', () => {
  it('filters the VIP orders (totalAmount > 1000) on the broker: the others never reach the queue', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    const collector = new DeliveryCollector();
    const vip = await transport.subscribe(
      {
        queue,
        topics: [topic],
        prefetch: 10,
        retryDelaysMs: [],
        filter: { property: 'totalAmount', gt: 1000 },
      },
      collector.handler,
    );
    expect((await rulesOf(topic, queue)).map((r) => [r.name, r.filter])).toEqual([
      ['sluice', { sqlExpression: 'user.totalAmount > 1000', sqlParameters: undefined }],
    ]);
    await vip.pause();
    const orders = [20, 2400, 1000, 1000.5, 300].map((amount) => order(topic, amount));
    await transport.publish(orders);
    // What is in the queue is what the rule let through: nothing else was ever delivered to it.
    await expect.poll(() => transport.queueDepth(queue), { timeout: 5_000 }).toBe(2);
    const peeked = await fx.bus.client.createReceiver(queue).peekMessages(10);
    expect(peeked.map((m: ServiceBusReceivedMessage) => m.applicationProperties?.totalAmount).sort()).toEqual(
      [1000.5, 2400],
    );
    await vip.resume();
    const got = await collector.waitForCount(2, 10_000);
    expect(got.map((d) => d.message.headers.totalAmount).sort()).toEqual(['1000.5', '2400']);
  });

  it('makes a correlation rule of equalities, and rewrites a rule that differs (one rule left)', async () => {
    const { queue, topic } = fx.endpoint();
    const first = await fx.openTransport();
    const spec = { queue, topics: [topic], prefetch: 1, retryDelaysMs: [] };
    await first.subscribe(
      {
        ...spec,
        filter: {
          all: [
            { property: 'region', equals: 'eu' },
            { property: 'tier', equals: 3 },
          ],
        },
      },
      new DeliveryCollector().handler,
    );
    expect((await rulesOf(topic, queue)).map((r) => [r.name, r.filter])).toEqual([
      ['sluice', expect.objectContaining({ applicationProperties: { region: 'eu', tier: 3 } })],
    ]);
    await fx.bus.admin.createRule(topic, queue, 'stray', { sqlExpression: '1=1' });
    const second = await fx.openTransport();
    await second.subscribe(
      { ...spec, filter: { property: 'region', in: ['us', "o'hare"] } },
      new DeliveryCollector().handler,
    );
    expect((await rulesOf(topic, queue)).map((r) => [r.name, r.filter])).toEqual([
      ['sluice', { sqlExpression: "user.region IN ('us', 'o''hare')", sqlParameters: undefined }],
    ]);
    const subscription = await fx.bus.admin.getSubscription(topic, queue);
    expect(subscription.forwardTo?.toLowerCase()).toMatch(new RegExp(`/${queue.replace(/\./g, '\\.')}$`));
  });

  it('updates queue settings that differ, and with provisioning off touches nothing', async () => {
    const { queue, topic } = fx.endpoint();
    await fx.bus.admin.createQueue(queue, { lockDuration: 'PT30S', maxDeliveryCount: 3 });
    const transport = await fx.openTransport({ maxDeliveryCount: 7 });
    await transport.subscribe(
      { queue, topics: [], prefetch: 1, retryDelaysMs: [] },
      new DeliveryCollector().handler,
    );
    expect(await fx.bus.admin.getQueue(queue)).toMatchObject({
      lockDuration: 'PT5S',
      maxDeliveryCount: 7,
      deadLetteringOnMessageExpiration: true,
    });

    const hands = await fx.openTransport({ provision: false, connectTimeoutMs: 3_000 });
    await expect(
      hands.subscribe(
        { queue: `${queue}.missing`, topics: [topic], prefetch: 1, retryDelaysMs: [] },
        new DeliveryCollector().handler,
      ),
    ).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: expect.stringContaining('provision is off'),
    });
    expect(await fx.bus.admin.topicExists(topic)).toBe(false);
    expect(await fx.bus.admin.queueExists(`${queue}.missing`)).toBe(false);
  });
});

describe('hostile messages from the plain SDK', () => {
  it('dead-letters a malformed body, an unknown type and a body that is not bytes, with their reasons; the consumer keeps running', async () => {
    const transport = await fx.openTransport();
    const queue = uniqueName('sb-hostile');
    const Work = defineCommand<{ n: number }>(`sbtest.hostile-${randomUUID().slice(0, 6)}.v1`);
    fx.defer(() => fx.bus.deleteEndpoint(queue, [Work.type]));
    const handled: number[] = [];
    @Consumer({ queue, message: Work })
    class Worker {
      handle({ n }: { n: number }) {
        handled.push(n);
      }
    }
    const harness = await TestHarness.start({
      serviceName: 'sbtest',
      transport,
      consumers: [Worker],
      processMetrics: false,
    });
    fx.defer(() => harness.stop());
    const sender = fx.bus.client.createSender(Work.type);
    await sender.sendMessages([
      {
        messageId: 'bad-json',
        subject: Work.type,
        contentType: 'application/json',
        body: Buffer.from('{"n": 1,'),
      },
      { messageId: 'no-type', body: { n: 2 } },
      {
        messageId: 'wrong-type',
        subject: 'sbtest.other.v1',
        contentType: 'application/json',
        body: Buffer.from('{"n":3}'),
      },
    ]);
    // An AMQP value section (another client's message): a number, not bytes.
    await sender.sendMessages({
      body: 42,
      bodyType: 'value',
      properties: { messageId: 'value-body', subject: Work.type },
    } as never);
    await harness.bus.send(Work, { n: 4 }, { messageId: 'good' });
    await harness.waitForHandled('good', 'Worker', 10_000);
    const dead = fx.bus.client.createReceiver(queue, {
      subQueueType: 'deadLetter',
      receiveMode: 'receiveAndDelete',
    });
    const letters: ServiceBusReceivedMessage[] = [];
    const deadline = Date.now() + 10_000;
    while (letters.length < 4 && Date.now() < deadline)
      letters.push(...(await dead.receiveMessages(4, { maxWaitTimeInMs: 1_000 })));
    expect(Object.fromEntries(letters.map((m) => [m.messageId, m.deadLetterReason]))).toEqual({
      'bad-json': 'decode-failed',
      'no-type': 'unknown-type',
      'wrong-type': 'unknown-type',
      'value-body': 'decode-failed',
    });
    expect(letters.find((m) => m.messageId === 'value-body')?.deadLetterErrorDescription).toContain(
      'not bytes',
    );
    expect(handled).toEqual([4]);
    expect(harness.host.isReady()).toBe(true);
  });
});
