/**
 * Publishes that fail during an outage let go of their messages at once: 2,000 sends of 10 KiB
 * rejected after `publishTimeoutMs` while the broker refuses the connection leave none of their bodies
 * reachable (checked with weak references after a garbage collection), before any reconnect.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ErrorCodes } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, outgoing, TestVhost } from './support/broker.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('failed publishes during an outage', () => {
  let vhost: TestVhost;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-publish-memory');
  });

  afterAll(async () => {
    await vhost?.allowAccess();
    await vhost?.delete();
  });

  it('hold none of their 2,000 x 10 KiB bodies once rejected', async () => {
    const transport = new RabbitMqTransport({
      url: vhost.url,
      publishTimeoutMs: 300,
      reconnect: { initialMs: 50, maxMs: 200 },
      connectionName: 'sluice-publish-memory-test',
    });
    try {
      await transport.connect();
      await vhost.denyAccess();
      await vhost.closeAllConnections();
      await eventually(() => !transport.isConnected(), 5_000, 'the outage');
      const bodies: WeakRef<Buffer>[] = [];
      const sends: Promise<unknown>[] = [];
      for (let n = 0; n < 2_000; n++) {
        const body = Buffer.alloc(10 * 1024, n % 256);
        bodies.push(new WeakRef(body));
        sends.push(
          transport.publish([outgoing({ queue: 'rmqtest.never' }, { body })]).then(
            () => 'sent',
            (error: unknown) => (error as { code?: unknown }).code,
          ),
        );
      }
      const outcomes = await Promise.all(sends);
      expect(new Set(outcomes)).toEqual(new Set([ErrorCodes.CONNECTION_LOST]));
      expect(transport.isConnected()).toBe(false);
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      const alive = bodies.filter((ref) => ref.deref() !== undefined).length;
      expect(alive).toBeLessThan(20);
    } finally {
      await transport.close();
    }
  });
});
