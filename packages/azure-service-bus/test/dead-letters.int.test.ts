/**
 * Dead-letter tooling on Service Bus: `DeadLetters` (list and inspect leave the dead letters in
 * place; replay sends them back keeping the Sluice message id) and `sluice dlq`, the same command as
 * on RabbitMQ, run as a user runs it (the linked bin, SERVICEBUS_CONNECTION_STRING in its environment).
 */
import { fileURLToPath } from 'node:url';
import { DeadLetters } from '@sluice/azure-service-bus';
import type { Fault, OutgoingMessage } from '@sluice/core';
import { DeliveryCollector, runCommand } from '@sluice/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServiceBus, uniqueName, type ServiceBusUnderTest } from './support/service-bus.js';

const bin = fileURLToPath(new URL('../../../node_modules/.bin/sluice', import.meta.url));
let bus: ServiceBusUnderTest;
const queue = uniqueName('sb-dlq');
const topic = `${uniqueName('sb-dlq.topic')}.v1`;
const ids = ['dead-1', 'dead-2', 'dead-3'];

beforeAll(async () => {
  bus = await startServiceBus();
  // Three dead letters, dead-lettered by the transport with a fault.
  const transport = bus.transport();
  await transport.connect();
  const fault = (messageId: string): Fault => ({
    reason: 'max-attempts',
    errorType: 'TypeError',
    errorMessage: `gateway down for ${messageId}`,
    attempts: 3,
    consumer: 'ChargeCardConsumer',
    queue,
    time: new Date('2026-12-01T10:00:00.000Z'),
  });
  const collector = new DeliveryCollector((d) => d.deadLetter(fault(d.message.messageId)));
  const subscription = await transport.subscribe(
    { queue, topics: [topic], prefetch: 5, retryDelaysMs: [] },
    collector.handler,
  );
  const messages: OutgoingMessage[] = ids.map((messageId) => ({
    messageId,
    type: 'payments.charge-card.v1',
    contentType: 'application/json',
    correlationId: `flow-${messageId}`,
    sentAt: new Date(),
    headers: { region: 'eu' },
    body: Buffer.from(JSON.stringify({ orderId: messageId })),
    destination: { topic },
    mandatory: true,
  }));
  await transport.publish(messages);
  await collector.waitFor(() => collector.deliveries.length === 3, 10_000, 'three deliveries');
  await subscription.close();
  for (let waited = 0; (await transport.queueDepth(transport.deadLetterQueue(queue))) < 3; waited += 100) {
    if (waited > 10_000) throw new Error('the three dead letters did not arrive');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await transport.close();
});

afterAll(async () => {
  await bus?.deleteEndpoint(queue, [topic]);
  await bus?.close();
});

it('lists and inspects dead letters with their fault, leaving them in place', async () => {
  const tool = new DeadLetters({ connectionString: bus.connectionString });
  try {
    const letters = await tool.list(queue);
    expect(letters.map((l) => l.messageId).sort()).toEqual(ids);
    const letter = await tool.inspect(DeadLetters.deadLetterQueueOf(queue), 'dead-2');
    expect(letter).toMatchObject({
      type: 'payments.charge-card.v1',
      correlationId: 'flow-dead-2',
      reason: 'max-attempts',
      description: 'TypeError: gateway down for dead-2',
      sourceQueue: queue,
      headers: expect.objectContaining({ region: 'eu' }),
      fault: expect.objectContaining({ reason: 'max-attempts', attempts: 3, consumer: 'ChargeCardConsumer' }),
    });
    expect(Buffer.from(letter!.body).toString()).toBe('{"orderId":"dead-2"}');
    expect(await tool.inspect(queue, 'nope')).toBeUndefined();
    expect((await tool.list(queue)).length).toBe(3);
    await expect(tool.list(`${queue}.none`)).rejects.toThrow(
      /no queue .*\.none on Azure Service Bus sb:\/\/127\.0\.0\.1/,
    );
  } finally {
    await tool.close();
  }
});

it('`sluice dlq` lists, inspects and replays on Service Bus: the replayed message keeps its id, the fault is gone', async () => {
  const env = { ...process.env, SERVICEBUS_CONNECTION_STRING: bus.connectionString, AMQP_URL: '' };
  const listed = await runCommand(bin, ['dlq', 'list', queue, '--json'], { env });
  expect(listed.code, listed.stderr).toBe(0);
  expect(
    (JSON.parse(listed.stdout) as { messageId: string; reason: string }[])
      .map((l) => [l.messageId, l.reason])
      .sort(),
  ).toEqual(ids.map((id) => [id, 'max-attempts']));
  const inspected = await runCommand(bin, ['dlq', 'inspect', queue, '--id', 'dead-1'], { env });
  expect(JSON.parse(inspected.stdout)).toMatchObject({
    messageId: 'dead-1',
    error: 'TypeError: gateway down for dead-1',
  });

  const replayed = await runCommand(
    bin,
    ['dlq', 'replay', queue, '--id', 'dead-1', '--id', 'dead-3', '--id', 'missing'],
    { env },
  );
  expect(replayed.code).toBe(1);
  expect(replayed.stdout).toContain(
    `replayed 2 message(s) from ${queue}/$DeadLetterQueue on Azure Service Bus`,
  );
  expect(replayed.stderr).toContain('not found: missing');
  expect(`${listed.stdout}${replayed.stdout}${replayed.stderr}`).not.toContain(
    bus.connectionString.split('SharedAccessKey=')[1]!,
  );

  const receiver = bus.client.createReceiver(queue, {
    receiveMode: 'receiveAndDelete',
    skipParsingBodyAsJson: true,
  });
  const back = await receiver.receiveMessages(5, { maxWaitTimeInMs: 3_000 });
  await receiver.close();
  expect(back.map((m) => m.applicationProperties?.['sluice-message-id']).sort()).toEqual([
    'dead-1',
    'dead-3',
  ]);
  for (const message of back) {
    expect(
      Object.keys(message.applicationProperties ?? {}).filter(
        (k) => k.startsWith('sluice-fault-') && message.applicationProperties?.[k] !== null,
      ),
    ).toEqual([]);
    expect(message.applicationProperties?.['sluice-replayed-at']).toMatch(/^\d{4}-/);
  }
  const tool = new DeadLetters({ connectionString: bus.connectionString });
  const left = await tool.list(queue);
  await tool.close();
  expect(left.map((l) => l.messageId)).toEqual(['dead-2']);
});
