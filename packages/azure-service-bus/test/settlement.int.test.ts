/**
 * Service Bus beyond the conformance suite, through the real SDK: abandon, retry copies, the
 * dead-letter queue with its reason, MaxDeliveryCount, locks lost and renewed, batches and the size
 * limit (exactly at it, and a byte over it).
 */
import { randomUUID } from 'node:crypto';
import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import type { ServiceBusDelivery } from '@sluice/azure-service-bus';
import { Consumer, defineCommand, ErrorCodes, type MessageContext } from '@sluice/core';
import { DeliveryCollector, TestHarness } from '@sluice/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  outgoing as message,
  uniqueName,
  useServiceBus,
  type ServiceBusUnderTest,
} from './support/service-bus.js';

const fx = useServiceBus('sb-test');

/** The dead letters of `queue`, read (and removed) with the plain SDK. */
async function deadLetters(queue: string, count: number): Promise<ServiceBusReceivedMessage[]> {
  const receiver = fx.bus.client.createReceiver(queue, {
    subQueueType: 'deadLetter',
    receiveMode: 'receiveAndDelete',
  });
  const got: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 10_000;
  while (got.length < count && Date.now() < deadline) {
    got.push(...(await receiver.receiveMessages(count - got.length, { maxWaitTimeInMs: 1_000 })));
  }
  await receiver.close();
  return got;
}

