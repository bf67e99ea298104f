/**
 * Dead-letter tooling against the broker's own bookkeeping and odd dead letters. Browsing a quorum
 * DLQ with `x-delivery-limit` 2 many times (list, inspect, a partial replay) leaves every other dead
 * letter in place, byte for byte, where handing them back would count deliveries until RabbitMQ
 * dropped them. Dead letters with an `x-death` of any shape, an invalid `sluice-sent-at` or fault time
 * (or a header table nested deeper than amqplib can read, put back as the bytes it came with) are
 * listed with what can be shown and their problems; a replay reports those it cannot send back and
 * replays the rest.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { deadLetterQueueName, faultHeaders, Headers, type Fault } from '@sluice/core';
import { DeadLetters } from '@sluice/rabbitmq';
import type { Options } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerAdmin, eventually, publishNested, repositoryRoot, TestVhost } from './support/broker.js';

const run = promisify(execFile);
/** `sluice dlq` (@sluice/cli), which runs this package's DeadLetters API. */
const cli = new URL('packages/cli/bin/sluice.js', repositoryRoot).pathname;

function fault(queue: string): Fault {
  return {
    reason: 'max-attempts',
    errorType: 'Declined',
    errorMessage: 'card declined',
    attempts: 3,
    consumer: 'Charge',
    queue,
    time: new Date('2026-01-02T03:04:05.000Z'),
  };
}

