/**
 * `sluice dlq` as a user runs it: the bin npm linked (`node_modules/.bin/sluice`, the built CLI) as a
 * child process, on the machine's RabbitMQ. Help and bad usage, failures that name the broker it
 * looked at (and how to point it elsewhere when it fell back to the default), and the correlation id
 * in the list.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { deadLetterQueueName, faultHeaders, Headers } from '@sluice/core';
import { runCommand, type CommandResult } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerAdmin, TestVhost } from '../../rabbitmq/test/support/broker.js';

const bin = fileURLToPath(new URL('../../../node_modules/.bin/sluice', import.meta.url));

/** Runs the linked bin with `env` (AMQP_URL removed unless given). */
function sluice(args: readonly string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const { AMQP_URL: _unset, ...inherited } = process.env;
  return runCommand(bin, args, { env: { ...inherited, ...env } });
}

describe('sluice dlq help and usage', () => {
  it.each([[['dlq', 'help']], [['dlq', '--help']], [['help', 'dlq']]])(
    '%j prints the help, exit 0',
    async (args) => {
      const { code, stdout, stderr } = await sluice(args);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: sluice dlq <list\|inspect\|replay> <queue>/);
    },
  );

  it.each([
    [['dlq'], 'sluice: dlq: expected <list|inspect|replay> <queue>\n'],
    [
      ['dlq', 'purge', 'payments'],
      'sluice: dlq: unknown command "purge" (known: list, inspect, replay, help)\n',
    ],
    [['dlq', 'list', 'payments', '--limt', '3'], "sluice: dlq: Unknown option '--limt'\n"],
  ])('%j is bad usage: exit 2, one line', async (args, line) => {
    const { code, stderr } = await sluice(args);
    expect(code).toBe(2);
    expect(stderr).toBe(line);
  });
});

describe('sluice dlq on RabbitMQ', () => {
  let vhost: TestVhost;
  let admin: BrokerAdmin;
  const queue = `clitest.payments.${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-dlq-cli');
    admin = await BrokerAdmin.connect(vhost.url);
  });
  afterAll(async () => {
    await admin?.close();
    await vhost?.delete();
  });

  it('without --url and AMQP_URL it names the default broker it looked at and how to point it elsewhere', async () => {
    const missing = `clitest.none.${randomUUID().slice(0, 8)}`;
    const { code, stdout, stderr } = await sluice(['dlq', 'list', missing]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.split('\n')).toHaveLength(2); // one line
    expect(stderr).toContain(`dead-letter queue "${missing}.dlq" does not exist`);
    expect(stderr).toContain('RabbitMQ localhost:5672, vhost "/", user guest');
    expect(stderr).toMatch(
      /neither --url nor AMQP_URL is set.*--url amqp:\/\/user:password@host:port\/vhost or AMQP_URL/,
    );
    expect(stderr).not.toContain('guest:guest');
  });

  it('with a URL it names host, port and vhost, never the password', async () => {
    const secret = `pw-${randomUUID()}`;
    const url = new URL(vhost.url);
    url.password = secret;
    const wrong = await sluice(['dlq', 'list', queue, '--url', url.toString()]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`RabbitMQ 127.0.0.1:5672, vhost "${vhost.name}", user guest`);
    expect(wrong.stderr).not.toContain(secret);

    const missing = await sluice(['dlq', 'list', queue], { AMQP_URL: vhost.url });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `sluice dlq: dead-letter queue "${queue}.dlq" does not exist; looked on RabbitMQ 127.0.0.1:5672, vhost "${vhost.name}", user guest\n`,
    );
  });

  it('lists the correlation id of each dead letter', async () => {
    const dlq = deadLetterQueueName(queue);
    const correlationId = `order-${randomUUID()}`;
    const messageId = `m-${randomUUID()}`;
    await admin.withChannel(async (channel) => {
      await channel.assertQueue(dlq, { durable: true });
    });
    await admin.publish('', dlq, Buffer.from('{"orderId":"o-1"}'), {
      messageId,
      correlationId,
      type: 'clitest.charge-card.v1',
      contentType: 'application/json',
      persistent: true,
      headers: {
        [Headers.sentAt]: new Date().toISOString(),
        ...faultHeaders({
          reason: 'max-attempts',
          errorType: 'PaymentDeclined',
          errorMessage: 'card declined',
          attempts: 3,
          consumer: 'ChargeCard',
          queue,
          time: new Date('2026-03-04T05:06:07.089Z'),
        }),
      },
    });

    const listed = await sluice(['dlq', 'list', queue, '--url', vhost.url]);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const [header, row] = listed.stdout.split('\n');
    expect(header).toMatch(/^MESSAGE ID +TYPE +CORRELATION ID +REASON/);
    expect(row).toContain(messageId);
    expect(row).toContain(correlationId);

    const json = await sluice(['dlq', 'list', queue, '--url', vhost.url, '--json']);
    expect((JSON.parse(json.stdout) as { correlationId: string }[])[0]?.correlationId).toBe(correlationId);
  });
});
