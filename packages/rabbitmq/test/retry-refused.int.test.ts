/**
 * A retry copy RabbitMQ refuses for good (the user may not publish to the retry exchange: the broker
 * closes the channel on it with ACCESS_REFUSED) on the real broker: the original is not requeued to be
 * refused again but dead-lettered at once, with the handler's error and the refusal.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, defineCommand, readFault, retryQueueName } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { afterEach, expect, it } from 'vitest';
import { BrokerAdmin, TestUser, TestVhost } from './support/broker.js';

const id = randomUUID().slice(0, 8);
const queue = `rmqtest.refused.${id}`;
const service = `rmqtest-refused-${id}`;
const Work = defineCommand<{ n: number }>(`rmqtest.refused-${id}.v1`);
let calls = 0;

@Consumer({ queue, message: Work, retry: { attempts: 3, immediate: 1, redelivery: { initialMs: 200 } } })
class FailsOnce {
  handle() {
    calls++;
    if (calls === 1) throw new TypeError('the gateway is down');
  }
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

it('dead-letters at once a message whose retry copy the broker refuses, not requeueing it', async () => {
  const vhost = await TestVhost.create('sluice-refused');
  cleanup.push(() => vhost.delete());
  const secret = `pw-${randomUUID()}`;
  const user = await TestUser.create('sluice-refused', secret, vhost);
  cleanup.push(() => user.delete());
  const url = new URL(vhost.url);
  url.username = user.name;
  url.password = secret;
  const transport = new RabbitMqTransport({
    url: url.toString(),
    reconnect: { initialMs: 20, maxMs: 100 },
    connectionName: 'sluice-refused-test',
  });
  const harness = await TestHarness.start({ serviceName: service, transport, consumers: [FailsOnce] });
  cleanup.push(() => harness.stop());
  // Declared (the retry queue and exchange too); from now on the retry exchange takes no publish.
  const retryExchange = retryQueueName(service, 200);
  await user.limitWrites(vhost, `^(?!${retryExchange.replaceAll('.', '\\.')}$).*$`);
  await harness.bus.send(Work, { n: 1 }, { messageId: 'refused-1' });
  const dead = await harness.waitForDeadLettered('refused-1', 'FailsOnce', 15_000);
  expect(dead).toMatchObject({ attempt: 1, fault: { reason: 'unrecoverable', errorType: 'TypeError' } });
  expect(dead.fault?.errorMessage).toMatch(
    /^the gateway is down \(not retried: the retry copy was refused: .*ACCESS_REFUSED/,
  );
  expect(dead.fault?.errorMessage).not.toContain(secret);
  const admin = await BrokerAdmin.connect(vhost.url);
  cleanup.push(() => admin.close());
  const [copy] = await admin.drain(transport.deadLetterQueue(queue));
  expect(copy?.properties.messageId).toBe('refused-1');
  expect(readFault(copy?.properties.headers ?? {})).toMatchObject({ reason: 'unrecoverable', attempts: 1 });
  expect(calls).toBe(1);
  expect(harness.settled.map((e) => e.outcome)).toEqual(['dead-lettered']);
});