describe('settlement on Service Bus', () => {
  it('releases by abandoning: redelivered with the delivery count up by one, the attempt unchanged', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    let released = false;
    const collector = new DeliveryCollector((d) => {
      if (released) return d.ack();
      released = true;
      return d.release();
    });
    await transport.subscribe({ queue, topics: [topic], prefetch: 1, retryDelaysMs: [] }, collector.handler);
    await transport.publish([message(topic)]);
    const [first, again] = (await collector.waitForCount(2, 10_000)) as [
      ServiceBusDelivery,
      ServiceBusDelivery,
    ];
    expect([first.deliveryCount, again.deliveryCount]).toEqual([0, 1]);
    expect([first.attempt, again.attempt]).toEqual([1, 1]);
    expect(again.raw.messageId).toBe(first.raw.messageId);
  });

  it('retries with a scheduled copy: a new Service Bus id carrying the Sluice id and attempt, after its delay', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    const arrivals: number[] = [];
    const collector = new DeliveryCollector((d) => {
      arrivals.push(performance.now());
      return d.attempt === 1 ? d.retry(800) : d.ack();
    });
    await transport.subscribe(
      { queue, topics: [topic], prefetch: 5, retryDelaysMs: [800] },
      collector.handler,
    );
    const sent = message(topic);
    await transport.publish([sent]);
    const [first, copy] = (await collector.waitForCount(2, 10_000)) as [
      ServiceBusDelivery,
      ServiceBusDelivery,
    ];
    expect(first.raw.messageId).toBe(sent.messageId);
    expect(copy.raw.messageId).not.toBe(sent.messageId);
    expect(copy.raw.applicationProperties).toMatchObject({
      'sluice-message-id': sent.messageId,
      'sluice-attempt': 2,
    });
    expect([copy.message.messageId, copy.attempt, copy.deliveryCount]).toEqual([sent.messageId, 2, 0]);
    expect((arrivals[1] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(750);
    await expect.poll(() => transport.queueDepth(queue), { timeout: 5_000 }).toBe(0);
  });

  it('dead-letters after the last attempt to $DeadLetterQueue, with the reason, the description and the fault', async () => {
    const transport = await fx.openTransport();
    const { queue } = fx.endpoint();
    const Work = defineCommand<{ n: number }>(`sbtest.doomed-${randomUUID().slice(0, 6)}.v1`);
    fx.defer(() =>
      fx.bus.admin.deleteTopic(Work.type).then(
        () => undefined,
        () => undefined,
      ),
    );
    @Consumer({ queue, message: Work, retry: { attempts: 2, immediate: 1, redelivery: { initialMs: 100 } } })
    class Doomed {
      handle() {
        throw new TypeError('the gateway is down');
      }
    }
    const harness = await TestHarness.start({
      serviceName: 'sbtest',
      transport,
      consumers: [Doomed],
      processMetrics: false,
    });
    fx.defer(() => harness.stop());
    await harness.bus.send(Work, { n: 1 }, { messageId: 'doomed-1' });
    await harness.waitForDeadLettered('doomed-1', 'Doomed', 15_000);
    const [dead] = await deadLetters(queue, 1);
    expect(dead).toMatchObject({
      deadLetterReason: 'max-attempts',
      deadLetterErrorDescription: 'TypeError: the gateway is down',
      applicationProperties: expect.objectContaining({
        'sluice-message-id': 'doomed-1',
        'sluice-fault-reason': 'max-attempts',
        'sluice-fault-attempts': 2,
        'sluice-fault-consumer': 'Doomed',
      }),
    });
    await expect
      .poll(() => transport.queueDepth(transport.deadLetterQueue(queue)), { timeout: 5_000 })
      .toBe(0);
  });

  it('dead-letters at once, with the reason, a message at the size limit whose retry copy is refused', async () => {
    const transport = await fx.openTransport();
    const { queue } = fx.endpoint();
    const Big = defineCommand<{ pad: string }>(`sbtest.big-${randomUUID().slice(0, 6)}.v1`);
    fx.defer(() =>
      fx.bus.admin.deleteTopic(Big.type).then(
        () => undefined,
        () => undefined,
      ),
    );
    let calls = 0;
    @Consumer({ queue, message: Big, retry: { attempts: 3, immediate: 1, redelivery: { initialMs: 100 } } })
    class FailsOnce {
      handle() {
        calls++;
        if (calls === 1) throw new TypeError('the gateway is down');
      }
    }
    const harness = await TestHarness.start({
      serviceName: 'sbtest',
      transport,
      consumers: [FailsOnce],
      processMetrics: false,
    });
    fx.defer(() => harness.stop());
    // The size named for a payload far over the limit gives the payload that fills it exactly; the
    // retry copy (attempt 2 added) is then over it.
    const far = await harness.bus.send(Big, { pad: 'x'.repeat(300_000) }, { messageId: 'big-0' }).then(
      () => expect.fail('a 300 kB payload was taken'),
      (error: Error) => error,
    );
    const named = /takes (\d+) bytes.* over the (\d+)-byte limit/.exec(far.message);
    expect(named, far.message).not.toBeNull();
    const pad = 300_000 - (Number(named?.[1]) - Number(named?.[2]));
    await harness.bus.send(Big, { pad: 'x'.repeat(pad) }, { messageId: 'big-1' });
    const settled = await harness.waitForDeadLettered('big-1', 'FailsOnce', 15_000);
    expect(settled).toMatchObject({ attempt: 1, fault: { reason: 'unrecoverable', attempts: 1 } });
    const [dead] = await deadLetters(queue, 1);
    expect(dead).toMatchObject({
      deadLetterReason: 'unrecoverable',
      deadLetterErrorDescription: expect.stringMatching(
        /^TypeError: the gateway is down \(not retried: the retry copy was refused: retry copy of message big-1 .*takes \d+ bytes on its own, over the \d+-byte limit/,
      ),
      applicationProperties: expect.objectContaining({
        'sluice-fault-reason': 'unrecoverable',
        'sluice-fault-attempts': 1,
        'sluice-fault-consumer': 'FailsOnce',
      }),
    });
    expect(calls).toBe(1);
    expect(harness.settled.map((e) => e.outcome)).toEqual(['dead-lettered']);
    await expect.poll(() => transport.queueDepth(queue), { timeout: 5_000 }).toBe(0);
  });

  it('leaves a message whose lock is lost MaxDeliveryCount times to Service Bus, which dead-letters it', async ({
    skip,
  }) => {
    if (fx.bus.standIn === undefined) return skip('needs the stand-in to expire locks');
    const transport = await fx.openTransport({ maxDeliveryCount: 2 });
    const { queue, topic } = fx.endpoint();
    // Holds each delivery until its lock is lost (as a handler honouring its signal does).
    const collector = new DeliveryCollector(
      (d) => new Promise<void>((resolve) => d.signal?.addEventListener('abort', () => resolve())),
    );
    await transport.subscribe({ queue, topics: [topic], prefetch: 1, retryDelaysMs: [] }, collector.handler);
    await transport.publish([message(topic)]);
    await collector.waitForCount(1, 10_000);
    fx.bus.standIn.faults.expireLocks(queue);
    await collector.waitForCount(2, 10_000);
    fx.bus.standIn.faults.expireLocks(queue);
    await transport.close();
    const [dead] = await deadLetters(queue, 1);
    expect(dead?.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    expect(collector.deliveries.map((d) => d.attempt)).toEqual([1, 2]);
  });
});

describe('locks on Service Bus', () => {
  const Slow = defineCommand<{ ms: number }>(`sbtest.slow-${randomUUID().slice(0, 6)}.v1`);
  const slowQueue = uniqueName('sb-slow');
  const seen: { attempt: number; aborted: unknown; abortedAfterMs?: number }[] = [];

  @Consumer({ queue: slowQueue, message: Slow, retry: { attempts: 3, immediate: 1 } })
  class SlowHandler {
    async handle({ ms }: { ms: number }, ctx: MessageContext) {
      const entry: (typeof seen)[number] = { attempt: ctx.attempt, aborted: undefined };
      seen.push(entry);
      if (ctx.attempt > 1) return;
      const started = performance.now();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          entry.aborted = ctx.signal.reason;
          entry.abortedAfterMs = performance.now() - started;
          resolve();
        });
      });
      ctx.signal.throwIfAborted();
    }
  }

  /** The queue's lock: 1 s on the stand-in, Service Bus's floor of 5 s on a real namespace. */
  const lockMs = () => (fx.bus.standIn === undefined ? 5_000 : 1_000);

  async function host(options: Parameters<ServiceBusUnderTest['transport']>[0]) {
    fx.defer(() =>
      fx.bus.admin.deleteTopic(Slow.type).then(
        () => undefined,
        () => undefined,
      ),
    );
    const transport = fx.bus.transport(options);
    const harness = await TestHarness.start({
      serviceName: 'sbtest',
      transport,
      consumers: [SlowHandler],
      processMetrics: false,
      defaults: { queueOptions: { broker: { lockDurationMs: lockMs() } } },
    });
    fx.defer(() => fx.bus.deleteEndpoint(slowQueue));
    fx.defer(() => harness.stop());
    return harness;
  }

  afterEach(() => {
    seen.length = 0;
  });

  it('aborts the signal of a slow handler whose lock is not renewed and redelivers the message', async () => {
    const harness = await host({ maxLockRenewalMs: 0 });
    await harness.bus.send(Slow, { ms: 10 * lockMs() }, { messageId: 'slow-1' });
    await harness.waitFor({ messageId: 'slow-1', outcome: 'handled' }, 6 * lockMs() + 15_000);
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(seen[0]?.aborted).toMatchObject({ code: ErrorCodes.LOCK_LOST });
  });

  it('renews a lock for maxLockRenewalMs at most: then the lock runs out, the signal aborts and the message comes again', async () => {
    const lock = lockMs();
    const harness = await host({ maxLockRenewalMs: 2 * lock });
    await harness.bus.send(Slow, { ms: 20 * lock }, { messageId: 'slow-3' });
    await harness.waitFor({ messageId: 'slow-3', outcome: 'handled' }, 6 * lock + 15_000);
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(seen[0]?.aborted).toMatchObject({ code: ErrorCodes.LOCK_LOST });
    // Renewed past the first lock's end, and lost within a lock of the renewal maximum.
    expect(seen[0]?.abortedAfterMs).toBeGreaterThan(1.5 * lock);
    expect(seen[0]?.abortedAfterMs).toBeLessThan(3.5 * lock + 1_000);
  });

  it('renews the lock of a handler that runs three times the lock duration: handled once, not redelivered', async () => {
    const harness = await host({});
    await harness.bus.send(Slow, { ms: 3 * lockMs() }, { messageId: 'slow-2' });
    const handled = await harness.waitFor({ messageId: 'slow-2', outcome: 'handled' }, 3 * lockMs() + 15_000);
    expect(handled.attempt).toBe(1);
    expect(handled.durationMs).toBeGreaterThanOrEqual(3 * lockMs() - 100);
    expect(seen.map((s) => [s.attempt, s.aborted])).toEqual([[1, undefined]]);
    await expect.poll(() => harness.host.isReady(), { timeout: 5_000 }).toBe(true);
  });
});

