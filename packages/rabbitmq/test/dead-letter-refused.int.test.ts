/**
 * A dead-letter queue that refuses every copy (an operator's policy: at its max length, reject new
 * messages) on the real broker: the message whose dead-letter copy is refused goes back to its queue
 * after a pause that grows while the copies keep failing, instead of coming back, to be refused again,
 * as fast as the broker redelivers; and it is not lost: once the dead-letter queue has room, it lands
 * there with its fault.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, defineCommand, readFault, silentLogger, UnrecoverableError } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterEach, expect, it } from 'vitest';
import { BrokerAdmin, eventually, TestVhost } from './support/broker.js';

const id = randomUUID().slice(0, 8);
const queue = `rmqtest.dlq-full.${id}`;
const Work = defineCommand<{ n: number }>(`rmqtest.dlq-full-${id}.v1`, { queue });
let calls = 0;

@Consumer({ queue, message: Work, retry: { attempts: 1 } })
class Poisoned {
  handle() {
    calls++;
    throw new UnrecoverableError('the order cannot exist');
  }
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

it('hands a message whose dead-letter copy is refused back after a growing pause, and dead-letters it once there is room', async () => {
  const vhost = await TestVhost.create('sluice-dlq-full');
  cleanup.push(() => vhost.delete());
  await vhost.setPolicy('dlq-full', '\\.dlq$', { 'max-length': 1, overflow: 'reject-publish' });
  const transport = new RabbitMqTransport({ url: vhost.url, logger: silentLogger });
  const harness = await TestHarness.start({
    serviceName: `rmqtest-dlq-full-${id}`,
    transport,
    consumers: [Poisoned],
    logger: silentLogger,
  });
  cleanup.push(() => harness.stop());
  const admin = await BrokerAdmin.connect(vhost.url);
  cleanup.push(() => admin.close());
  const dlq = transport.deadLetterQueue(queue);
  // Over its max length (a quorum queue refuses once it is over it, not at it): it refuses every copy.
  for (const filler of ['filler-1', 'filler-2'])
    await admin.publish('', dlq, Buffer.from('{}'), { messageId: filler });

  await harness.bus.send(Work, { n: 1 }, { messageId: 'poison-1' });
  await eventually(() => calls >= 1, 10_000, 'the first delivery');
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  // Handed back at once, the message came back hundreds of times a second (20 handler calls, then
  // the transport's own dead-lettering of it past redeliveryLimit, in a loop). Paused 100 ms doubling
  // (with 20 % jitter), a few deliveries fit in 3 s.
  expect(calls).toBeGreaterThanOrEqual(2);
  expect(calls).toBeLessThanOrEqual(8);
  expect(await admin.messageCount(dlq)).toBe(2);

  // Room again: the next delivery's copy is kept.
  const fillers = await admin.drain(dlq);
  expect(fillers.map((m) => m.properties.messageId)).toEqual(['filler-1', 'filler-2']);
  await eventually(async () => (await admin.messageCount(dlq)) === 1, 20_000, 'the dead letter');
  const [copy] = await admin.drain(dlq);
  expect(copy?.properties.messageId).toBe('poison-1');
  expect(readFault(copy?.properties.headers ?? {})).toMatchObject({
    reason: 'unrecoverable',
    errorMessage: 'the order cannot exist',
  });
  expect(await admin.messageCount(queue)).toBe(0);
});
