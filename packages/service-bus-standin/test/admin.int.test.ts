import { ServiceBusAdministrationClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveUpTo, type StandInFixture, startFixture, uniqueName } from './support/fixture.js';

/** The real ServiceBusAdministrationClient against the stand-in's ATOM endpoint (TLS, test CA). */
describe('service bus stand-in: administration client', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture();
  });
  afterAll(async () => {
    await fx.stop();
  });

  it('creates, gets, updates, lists and deletes a queue; exists and runtime properties follow', async () => {
    const name = uniqueName('admin-q');
    expect(await fx.admin.queueExists(name)).toBe(false);
    const created = await fx.admin.createQueue(name, {
      lockDuration: 'PT10S',
      maxDeliveryCount: 4,
      userMetadata: 'orders',
    });
    expect(created).toMatchObject({
      name,
      lockDuration: 'PT10S',
      maxDeliveryCount: 4,
      userMetadata: 'orders',
      status: 'Active',
    });
    expect(await fx.admin.queueExists(name)).toBe(true);
    const fetched = await fx.admin.getQueue(name);
    expect(fetched).toMatchObject({
      name,
      requiresSession: false,
      enablePartitioning: false,
      deadLetteringOnMessageExpiration: false,
    });
    const updated = await fx.admin.updateQueue({ ...fetched, maxDeliveryCount: 7, lockDuration: 'PT20S' });
    expect([updated.maxDeliveryCount, updated.lockDuration]).toEqual([7, 'PT20S']);
    await fx.client.createSender(name).sendMessages([{ body: 1 }, { body: 2 }]);
    await fx.client.createSender(name).scheduleMessages({ body: 3 }, new Date(Date.now() + 60_000));
    const runtime = await fx.admin.getQueueRuntimeProperties(name);
    expect(runtime).toMatchObject({
      name,
      activeMessageCount: 2,
      scheduledMessageCount: 1,
      deadLetterMessageCount: 0,
      totalMessageCount: 3,
    });
    expect(runtime.sizeInBytes).toBeGreaterThan(0);
    const names: string[] = [];
    for await (const queue of fx.admin.listQueues()) names.push(queue.name);
    expect(names).toContain(name);
    const counts: number[] = [];
    for await (const queue of fx.admin.listQueuesRuntimeProperties())
      if (queue.name === name) counts.push(queue.activeMessageCount);
    expect(counts).toEqual([2]);
    await fx.admin.deleteQueue(name);
    expect(await fx.admin.queueExists(name)).toBe(false);
  });

  it('answers 409 for a second create and 404 for a missing entity, as the SDK expects', async () => {
    const name = await fx.queue();
    await expect(fx.admin.createQueue(name)).rejects.toMatchObject({
      code: 'MessageEntityAlreadyExistsError',
      statusCode: 409,
    });
    await expect(fx.admin.getQueue(uniqueName('missing'))).rejects.toMatchObject({
      code: 'MessageEntityNotFoundError',
      statusCode: 404,
    });
    await expect(fx.admin.deleteTopic(uniqueName('missing'))).rejects.toMatchObject({ statusCode: 404 });
    await expect(fx.admin.createQueue(uniqueName('bad'), { lockDuration: 'PT10M' })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(fx.admin.createQueue(uniqueName('sessions'), { requiresSession: true })).rejects.toThrow(
      /RequiresSession=true is not implemented by the stand-in/,
    );
  });

  it('creates, gets, updates and lists topics and subscriptions with their runtime properties', async () => {
    const topic = uniqueName('admin-t');
    await fx.admin.createTopic(topic, { defaultMessageTimeToLive: 'P1D' });
    expect(await fx.admin.topicExists(topic)).toBe(true);
    const fetched = await fx.admin.getTopic(topic);
    expect(fetched).toMatchObject({ name: topic, defaultMessageTimeToLive: 'P1D', supportOrdering: true });
    await fx.admin.updateTopic({ ...fetched, userMetadata: 'events' });
    expect((await fx.admin.getTopic(topic)).userMetadata).toBe('events');
    const subscription = await fx.admin.createSubscription(topic, 'sub-1', {
      lockDuration: 'PT5S',
      maxDeliveryCount: 3,
    });
    expect(subscription).toMatchObject({
      topicName: topic,
      subscriptionName: 'sub-1',
      lockDuration: 'PT5S',
      maxDeliveryCount: 3,
    });
    expect(await fx.admin.subscriptionExists(topic, 'sub-1')).toBe(true);
    await fx.admin.updateSubscription({
      ...(await fx.admin.getSubscription(topic, 'sub-1')),
      maxDeliveryCount: 9,
    });
    expect((await fx.admin.getSubscription(topic, 'sub-1')).maxDeliveryCount).toBe(9);
    await fx.admin.createSubscription(topic, 'sub-2');
    await fx.client.createSender(topic).sendMessages({ body: 'x' });
    const subscriptions: [string, number][] = [];
    for await (const each of fx.admin.listSubscriptionsRuntimeProperties(topic)) {
      subscriptions.push([each.subscriptionName, each.activeMessageCount]);
    }
    expect(subscriptions.sort()).toEqual([
      ['sub-1', 1],
      ['sub-2', 1],
    ]);
    expect((await fx.admin.getTopicRuntimeProperties(topic)).subscriptionCount).toBe(2);
    const topics: string[] = [];
    for await (const each of fx.admin.listTopics()) topics.push(each.name);
    expect(topics).toContain(topic);
    await fx.admin.deleteSubscription(topic, 'sub-2');
    expect(await fx.admin.subscriptionExists(topic, 'sub-2')).toBe(false);
    await fx.admin.deleteTopic(topic);
    expect(await fx.admin.topicExists(topic)).toBe(false);
  });

  it('applies an updated lock duration and max delivery count to the running queue', async () => {
    const name = await fx.queue({ lockDuration: 'PT30S', maxDeliveryCount: 10 });
    await fx.admin.updateQueue({
      ...(await fx.admin.getQueue(name)),
      lockDuration: 'PT0.5S',
      maxDeliveryCount: 1,
    });
    await fx.client.createSender(name).sendMessages({ body: 'once', messageId: 'u-1' });
    const receiver = fx.client.createReceiver(name, { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiveUpTo(receiver, 1);
    expect(message!.lockedUntilUtc!.getTime() - Date.now()).toBeLessThan(1_000);
    const [dead] = await receiveUpTo(fx.client.createReceiver(name, { subQueueType: 'deadLetter' }), 1);
    expect(dead).toMatchObject({ messageId: 'u-1', deadLetterReason: 'MaxDeliveryCountExceeded' });
  });

  it('reports the namespace as a Standard one', async () => {
    expect(await fx.admin.getNamespaceProperties()).toMatchObject({
      messagingSku: 'Standard',
      name: 'service-bus-standin',
    });
  });

  it('refuses a client that does not trust the test CA (and queueExists hides it as false)', async () => {
    const untrusting = new ServiceBusAdministrationClient(fx.standIn.connectionString);
    await expect(untrusting.getNamespaceProperties()).rejects.toThrow(/certificate/);
    expect(await untrusting.queueExists(await fx.queue())).toBe(false);
  });
});
