/**
 * Retry queues are shared per delay by the endpoints of a service, on the real broker: each queue
 * gets its own redeliveries back (the retry queue dead-letters by the work queue's name), one retry
 * queue serves them all, and a redelivery into a full quorum work queue waits (RabbitMQ dead-letters
 * at least once from quorum queues) instead of being lost, while the other queue's redeliveries
 * through the same retry queue still come back.
 */
import { ErrorCodes, type Delivery, type EndpointSpec } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector } from '@sluice/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, outgoing, TestVhost, uniqueName } from './support/broker.js';

let vhost: TestVhost;
let transport: RabbitMqTransport;

beforeAll(async () => {
  vhost = await TestVhost.create('sluice-shared-retry');
  transport = new RabbitMqTransport({ url: vhost.url, connectionName: 'sluice-shared-retry-test' });
  await transport.connect();
});

afterAll(async () => {
  await transport.close();
  await vhost.delete();
});

/** Retries a first delivery after `delayMs`; a redelivery is recorded and acked. */
function retryingOnce(delayMs: number): DeliveryCollector {
  return new DeliveryCollector((delivery: Delivery) =>
    delivery.attempt === 1 ? delivery.retry(delayMs) : delivery.ack(),
  );
}

const secondAttempts = (collector: DeliveryCollector) => collector.deliveries.filter((d) => d.attempt === 2);

it('brings each queue its own redeliveries back through one retry queue per delay', async () => {
  const service = uniqueName('svc');
  const endpoint = (queue: string): EndpointSpec => ({
    queue,
    service,
    topics: [],
    prefetch: 10,
    retryDelaysMs: [300],
  });
  const [a, b] = [uniqueName('rmqtest.shared-a'), uniqueName('rmqtest.shared-b')];
  const [toA, toB] = [retryingOnce(300), retryingOnce(300)];
  await transport.subscribe(endpoint(a), toA.handler);
  await transport.subscribe(endpoint(b), toB.handler);
  const sentToA = Array.from({ length: 10 }, () => outgoing({ queue: a }));
  const sentToB = Array.from({ length: 10 }, () => outgoing({ queue: b }));
  // Interleaved, so that the retry queue holds both queues' copies at once.
  await transport.publish(sentToA.flatMap((m, i) => [m, sentToB[i] as (typeof sentToB)[number]]));

  await eventually(
    () => secondAttempts(toA).length >= 10 && secondAttempts(toB).length >= 10,
    10_000,
    'every redelivery',
  );
  const ids = (collector: DeliveryCollector) =>
    secondAttempts(collector)
      .map((d) => d.message.messageId)
      .sort();
  expect(ids(toA)).toEqual(sentToA.map((m) => m.messageId).sort());
  expect(ids(toB)).toEqual(sentToB.map((m) => m.messageId).sort());
  expect(toA.deliveries.every((d) => d.queue === a)).toBe(true);

  const names = await vhost.queues();
  expect(names.filter((name) => name.includes('.retry.'))).toEqual([`${service}.retry.300ms`]);
});

it('keeps a redelivery into a full work queue until there is room, while the other queue gets its own back', async () => {
  const service = uniqueName('svc');
  const delayMs = 2_000;
  const full = uniqueName('rmqtest.full');
  const other = uniqueName('rmqtest.other');
  let copiesPlaced = 0;
  const toFull = new DeliveryCollector(async (delivery: Delivery) => {
    if (delivery.attempt > 1) return delivery.ack();
    await delivery.retry(delayMs);
    copiesPlaced++;
  });
  const fullSubscription = await transport.subscribe(
    { queue: full, service, topics: [], prefetch: 10, retryDelaysMs: [delayMs], options: { maxLength: 3 } },
    toFull.handler,
  );
  const toOther = retryingOnce(delayMs);
  await transport.subscribe(
    { queue: other, service, topics: [], prefetch: 10, retryDelaysMs: [delayMs] },
    toOther.handler,
  );

  // Three messages are retried; then, before their delay ends, the queue is filled up.
  const retried = Array.from({ length: 3 }, () => outgoing({ queue: full }));
  await transport.publish(retried);
  // Every first attempt was retried (its copy confirmed in the retry queue, the original acked).
  await eventually(() => copiesPlaced === 3, 5_000, 'the retry copies');
  await fullSubscription.pause();
  let fillers = 0;
  for (;;) {
    const outcome = await transport.publish([outgoing({ queue: full })]).then(
      () => 'confirmed',
      (error: unknown) => (error as { code?: string }).code,
    );
    if (outcome !== 'confirmed') {
      expect(outcome).toBe(ErrorCodes.QUEUE_FULL);
      break;
    }
    fillers++;
  }

  // The other queue's redeliveries go through the same retry queue meanwhile, and come back.
  const toOtherSent = Array.from({ length: 3 }, () => outgoing({ queue: other }));
  await transport.publish(toOtherSent);
  await eventually(() => secondAttempts(toOther).length >= 3, 10_000, "the other queue's redeliveries");
  // The full queue's copies expired first (they were queued first) and were refused: it holds only
  // the fillers (were the copies in, it would have taken fewer than 3 of them).
  expect(fillers).toBeGreaterThanOrEqual(3);
  // (rabbitmqctl's count of a quorum queue is refreshed on a timer: wait for it to catch up.)
  await eventually(async () => (await vhost.queueMessages(full)) === fillers, 15_000, 'the fillers alone');

  // Room again: the held redeliveries arrive, none lost (RabbitMQ retries a refused dead-lettering
  // on its own timer, about 3 minutes on 3.10).
  await fullSubscription.resume();
  const retriedIds = new Set(retried.map((m) => m.messageId));
  const heldBack = () => secondAttempts(toFull).filter((d) => retriedIds.has(d.message.messageId));
  await eventually(() => heldBack().length >= 3, 240_000, 'the held redeliveries');
  expect(
    heldBack()
      .map((d) => d.message.messageId)
      .sort(),
  ).toEqual([...retriedIds].sort());
}, 300_000);