describe('browsing dead letters', () => {
  let vhost: TestVhost;
  let admin: BrokerAdmin;
  let tool: DeadLetters;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-dlq-browse');
    admin = await BrokerAdmin.connect(vhost.url);
    tool = new DeadLetters({ url: vhost.url });
  });

  afterAll(async () => {
    await tool?.close();
    await admin?.close();
    await vhost?.delete();
  });

  async function declare(queue: string, dlqArguments: Record<string, unknown>): Promise<string> {
    const dlq = deadLetterQueueName(queue);
    await admin.withChannel(async (channel) => {
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.assertQueue(dlq, { durable: true, arguments: dlqArguments });
    });
    return dlq;
  }

  function letter(queue: string, n: number, extra: Options.Publish = {}): Options.Publish {
    return {
      messageId: `dead-${n}-${randomUUID()}`,
      type: 'rmqtest.dead.v1',
      contentType: 'application/json',
      persistent: true,
      timestamp: 1_767_323_045,
      ...extra,
      headers: { ...faultHeaders(fault(queue)), tenant: 'acme', count: n, ...extra.headers },
    };
  }

  it('leaves a quorum DLQ with a delivery limit of 2 as it was through many browses and a partial replay', async () => {
    const queue = `rmqtest.browse.${randomUUID().slice(0, 8)}`;
    const dlq = await declare(queue, { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 });
    // A CC header routes a copy of each publish to the queue it names: an exact copy put back kept it.
    const cc = `${queue}.cc`;
    await admin.withChannel((channel) => channel.assertQueue(cc, { durable: false }));
    const sent = Array.from({ length: 5 }, (_, n) =>
      letter(queue, n, n === 3 ? { headers: { CC: [cc] } } : {}),
    );
    for (const [n, options] of sent.entries())
      await admin.publish('', dlq, Buffer.from(`{"n":${n}}`), options);
    const ids = sent.map((o) => o.messageId as string);

    for (let round = 0; round < 4; round++) {
      expect((await tool.list(queue)).map((l) => l.messageId).sort()).toEqual([...ids].sort());
      expect((await tool.list(queue, { limit: 2 })).length).toBe(2);
      expect((await tool.inspect(queue, ids[4] as string))?.headers.tenant).toBe('acme');
      expect(await tool.inspect(queue, 'no-such-id')).toBeUndefined();
    }
    const replay = await tool.replay(queue, { messageIds: [ids[2] as string] });
    expect(replay).toEqual({ replayed: [ids[2]], notFound: [], failed: [] });
    for (let round = 0; round < 3; round++) expect(await tool.list(queue)).toHaveLength(4);

    const left = await admin.drain(dlq);
    expect(left.map((m) => m.properties.messageId).sort()).toEqual(ids.filter((_, n) => n !== 2).sort());
    for (const message of left) {
      const n = ids.indexOf(message.properties.messageId as string);
      expect(message.content.toString()).toBe(`{"n":${n}}`);
      expect(message.properties).toMatchObject({ type: 'rmqtest.dead.v1', timestamp: 1_767_323_045 });
      expect(message.properties.headers).toMatchObject({
        tenant: 'acme',
        count: n,
        [Headers.faultReason]: 'max-attempts',
      });
      // Put back as copies: no delivery was counted against the limit.
      expect(message.properties.headers?.['x-delivery-count'] ?? 0).toBe(0);
    }
    const [back] = await admin.drain(queue);
    expect(back?.properties.messageId).toBe(ids[2]);
    expect((await admin.drain(cc)).map((m) => m.properties.messageId)).toEqual([ids[3]]);
    await admin.deleteQueues([cc]);
  });

  it('puts back a dead letter whose headers cannot be read as it was, through many browses under a delivery limit of 2', async () => {
    const queue = `rmqtest.browse-deep.${randomUUID().slice(0, 8)}`;
    const dlq = await declare(queue, { 'x-queue-type': 'quorum', 'x-delivery-limit': 2 });
    const cc = `${queue}.cc`;
    await admin.withChannel((channel) => channel.assertQueue(cc, { durable: false }));
    // Nested deeper than amqplib's decoder reaches, with a CC entry beside the deep table.
    const deep = letter(queue, 0, { headers: { CC: [cc] } });
    await publishNested(vhost.url, dlq, Buffer.from('x'.repeat(300_000)), deep, 'deep', 8_000);
    const plain = letter(queue, 1);
    await admin.publish('', dlq, Buffer.from('{"n":1}'), plain);
    const ids = [deep.messageId, plain.messageId];

    const seen: string[] = [];
    for (let round = 0; round < 5; round++) {
      const listed = await tool.list(queue);
      expect(listed.map((l) => l.messageId)).toEqual(ids);
      expect(listed[0]?.problems.join()).toContain('header table');
      expect(listed[0]).toMatchObject({ type: 'rmqtest.dead.v1', contentType: 'application/json' });
      expect(Buffer.from(listed[0]?.body ?? []).toString()).toBe('x'.repeat(300_000));
      seen.push(listed[0]?.problems.join() ?? '');
    }
    // The same table each time after the first put-back (which left out the CC entry): the bytes it
    // was sent with, not handed back (a delivery counted each time, dropped past the limit).
    expect(new Set(seen.slice(1)).size).toBe(1);
    expect(seen[1]).not.toBe(seen[0]);
    expect(await admin.messageCount(dlq)).toBe(2);
    // The copy RabbitMQ made for CC when the letter was first published, none since.
    expect(await admin.messageCount(cc)).toBe(1);
    await admin.deleteQueues([cc]);
  });

  it('connects again on the next call after its connection was closed under it', async () => {
    const queue = `rmqtest.reconnect.${randomUUID().slice(0, 8)}`;
    const dlq = await declare(queue, { 'x-queue-type': 'quorum' });
    const options = letter(queue, 0);
    await admin.publish('', dlq, Buffer.from('{}'), options);
    const named = new DeadLetters({ url: vhost.url, connectionName: `sluice-dlq-reconnect-${queue}` });
    try {
      expect((await named.list(queue)).map((l) => l.messageId)).toEqual([options.messageId]);
      await vhost.closeAllConnectionsNamed(`sluice-dlq-reconnect-${queue}`);
      // Every later call failed with "Connection closed" on the connection kept from before.
      await eventually(
        async () => (await named.list(queue).catch(() => [])).length === 1,
        10_000,
        'a list on a new connection',
      );
      expect((await named.replay(queue, { all: true })).replayed).toEqual([options.messageId]);
    } finally {
      await named.close();
    }
  });

  it('lists odd dead letters with their problems and replays all it can, reporting the rest', async () => {
    const queue = `rmqtest.odd.${randomUUID().slice(0, 8)}`;
    const dlq = await declare(queue, { 'x-queue-type': 'quorum' });
    const odd = [
      letter(queue, 0, { headers: { 'x-death': [null] } }),
      letter(queue, 1, { headers: { 'x-death': 'junk' } }),
      letter(queue, 2, { headers: { [Headers.sentAt]: 'not a time' } }),
      letter(queue, 3, { headers: { [Headers.faultTime]: 'garbage' } }),
      letter(queue, 4, { timestamp: 18_446_744_073_709_549_568 }),
      letter(queue, 5, { headers: { [Headers.faultQueue]: 'rmqtest.no-such-queue' } }),
      letter(queue, 6),
    ];
    for (const options of odd) await admin.publish('', dlq, Buffer.from('{}'), options);
    // Nested deeper than amqplib's decoder reaches: the tool's connection closed on it.
    const deep = letter(queue, 7);
    await publishNested(vhost.url, dlq, Buffer.from('{}'), deep, 'deep', 8_000);
    odd.push(deep);
    const ids = odd.map((o) => o.messageId as string);

    const listed = await tool.list(queue);
    expect(listed.map((l) => l.messageId)).toEqual(ids);
    const problems = listed.map((l) => l.problems.join('; '));
    expect(problems[0]).toContain('x-death[0] is not a table');
    expect(problems[1]).toContain('x-death is not an array');
    expect(problems[2]).toContain(Headers.sentAt);
    expect(listed[2]?.sentAt).toBeUndefined();
    expect(problems[3]).toContain(Headers.faultTime);
    expect(problems[4]).toContain('timestamp');
    expect(problems[6]).toBe('');
    expect(listed[6]?.sentAt).toBeInstanceOf(Date);
    expect(problems[7]).toContain('header table');
    expect(listed[7]?.headers).toEqual({});
    // Put back as the bytes it arrived with: listed again, in its place.
    await eventually(
      async () => (await tool.list(queue)).map((l) => l.messageId).join() === ids.join(),
      10_000,
      'every dead letter listed again',
    );

    const json = await run(process.execPath, [cli, 'dlq', 'list', dlq, '--json', '--url', vhost.url], {
      timeout: 30_000,
    });
    expect((JSON.parse(json.stdout) as { messageId: string }[]).map((l) => l.messageId)).toEqual(ids);
    const table = await run(process.execPath, [cli, 'dlq', 'list', dlq, '--url', vhost.url], {
      timeout: 30_000,
    });
    expect(table.stdout).toContain(ids[3]);

    const result = await tool.replay(queue, { all: true });
    expect([...result.replayed].sort()).toEqual(ids.filter((_, n) => n !== 5 && n !== 7).sort());
    expect(result.failed).toEqual([
      { messageId: ids[5], error: expect.stringContaining('rmqtest.no-such-queue') },
      { messageId: ids[7], error: expect.stringContaining('header table') },
    ]);
    const kept = [ids[5], ids[7]].sort().join();
    await eventually(
      async () =>
        (await tool.list(queue))
          .map((l) => l.messageId)
          .sort()
          .join() === kept,
      10_000,
      'the two dead letters kept',
    );
    expect((await admin.drain(queue)).length).toBe(6);
  });
});