describe('sending to Service Bus', () => {
  it('sends a large publish in batches the broker takes', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    const collector = new DeliveryCollector();
    await transport.subscribe({ queue, topics: [topic], prefetch: 50, retryDelaysMs: [] }, collector.handler);
    const sent = Array.from({ length: 300 }, () => message(topic, { body: Buffer.alloc(2_048, 7) }));
    await transport.publish(sent);
    const got = await collector.waitForCount(300, 20_000);
    expect(new Set(got.map((d) => d.message.messageId)).size).toBe(300);
  });

  it('takes a message exactly at the size limit and refuses one a byte over it, naming its exact size, before sending anything', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    const collector = new DeliveryCollector();
    await transport.subscribe({ queue, topics: [topic], prefetch: 10, retryDelaysMs: [] }, collector.handler);
    const sized = (bytes: number) => message(topic, { body: Buffer.alloc(bytes, 1) });
    const refusal = (bytes: number) =>
      transport.publish([sized(bytes)]).then(
        () => expect.fail(`a ${bytes}-byte body was taken`),
        (error: Error) => error,
      );
    // The size the transport names for a body far over the limit gives the body that fills it exactly.
    const far = await refusal(300_000);
    const named = /takes (\d+) bytes.* over the (\d+)-byte limit/.exec(far.message);
    expect(named, far.message).not.toBeNull();
    const [size, limit] = [Number(named?.[1]), Number(named?.[2])];
    if (fx.bus.standIn !== undefined) expect(limit).toBe(262_144);
    const exact = 300_000 - (size - limit);
    const justOver = sized(exact + 1);
    // One beside it in its batch, one to another entity: neither is sent.
    const beside = [message(topic), message(topic, { destination: { queue } })];
    await expect(transport.publish([...beside, justOver])).rejects.toMatchObject({
      code: ErrorCodes.PUBLISH_REFUSED,
      message: expect.stringContaining(
        `message ${justOver.messageId} (sbtest.work.v1) takes ${limit + 1} bytes on its own, over the ${limit}-byte limit`,
      ),
    });
    const atLimit = sized(exact);
    await transport.publish([atLimit]);
    const [only] = await collector.waitForCount(1, 10_000);
    expect(only?.message.messageId).toBe(atLimit.messageId);
    expect(only?.message.body.byteLength).toBe(exact);
    // Neither the messages sent beside the refused one nor the refused one ever reached the queue.
    await expect.poll(() => transport.queueDepth(queue), { timeout: 5_000 }).toBe(0);
    expect(collector.deliveries.map((d) => d.message.messageId)).toEqual([atLimit.messageId]);
  });

  it('carries the envelope in Service Bus fields, Diagnostic-Id beside traceparent', async () => {
    const transport = await fx.openTransport();
    const { queue, topic } = fx.endpoint();
    const collector = new DeliveryCollector();
    await transport.subscribe({ queue, topics: [topic], prefetch: 5, retryDelaysMs: [] }, collector.handler);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const sent = message(topic, {
      correlationId: 'flow-1',
      causationId: 'cause-1',
      ttlMs: 60_000,
      headers: { traceparent, 'Diagnostic-Id': traceparent, totalAmount: '2400', code: '0012' },
    });
    await transport.publish([sent]);
    const [delivery] = (await collector.waitForCount(1, 10_000)) as [ServiceBusDelivery];
    expect(delivery.raw).toMatchObject({
      messageId: sent.messageId,
      subject: 'sbtest.work.v1',
      contentType: 'application/json',
      correlationId: 'flow-1',
      timeToLive: 60_000,
      applicationProperties: expect.objectContaining({
        'Diagnostic-Id': traceparent,
        traceparent,
        totalAmount: 2400,
        code: '0012',
      }),
    });
    expect(delivery.message.headers).toEqual(sent.headers);
    expect(delivery.message.causationId).toBe('cause-1');
  });
});
