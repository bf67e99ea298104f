/**
 * A consumer process killed with SIGKILL in the middle of its handlers: RabbitMQ notices the dead
 * connection and redelivers the unacknowledged messages to another consumer, which handles them (the
 * lost delivery counted as an attempt through the quorum queue's delivery count).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Bus, Consumer, defineCommand } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { ChangeSignal, TestHarness } from '@sluice/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerAdmin, brokerUrl, repositoryRoot } from './support/broker.js';

interface ChildEvent {
  readonly event: 'ready' | 'handling';
  readonly messageId?: string;
  readonly attempt?: number;
}

const prefetch = 5;

describe('a consumer killed with SIGKILL mid-handler', () => {
  const id = randomUUID().slice(0, 8);
  const queue = `rmqtest.sigkill.${id}`;
  const Command = defineCommand<{ n: number }>(`rmqtest.work-${id}.v1`);
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  function startChild(): {
    child: ChildProcessWithoutNullStreams;
    events: ChildEvent[];
    changed: ChangeSignal;
    stderr: string[];
  } {
    const child = spawn(
      process.execPath,
      [new URL('./fixtures/hanging-consumer.mjs', import.meta.url).pathname],
      {
        cwd: repositoryRoot.pathname,
        env: {
          ...process.env,
          AMQP_URL: brokerUrl,
          QUEUE: queue,
          MESSAGE_TYPE: Command.type,
          PREFETCH: String(prefetch),
        },
      },
    );
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const events: ChildEvent[] = [];
    const changed = new ChangeSignal();
    const stderr: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    child.on('exit', () => changed.notify());
    createInterface({ input: child.stdout }).on('line', (line) => {
      events.push(JSON.parse(line) as ChildEvent);
      changed.notify();
    });
    return { child, events, changed, stderr };
  }

  it('redelivers its unacknowledged messages to another consumer, which handles them', async () => {
    const { child, events, changed, stderr } = startChild();
    await changed
      .until(
        () => (events.some((e) => e.event === 'ready') ? true : child.exitCode !== null ? false : undefined),
        20_000,
        'the child host to start',
      )
      .then((ready) => expect(ready, `the consumer child exited:\n${stderr.join('')}`).toBe(true));

    const producer = new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-sigkill-producer' });
    await producer.connect();
    cleanups.push(() => producer.close());
    const ids = Array.from({ length: prefetch }, () => randomUUID());
    const bus = new Bus(producer);
    await Promise.all(ids.map((messageId, n) => bus.send(Command, { n }, { messageId })));
    const handling = () => events.filter((e) => e.event === 'handling');
    await changed.until(
      () => (handling().length >= prefetch ? true : undefined),
      10_000,
      'the child to take every message',
    );
    expect(new Set(handling().map((e) => e.messageId))).toEqual(new Set(ids));

    @Consumer({ queue, message: Command, prefetch })
    class Survivor {
      handle(): void {}
    }
    const harness = await TestHarness.start({
      serviceName: 'rmqtest',
      transport: new RabbitMqTransport({ url: brokerUrl, connectionName: 'sluice-sigkill-survivor' }),
      consumers: [Survivor],
    });
    cleanups.push(() => harness.stop());
    cleanups.push(async () => {
      const admin = await BrokerAdmin.connect();
      await admin.deleteEndpoint(queue);
      await admin.deleteExchanges([Command.type]);
      await admin.close();
    });

    const killed = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');

    const handled = await harness.waitForCount(
      { consumer: 'Survivor', outcome: 'handled' },
      prefetch,
      15_000,
    );
    expect(new Set(handled.map((e) => e.messageId))).toEqual(new Set(ids));
    // The lost delivery counts as an attempt.
    expect(handled.map((e) => e.attempt)).toEqual(Array.from({ length: prefetch }, () => 2));
  });
});
