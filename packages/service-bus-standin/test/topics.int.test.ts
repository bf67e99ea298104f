import { isServiceBusError, type RuleProperties, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveUpTo, type StandInFixture, startFixture, uniqueName } from './support/fixture.js';

/** Topics, subscriptions and rules, through the real SDK (AMQP rule manager and ATOM rules). */
describe('service bus stand-in: topics and subscription rules', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture();
  });
  afterAll(async () => {
    await fx.stop();
  });

  async function topicWith(subscriptions: string[]): Promise<string> {
    const topic = uniqueName('t');
    await fx.admin.createTopic(topic);
    for (const subscription of subscriptions) await fx.admin.createSubscription(topic, subscription);
    return topic;
  }

  const bodies = (messages: ServiceBusReceivedMessage[]) => messages.map((m) => m.body as string).sort();

  it('fans out to every subscription; the SQL filter (totalAmount > 1000) keeps the others out of vip', async () => {
    const topic = await topicWith(['email', 'shipping']);
    await fx.admin.createSubscription(topic, 'vip', {
      defaultRuleOptions: { name: 'vip-orders', filter: { sqlExpression: 'totalAmount > 1000' } },
    });
    const sender = fx.client.createSender(topic);
    const orders = [
      { id: 'small', totalAmount: 20 },
      { id: 'big', totalAmount: 2400 },
      { id: 'edge', totalAmount: 1000 },
      { id: 'huge', totalAmount: 1000.5 },
    ];
    await sender.sendMessages(
      orders.map((o) => ({ body: o.id, applicationProperties: { totalAmount: o.totalAmount } })),
    );
    await sender.sendMessages({ body: 'no-amount' });
    for (const subscription of ['email', 'shipping']) {
      const receiver = fx.client.createReceiver(topic, subscription, { receiveMode: 'receiveAndDelete' });
      expect(bodies(await receiveUpTo(receiver, 5))).toEqual(['big', 'edge', 'huge', 'no-amount', 'small']);
    }
    const rules = [];
    for await (const rule of fx.admin.listRules(topic, 'vip')) rules.push(rule.name);
    expect(rules).toEqual(['vip-orders']);
    const vip = fx.client.createReceiver(topic, 'vip');
    const received = await receiveUpTo(vip, 2);
    expect(bodies(received)).toEqual(['big', 'huge']);
    for (const message of received) await vip.completeMessage(message);
    const runtime = await fx.admin.getSubscriptionRuntimeProperties(topic, 'vip');
    expect([runtime.activeMessageCount, runtime.totalMessageCount]).toEqual([0, 0]);
    expect(await vip.peekMessages(10)).toEqual([]);
  });

  it('auto-forwards what a subscription matches to its queue; the subscription keeps none', async () => {
    const queue = await fx.queue();
    const topic = await topicWith([]);
    await fx.admin.createSubscription(topic, 'vip', {
      forwardTo: queue,
      defaultRuleOptions: { name: 'vip-orders', filter: { sqlExpression: 'totalAmount > 1000' } },
    });
    const described = await fx.admin.getSubscription(topic, 'vip');
    expect(described.forwardTo?.toLowerCase()).toBe(`sb://${fx.standIn.endpoint}/${queue}`.toLowerCase());
    await fx.client.createSender(topic).sendMessages([
      { body: 'small', applicationProperties: { totalAmount: 20 } },
      { body: 'big', applicationProperties: { totalAmount: 2400 } },
    ]);
    const receiver = fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    expect(bodies(await receiveUpTo(receiver, 2, 1_500))).toEqual(['big']);
    const runtime = await fx.admin.getSubscriptionRuntimeProperties(topic, 'vip');
    expect(runtime.totalMessageCount).toBe(0);

    await fx.admin.deleteQueue(queue);
    await fx.client
      .createSender(topic)
      .sendMessages({ body: 'lost', applicationProperties: { totalAmount: 5000 } });
    const dead = fx.client.createReceiver(topic, 'vip', {
      subQueueType: 'deadLetter',
      receiveMode: 'receiveAndDelete',
    });
    const [orphan] = await receiveUpTo(dead, 1);
    expect(orphan).toMatchObject({ body: 'lost', deadLetterReason: 'ForwardingDestinationNotFound' });
  });

  it('refuses to forward to what is not a queue of the namespace', async () => {
    const topic = await topicWith([]);
    const refused = await fx.admin.createSubscription(topic, 'nowhere', { forwardTo: 'no-such-queue' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String((refused as Error | undefined)?.message)).toContain('no-such-queue');
    const other = await topicWith([]);
    await expect(fx.admin.createSubscription(topic, 'loop', { forwardTo: other })).rejects.toThrow(/queue/);
  });

  it('filters with a correlation filter on system and application properties', async () => {
    const topic = await topicWith([]);
    await fx.admin.createSubscription(topic, 'eu-orders', {
      defaultRuleOptions: {
        name: 'eu',
        filter: { subject: 'orders.order-placed.v1', applicationProperties: { region: 'eu' } },
      },
    });
    const sender = fx.client.createSender(topic);
    await sender.sendMessages([
      { body: 'eu-order', subject: 'orders.order-placed.v1', applicationProperties: { region: 'eu' } },
      { body: 'us-order', subject: 'orders.order-placed.v1', applicationProperties: { region: 'us' } },
      { body: 'eu-refund', subject: 'orders.refund.v1', applicationProperties: { region: 'eu' } },
    ]);
    const receiver = fx.client.createReceiver(topic, 'eu-orders', { receiveMode: 'receiveAndDelete' });
    expect(bodies(await receiveUpTo(receiver, 3, 1_500))).toEqual(['eu-order']);
  });

  it('adds, lists and removes rules over AMQP (rule manager); no rule means no delivery', async () => {
    const topic = await topicWith(['audit']);
    const rules = fx.client.createRuleManager(topic, 'audit');
    const listRules = async () => {
      const listed: RuleProperties[] = [];
      for await (const rule of rules.listRules()) listed.push(rule);
      return listed;
    };
    expect((await listRules()).map((r) => [r.name, r.filter])).toEqual([
      ['$Default', { sqlExpression: '1=1' }],
    ]);
    await rules.createRule('refunds', {
      sqlExpression: "sys.Label = 'refund' AND NOT (channel IN ('test', 'dev'))",
    });
    await rules.createRule('by-correlation', {
      correlationId: 'c-7',
      applicationProperties: { priority: 1 },
    });
    await rules.deleteRule('$Default');
    const listed = await listRules();
    expect(listed.map((r) => r.name).sort()).toEqual(['by-correlation', 'refunds']);
    expect(listed.find((r) => r.name === 'by-correlation')!.filter).toMatchObject({
      correlationId: 'c-7',
      applicationProperties: { priority: 1 },
    });
    const sender = fx.client.createSender(topic);
    await sender.sendMessages([
      { body: 'refund-live', subject: 'refund', applicationProperties: { channel: 'web' } },
      { body: 'refund-test', subject: 'refund', applicationProperties: { channel: 'test' } },
      { body: 'correlated', correlationId: 'c-7', applicationProperties: { priority: 1 } },
      { body: 'other' },
    ]);
    const receiver = fx.client.createReceiver(topic, 'audit', { receiveMode: 'receiveAndDelete' });
    expect(bodies(await receiveUpTo(receiver, 4, 1_500))).toEqual(['correlated', 'refund-live']);
    await rules.deleteRule('refunds');
    await rules.deleteRule('by-correlation');
    await sender.sendMessages({ body: 'unrouted', subject: 'refund' });
    expect(await receiver.peekMessages(5)).toEqual([]);
  });

  it('refuses a SQL filter outside the subset with a clear error, over AMQP and ATOM', async () => {
    const topic = await topicWith(['s']);
    const amqpError = await fx.client
      .createRuleManager(topic, 's')
      .createRule('like', { sqlExpression: "name LIKE 'a%'" })
      .catch((e: unknown) => e);
    expect(String((amqpError as Error).message)).toMatch(/LIKE is not supported by the stand-in/);
    const atomError = await fx.admin
      .createRule(topic, 's', 'broken', { sqlExpression: 'amount > ' })
      .catch((e: unknown) => e);
    expect(atomError).toMatchObject({ statusCode: 400 });
    expect(String((atomError as Error).message)).toMatch(/expected a property or a literal/);
  });

  it('manages rules through the administration client: create, get, update, list, delete', async () => {
    const topic = await topicWith(['billing']);
    await fx.admin.createRule(topic, 'billing', 'big', { sqlExpression: 'totalAmount >= 500' });
    expect((await fx.admin.getRule(topic, 'billing', 'big')).filter).toMatchObject({
      sqlExpression: 'totalAmount >= 500',
    });
    const rule = await fx.admin.getRule(topic, 'billing', 'big');
    await fx.admin.updateRule(topic, 'billing', { ...rule, filter: { sqlExpression: 'totalAmount >= 900' } });
    expect((await fx.admin.getRule(topic, 'billing', 'big')).filter).toMatchObject({
      sqlExpression: 'totalAmount >= 900',
    });
    await fx.admin.createRule(topic, 'billing', 'tenant', {
      applicationProperties: { tenant: 'acme', tier: 2 },
    });
    const listed: string[] = [];
    for await (const each of fx.admin.listRules(topic, 'billing')) listed.push(each.name);
    expect(listed.sort()).toEqual(['$Default', 'big', 'tenant']);
    expect((await fx.admin.getRule(topic, 'billing', 'tenant')).filter).toMatchObject({
      applicationProperties: { tenant: 'acme', tier: 2 },
    });
    await fx.admin.deleteRule(topic, 'billing', '$Default');
    expect(await fx.admin.ruleExists(topic, 'billing', '$Default')).toBe(false);
    const duplicate = await fx.admin
      .createRule(topic, 'billing', 'big', { sqlExpression: '1=1' })
      .catch((e: unknown) => e);
    expect(duplicate).toMatchObject({ code: 'MessageEntityAlreadyExistsError' });
    const sender = fx.client.createSender(topic);
    await sender.sendMessages([
      { body: 'small', applicationProperties: { totalAmount: 100 } },
      { body: 'large', applicationProperties: { totalAmount: 950 } },
    ]);
    const receiver = fx.client.createReceiver(topic, 'billing', { receiveMode: 'receiveAndDelete' });
    expect(bodies(await receiveUpTo(receiver, 2, 1_500))).toEqual(['large']);
  });

  it('schedules on a topic (copied when due) and dead-letters from a subscription to its $DeadLetterQueue', async () => {
    const topic = await topicWith(['a', 'b']);
    const sender = fx.client.createSender(topic);
    const [sequenceNumber] = await sender.scheduleMessages(
      { body: 'scheduled' },
      new Date(Date.now() + 3_000),
    );
    expect((await fx.admin.getTopicRuntimeProperties(topic)).scheduledMessageCount).toBe(1);
    const receiverA = fx.client.createReceiver(topic, 'a');
    const [fromA] = await receiveUpTo(receiverA, 1);
    expect(fromA!.body).toBe('scheduled');
    await receiverA.deadLetterMessage(fromA!, { deadLetterReason: 'r', deadLetterErrorDescription: 'd' });
    const [dead] = await receiveUpTo(fx.client.createReceiver(topic, 'a', { subQueueType: 'deadLetter' }), 1);
    expect(dead).toMatchObject({ body: 'scheduled', deadLetterReason: 'r', deadLetterErrorDescription: 'd' });
    const [fromB] = await receiveUpTo(
      fx.client.createReceiver(topic, 'b', { receiveMode: 'receiveAndDelete' }),
      1,
    );
    expect(fromB!.body).toBe('scheduled');
    expect((await fx.admin.getSubscriptionRuntimeProperties(topic, 'a')).deadLetterMessageCount).toBe(1);
    const error = await sender.cancelScheduledMessages(sequenceNumber!).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageNotFound');
  });
});
