/**
 * Dead-letter tooling on the real broker: the `DeadLetters` API and the `sluice dlq` command
 * (run as a child process on the built package) list and inspect without losing anything, and replay
 * messages to their source queue with the same id, a replay header and no fault headers.
 */
import { randomUUID } from 'node:crypto';
import {
  deadLetterQueueName,
  Headers,
  type Delivery,
  type Fault,
  type OutgoingMessage,
  type Subscription,
} from '@sluice/core';
import { DeadLetters, RabbitMqTransport } from '@sluice/rabbitmq';
import { DeliveryCollector, runCommand, type CommandResult } from '@sluice/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerAdmin, brokerUrl, eventually, repositoryRoot } from './support/broker.js';

/** `sluice dlq` (@sluice/cli), which runs this package's DeadLetters API. */
const cli = new URL('packages/cli/bin/sluice.js', repositoryRoot).pathname;

function dlq(...args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [cli, 'dlq', ...args], {
    env: { ...process.env, AMQP_URL: brokerUrl },
  });
}

describe('dead-letter tooling', () => {
  let transport: RabbitMqTransport;
  let admin: BrokerAdmin;
  let tool: DeadLetters;
  let queue: string;
  let topic: string;
  let subscription: Subscription;
  /** Dead-letters first deliveries, accepts replayed ones. */
  let work: DeliveryCollector;

  const fault = (queueName: string): Fault => ({
    reason: 'max-attempts',
    errorType: 'PaymentDeclined',
    errorCode: 'E_DECLINED',
    errorMessage: 'card declined',
    stack: 'PaymentDeclined: card declined\n    at charge (gateway.ts:1:1)',
    attempts: 5,
    consumer: 'ChargeCard',
    queue: queueName,
    time: new Date('2026-03-04T05:06:07.089Z'),
  });

  function send(n: number, overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
    return {
      messageId: `m${n}-${randomUUID()}`,
      type: 'rmqtest.charge-card.v1',
      contentType: 'application/json',
      correlationId: randomUUID(),
      sentAt: new Date(),
      headers: { tenant: 'acme' },
      body: Buffer.from(JSON.stringify({ n })),
      destination: { topic },
      mandatory: true,
      ...overrides,
    };
  }

  beforeEach(async () => {
    const id = randomUUID().slice(0, 8);
    queue = `rmqtest.dlq.${id}`;
    topic = `rmqtest.charge-${id}.v1`;
    admin = await BrokerAdmin.connect();
    transport = new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-dlq-test' });
    await transport.connect();
    work = new DeliveryCollector((d: Delivery) =>
      d.message.headers[Headers.replayedAt] === undefined ? d.deadLetter(fault(queue)) : d.ack(),
    );
    subscription = await transport.subscribe(
      { queue, topics: [topic], prefetch: 10, retryDelaysMs: [] },
      work.handler,
    );
    tool = new DeadLetters({ url: brokerUrl });
  });

  afterEach(async () => {
    await tool.close();
    await transport.close();
    await admin.deleteEndpoint(queue);
    await admin.deleteExchanges([topic]);
    await admin.close();
  });

  async function deadLettered(messages: readonly OutgoingMessage[]): Promise<void> {
    await transport.publish(messages);
    await eventually(
      async () => (await admin.messageCount(deadLetterQueueName(queue))) === messages.length,
      10_000,
      `${messages.length} dead letters`,
    );
  }

  it('lists and inspects without losing anything, and replays one message by id', async () => {
    const sent = [send(1), send(2), send(3)];
    await deadLettered(sent);

    const listed = await tool.list(queue);
    expect(listed.map((l) => l.messageId)).toEqual(sent.map((m) => m.messageId));
    expect(await tool.list(queue)).toHaveLength(3);
    expect(listed[0]?.fault).toEqual(fault(queue));
    expect(listed[0]?.sourceQueue).toBe(queue);
    expect(await tool.list(queue, { limit: 2 })).toHaveLength(2);
    expect(await admin.messageCount(deadLetterQueueName(queue))).toBe(3);

    const target = sent[1] as OutgoingMessage;
    const inspected = await tool.inspect(queue, target.messageId);
    expect(inspected).toMatchObject({
      messageId: target.messageId,
      type: target.type,
      correlationId: target.correlationId,
      sourceQueue: queue,
      fault: fault(queue),
    });
    expect(inspected?.headers.tenant).toBe('acme');
    expect(Buffer.from(inspected?.body ?? []).toString()).toBe('{"n":2}');
    expect(inspected?.sentAt?.getTime()).toBe(target.sentAt.getTime());
    expect(await tool.inspect(queue, 'no-such-id')).toBeUndefined();
    expect(await admin.messageCount(deadLetterQueueName(queue))).toBe(3);

    const result = await tool.replay(queue, { messageIds: [target.messageId, 'no-such-id'] });
    expect(result).toEqual({ replayed: [target.messageId], notFound: ['no-such-id'], failed: [] });
    await work.waitFor(
      (ds) =>
        ds.some(
          (d) =>
            d.message.messageId === target.messageId && d.message.headers[Headers.replayedAt] !== undefined,
        ),
      5_000,
      'the replayed message',
    );
    const replayed = work.deliveries.find(
      (d) => d.message.messageId === target.messageId && d.message.headers[Headers.replayedAt] !== undefined,
    ) as Delivery;
    expect(replayed.attempt).toBe(1);
    expect(replayed.queue).toBe(queue);
    expect(Date.parse(replayed.message.headers[Headers.replayedAt] as string)).toBeGreaterThan(
      Date.now() - 60_000,
    );
    expect(Object.keys(replayed.message.headers).filter((h) => h.startsWith('sluice-fault-'))).toEqual([]);
    expect(replayed.message.headers.tenant).toBe('acme');
    expect(replayed.message.correlationId).toBe(target.correlationId);
    expect(Buffer.from(replayed.message.body).toString()).toBe('{"n":2}');
    // The rest stay (a quorum queue puts messages handed back behind the others: order is not kept).
    expect(new Set((await tool.list(queue)).map((l) => l.messageId))).toEqual(
      new Set([sent[0]?.messageId, sent[2]?.messageId]),
    );
  });

  it('shows a message the broker dead-lettered on TTL expiry, and replays it', async () => {
    await subscription.pause();
    const expiring = send(7, { ttlMs: 50 });
    await transport.publish([expiring]);
    // Expired messages are dead-lettered when they reach the head of the queue.
    await eventually(
      async () => (await admin.messageCount(deadLetterQueueName(queue))) === 1,
      10_000,
      'the broker to dead-letter the expired message',
    );
    const [letter] = await tool.list(queue);
    expect(letter?.fault).toMatchObject({ reason: 'expired', queue });
    expect(letter?.deaths[0]).toMatchObject({ queue, reason: 'expired' });
    expect(letter?.sourceQueue).toBe(queue);

    await subscription.resume();
    await expect(tool.replay(queue, { all: true })).resolves.toEqual({
      replayed: [expiring.messageId],
      notFound: [],
      failed: [],
    });
    await work.waitFor(
      (ds) => ds.some((d) => d.message.messageId === expiring.messageId),
      5_000,
      'the replayed message',
    );
  });

  it('works from the command line', async () => {
    const sent = [send(1), send(2)];
    await deadLettered(sent);
    const [first, second] = sent as [OutgoingMessage, OutgoingMessage];

    const table = await dlq('list', queue);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(first.messageId);
    expect(table.stdout).toContain('max-attempts');
    expect(table.stdout).toContain('PaymentDeclined: card declined');

    const listed = await dlq('list', deadLetterQueueName(queue), '--json');
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { messageId: string }[]).map((l) => l.messageId)).toEqual([
      first.messageId,
      second.messageId,
    ]);

    const inspected = await dlq('inspect', queue, '--id', second.messageId);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      messageId: second.messageId,
      reason: 'max-attempts',
      sourceQueue: queue,
      body: '{"n":2}',
      headers: { tenant: 'acme' },
    });

    expect((await dlq('inspect', queue, '--id', 'no-such-id')).code).toBe(1);
    expect((await dlq('replay', queue)).code).toBe(2);
    expect((await dlq('frobnicate', queue)).code).toBe(2);

    const replayed = await dlq('replay', queue, '--all');
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain('replayed 2 message(s)');
    await work.waitFor(
      (ds) => ds.filter((d) => d.message.headers[Headers.replayedAt] !== undefined).length === 2,
      5_000,
      'both replayed messages',
    );
    expect(await admin.messageCount(deadLetterQueueName(queue))).toBe(0);
  });

  it('never prints the password', async () => {
    const secret = `pw-${randomUUID()}`;
    const failed = await dlq('list', queue, '--url', `amqp://guest:${secret}@127.0.0.1:5672`);
    expect(failed.code).toBe(1);
    expect(failed.stderr).not.toContain(secret);
    expect(failed.stderr).toContain(':***@127.0.0.1:5672');
    expect(failed.stderr).toContain('ACCESS_REFUSED');
  });

  it.each([
    ['a "/"', (secret: string) => `amqp://guest:s3cr/${secret}@127.0.0.1:5672`],
    ['a malformed escape', (secret: string) => `amqp://guest:${secret}%zz@127.0.0.1:5672`],
    ['a "%" in the vhost', (secret: string) => `amqp://guest:${secret}@127.0.0.1:5672/a%b`],
  ])('never prints a password beside %s in the URL', async (_what, url) => {
    const secret = `pw-${randomUUID()}`;
    const failed = await dlq('list', queue, '--url', url(secret));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('option "url"');
    expect(`${failed.stdout}${failed.stderr}`).not.toContain(secret);
  });
});
