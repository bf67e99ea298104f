import { isServiceBusError } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, receiveUpTo, type StandInFixture, startFixture } from './support/fixture.js';

/** The real @azure/service-bus SDK against the stand-in: queues, peek-lock and settlement. */
describe('service bus stand-in: queues through the real SDK', () => {
  let fx: StandInFixture;
  beforeAll(async () => {
    fx = await startFixture();
  });
  afterAll(async () => {
    await fx.stop();
  });

  it('sends, receives with broker annotations and completes; the queue is then empty', async () => {
    const queue = await fx.queue({ lockDuration: 'PT30S' });
    const sender = fx.client.createSender(queue);
    await sender.sendMessages({
      body: { hello: 'world' },
      messageId: 'm-1',
      contentType: 'application/json',
      subject: 'greeting',
      correlationId: 'c-1',
      applicationProperties: { tenant: 'acme', amount: 12.5, count: 3, vip: true },
    });
    await sender.sendMessages({ body: 'no id' });
    const receiver = fx.client.createReceiver(queue);
    const [first, second] = await receiveUpTo(receiver, 2);
    expect(first).toMatchObject({
      body: { hello: 'world' },
      messageId: 'm-1',
      contentType: 'application/json',
      subject: 'greeting',
      correlationId: 'c-1',
      applicationProperties: { tenant: 'acme', amount: 12.5, count: 3, vip: true },
      deliveryCount: 0,
      state: 'active',
    });
    expect(first!.sequenceNumber!.toNumber()).toBe(1);
    expect(second!.sequenceNumber!.toNumber()).toBe(2);
    expect(second!.messageId).toMatch(/^[0-9a-f]{32}$/);
    expect(first!.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(first!.enqueuedTimeUtc!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(first!.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now() + 20_000);
    await receiver.completeMessage(first!);
    await receiver.completeMessage(second!);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
  });

  it('takes batches (createMessageBatch and arrays) sized by the 256 KiB link limit', async () => {
    const queue = await fx.queue();
    const sender = fx.client.createSender(queue);
    const batch = await sender.createMessageBatch();
    expect(batch.maxSizeInBytes).toBe(256 * 1024);
    for (let i = 0; i < 50; i += 1) expect(batch.tryAddMessage({ body: `batch-${i}` })).toBe(true);
    await sender.sendMessages(batch);
    await sender.sendMessages(Array.from({ length: 25 }, (_, i) => ({ body: `array-${i}` })));
    const receiver = fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    const received = await receiveUpTo(receiver, 75);
    expect(received.map((m) => m.body)).toEqual([
      ...Array.from({ length: 50 }, (_, i) => `batch-${i}`),
      ...Array.from({ length: 25 }, (_, i) => `array-${i}`),
    ]);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
  });

  it('refuses a message over 256 KiB with MessageSizeExceeded, and keeps the link usable', async () => {
    const queue = await fx.queue();
    const sender = fx.client.createSender(queue);
    const error = await sender.sendMessages({ body: Buffer.alloc(300 * 1024) }).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageSizeExceeded');
    expect(String((error as Error).message)).toMatch(/exceeds the limit \(262144 bytes\)/);
    await sender.sendMessages({ body: Buffer.alloc(200 * 1024) });
    const [received] = await receiveUpTo(
      fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' }),
      1,
    );
    expect((received!.body as Buffer).length).toBe(200 * 1024);
  });

  it('abandon redelivers with an incremented delivery count and the modified properties', async () => {
    const queue = await fx.queue();
    await fx.client.createSender(queue).sendMessages({ body: 'again', messageId: 'a-1' });
    const receiver = fx.client.createReceiver(queue);
    const [first] = await receiveUpTo(receiver, 1);
    await receiver.abandonMessage(first!, { attempt: 'one' });
    const [second] = await receiveUpTo(receiver, 1);
    expect(second).toMatchObject({
      messageId: 'a-1',
      deliveryCount: 1,
      applicationProperties: { attempt: 'one' },
    });
    await receiver.abandonMessage(second!, { attempt: null });
    const [third] = await receiveUpTo(receiver, 1);
    expect(third!.applicationProperties).toEqual({ attempt: null });
    expect(second!.sequenceNumber!.toNumber()).toBe(first!.sequenceNumber!.toNumber());
    await receiver.completeMessage(third!);
  });

  it('dead-letters with reason and description to the $DeadLetterQueue, keeping the properties', async () => {
    const queue = await fx.queue();
    await fx.client
      .createSender(queue)
      .sendMessages({ body: 'poison', messageId: 'p-1', applicationProperties: { kind: 'x' } });
    const receiver = fx.client.createReceiver(queue);
    const [message] = await receiveUpTo(receiver, 1);
    await receiver.deadLetterMessage(message!, {
      deadLetterReason: 'schema-invalid',
      deadLetterErrorDescription: 'totalAmount missing',
    });
    const deadLetters = fx.client.createReceiver(queue, { subQueueType: 'deadLetter' });
    const [dead] = await receiveUpTo(deadLetters, 1);
    expect(dead).toMatchObject({
      messageId: 'p-1',
      body: 'poison',
      deadLetterReason: 'schema-invalid',
      deadLetterErrorDescription: 'totalAmount missing',
      applicationProperties: { kind: 'x' },
    });
    const runtime = await fx.admin.getQueueRuntimeProperties(queue);
    expect([runtime.activeMessageCount, runtime.deadLetterMessageCount]).toEqual([0, 1]);
    const peeked = await deadLetters.peekMessages(5);
    expect(peeked.map((m) => [m.messageId, m.deadLetterReason])).toEqual([['p-1', 'schema-invalid']]);
    await deadLetters.completeMessage(dead!);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).deadLetterMessageCount).toBe(0);
  });

  it('dead-letters a message abandoned MaxDeliveryCount times with MaxDeliveryCountExceeded', async () => {
    const queue = await fx.queue({ maxDeliveryCount: 2 });
    await fx.client.createSender(queue).sendMessages({ body: 'flaky', messageId: 'f-1' });
    const receiver = fx.client.createReceiver(queue);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const [message] = await receiveUpTo(receiver, 1);
      expect(message!.deliveryCount).toBe(attempt);
      await receiver.abandonMessage(message!);
    }
    const [dead] = await receiveUpTo(fx.client.createReceiver(queue, { subQueueType: 'deadLetter' }), 1);
    expect(dead).toMatchObject({
      messageId: 'f-1',
      deliveryCount: 2,
      deadLetterReason: 'MaxDeliveryCountExceeded',
    });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
  });

  it('redelivers when a lock runs out, and a settlement with the lost lock is refused', async () => {
    const queue = await fx.queue({ lockDuration: 'PT0.5S' });
    await fx.client.createSender(queue).sendMessages({ body: 'slow', messageId: 'l-1' });
    const receiver = fx.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiveUpTo(receiver, 1);
    const [again] = await receiveUpTo(receiver, 1);
    expect(again).toMatchObject({ messageId: 'l-1', deliveryCount: 1 });
    const error = await receiver.completeMessage(first!).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
    await receiver.completeMessage(again!);
  });

  it('renews a lock (com.microsoft:renew-lock) so a handler can outlast the lock duration', async () => {
    const queue = await fx.queue({ lockDuration: 'PT2S' });
    await fx.client.createSender(queue).sendMessages({ body: 'long job' });
    const receiver = fx.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
    const [message] = await receiveUpTo(receiver, 1);
    const end = Date.now() + 5_000;
    let lockedUntil = message!.lockedUntilUtc!;
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const renewed = await receiver.renewMessageLock(message!);
      expect(renewed.getTime()).toBeGreaterThanOrEqual(lockedUntil.getTime());
      lockedUntil = renewed;
    }
    await receiver.completeMessage(message!);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_500 })).toEqual([]);
  });

  it('the SDK renews locks by itself (maxAutoLockRenewalDurationInMs) past the lock duration', async () => {
    const queue = await fx.queue({ lockDuration: 'PT1S' });
    await fx.client.createSender(queue).sendMessages({ body: 'auto' });
    const receiver = fx.client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 30_000 });
    const [message] = await receiveUpTo(receiver, 1);
    const lockedAt = message!.lockedUntilUtc!.getTime();
    await eventually(
      async () => (message!.lockedUntilUtc!.getTime() > lockedAt + 1_000 ? true : undefined),
      'an automatic renewal',
    );
    await receiver.completeMessage(message!);
  });

  it('schedules messages (they arrive when due) and cancels scheduled ones', async () => {
    const queue = await fx.queue();
    const sender = fx.client.createSender(queue);
    const due = new Date(Date.now() + 3_000);
    const [kept] = await sender.scheduleMessages({ body: 'kept' }, due);
    const [cancelled] = await sender.scheduleMessages({ body: 'cancelled' }, due);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).scheduledMessageCount).toBe(2);
    const receiver = fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    const peeked = await receiver.peekMessages(10);
    expect(peeked.map((m) => [m.body, m.state])).toEqual([
      ['kept', 'scheduled'],
      ['cancelled', 'scheduled'],
    ]);
    await sender.cancelScheduledMessages(cancelled!);
    const [arrived] = await receiveUpTo(receiver, 1);
    expect(arrived!.body).toBe('kept');
    expect(arrived!.sequenceNumber!.toNumber()).toBe(kept!.toNumber());
    expect(Date.now()).toBeGreaterThanOrEqual(due.getTime() - 50);
    const runtime = await fx.admin.getQueueRuntimeProperties(queue);
    expect([runtime.activeMessageCount, runtime.scheduledMessageCount]).toEqual([0, 0]);
    const error = await sender.cancelScheduledMessages(cancelled!).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageNotFound');
  });

  it('peeks without locking (empty queue: none) and from a sequence number', async () => {
    const queue = await fx.queue();
    const receiver = fx.client.createReceiver(queue);
    expect(await receiver.peekMessages(5)).toEqual([]);
    await fx.client.createSender(queue).sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const peeked = await fx.client.createReceiver(queue).peekMessages(5);
    expect(peeked.map((m) => [m.body, m.lockToken])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['c', undefined],
    ]);
    const fromThird = await receiver.peekMessages(5, { fromSequenceNumber: peeked[2]!.sequenceNumber! });
    expect(fromThird.map((m) => m.body)).toEqual(['c']);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(3);
  });

  it('defers a message, which then comes only by its sequence number, settled through $management', async () => {
    const queue = await fx.queue();
    await fx.client.createSender(queue).sendMessages({ body: 'later', messageId: 'd-1' });
    const receiver = fx.client.createReceiver(queue);
    const [message] = await receiveUpTo(receiver, 1);
    await receiver.deferMessage(message!);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    const [deferred] = await receiver.receiveDeferredMessages([message!.sequenceNumber!]);
    expect(deferred).toMatchObject({ messageId: 'd-1', state: 'deferred' });
    expect(deferred!.lockToken).toBeDefined();
    await receiver.completeMessage(deferred!);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
    const error = await receiver.receiveDeferredMessages([message!.sequenceNumber!]).catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessageNotFound');
  });

  it('expires messages past their time to live, to the dead-letter queue when the entity says so', async () => {
    const queue = await fx.queue({
      defaultMessageTimeToLive: 'PT0.5S',
      deadLetteringOnMessageExpiration: true,
    });
    const sender = fx.client.createSender(queue);
    await sender.sendMessages({ body: 'stale', messageId: 't-1' });
    await sender.sendMessages({ body: 'short', messageId: 't-2', timeToLive: 200 });
    const deadCount = async () => (await fx.admin.getQueueRuntimeProperties(queue)).deadLetterMessageCount;
    await expect.poll(deadCount, { timeout: 5_000 }).toBe(2);
    // Dead letters keep their messages past the time to live those carry.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await deadCount()).toBe(2);
    const deadLetters = fx.client.createReceiver(queue, {
      subQueueType: 'deadLetter',
      receiveMode: 'receiveAndDelete',
    });
    const dead = await receiveUpTo(deadLetters, 2);
    expect(dead.map((m) => [m.messageId, m.deadLetterReason]).sort()).toEqual([
      ['t-1', 'TTLExpiredException'],
      ['t-2', 'TTLExpiredException'],
    ]);
    expect((await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount).toBe(0);
  });

  it('keeps serving one peek-lock link past 2,048 settled deliveries (subscribe with completion)', async () => {
    const queue = await fx.queue();
    const sender = fx.client.createSender(queue);
    for (let start = 0; start < 3_000; start += 500) {
      await sender.sendMessages(Array.from({ length: 500 }, (_, i) => ({ body: start + i })));
    }
    const seen = new Set<number>();
    const subscription = fx.client.createReceiver(queue).subscribe(
      {
        processMessage: async (message) => {
          seen.add(message.body as number);
        },
        processError: async () => undefined,
      },
      { maxConcurrentCalls: 50 },
    );
    try {
      await eventually(
        async () => (seen.size === 3_000 ? true : undefined),
        '3,000 messages completed',
        60_000,
      );
    } finally {
      await subscription.close();
    }
    await eventually(
      async () =>
        (await fx.admin.getQueueRuntimeProperties(queue)).activeMessageCount === 0 ? true : undefined,
      'every completion to land',
    );
  });

  it('drops a message whose id repeats within the duplicate-detection window, on queues and topics', async () => {
    const queue = await fx.queue({
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: 'PT1M',
    });
    const sender = fx.client.createSender(queue);
    await sender.sendMessages([
      { body: 'first', messageId: 'dup' },
      { body: 'again', messageId: 'dup' },
    ]);
    await sender.sendMessages({ body: 'new id', messageId: 'other' });
    await sender.scheduleMessages({ body: 'scheduled again', messageId: 'dup' }, new Date(Date.now() + 200));
    const receiver = fx.client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
    expect((await receiveUpTo(receiver, 4, 1_500)).map((m) => m.body)).toEqual(['first', 'new id']);
    const settings = await fx.admin.getQueue(queue);
    expect(settings.requiresDuplicateDetection).toBe(true);
    await expect(fx.admin.updateQueue({ ...settings, requiresDuplicateDetection: false })).rejects.toThrow(
      /RequiresDuplicateDetection cannot be changed/,
    );
    const topic = `${queue}-topic`;
    await fx.admin.createTopic(topic, { requiresDuplicateDetection: true });
    await fx.admin.createSubscription(topic, 'all');
    await fx.client.createSender(topic).sendMessages([
      { body: 'one', messageId: 'x' },
      { body: 'two', messageId: 'x' },
    ]);
    const fromTopic = await receiveUpTo(
      fx.client.createReceiver(topic, 'all', { receiveMode: 'receiveAndDelete' }),
      2,
      1_000,
    );
    expect(fromTopic.map((m) => m.body)).toEqual(['one']);
    await fx.admin.deleteTopic(topic);
  });

  it('detaches a link to an unknown entity with MessagingEntityNotFound', async () => {
    const error = await fx.client
      .createSender('no-such-queue')
      .sendMessages({ body: 'x' })
      .catch((e: unknown) => e);
    expect(isServiceBusError(error) && error.code).toBe('MessagingEntityNotFound');
  });
});
