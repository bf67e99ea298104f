/**
 * Closing within a deadline on the real broker: a close whose signal aborts during an outage does not
 * wait for publishes that cannot be confirmed; they reject with SLUICE_CLOSED and the close resolves.
 * A host's whole stop fits its stopTimeoutMs the same way.
 */
import { ConsumerHost, defineEvent, ErrorCodes, silentLogger } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, outgoing, TestVhost } from './support/broker.js';

describe('closing within a deadline', () => {
  let vhost: TestVhost;

  beforeAll(async () => {
    vhost = await TestVhost.create('sluice-close-deadline');
  });

  afterAll(async () => {
    await vhost?.delete();
  });

  it('stops waiting for publishes held by an outage when the close signal aborts', async () => {
    const transport = new RabbitMqTransport({
      url: vhost.url,
      reconnect: { initialMs: 50, maxMs: 300 },
      publishTimeoutMs: 30_000,
      connectionName: 'close-deadline',
    });
    await transport.connect();
    try {
      await vhost.denyAccess();
      await vhost.closeAllConnections();
      await eventually(() => !transport.isConnected(), 5_000, 'the outage to be noticed');
      const held = transport.publish([outgoing({ queue: 'rmqtest.nowhere' })]).then(
        () => 'confirmed',
        (error: unknown) => (error as { code?: unknown }).code,
      );
      const started = performance.now();
      await transport.close(AbortSignal.timeout(500));
      expect(performance.now() - started).toBeLessThan(3_000);
      await expect(held).resolves.toBe(ErrorCodes.CLOSED);
      expect(transport.isConnected()).toBe(false);
    } finally {
      await vhost.allowAccess();
      await transport.close();
    }
  });

  it("fits a host's whole stop in stopTimeoutMs while its publishes wait out an outage", async () => {
    const Happened = defineEvent<{ n: number }>('rmqtest.close-deadline-happened.v1');
    const host = new ConsumerHost({
      serviceName: 'rmqtest',
      transport: new RabbitMqTransport({
        url: vhost.url,
        reconnect: { initialMs: 50, maxMs: 300 },
        publishTimeoutMs: 30_000,
        connectionName: 'close-deadline-host',
      }),
      handleSignals: false,
      logger: silentLogger,
      drainTimeoutMs: 500,
      stopTimeoutMs: 3_000,
    });
    await host.start();
    try {
      await vhost.denyAccess();
      await vhost.closeAllConnections();
      await eventually(() => !host.isReady(), 5_000, 'the outage to be noticed');
      const held = host.bus.publish(Happened, { n: 1 }).then(
        () => 'confirmed',
        (error: unknown) => (error as { code?: unknown }).code,
      );
      const started = performance.now();
      await host.stop();
      expect(performance.now() - started).toBeLessThan(3_000 + 2_000);
      await expect(held).resolves.toBe(ErrorCodes.CLOSED);
    } finally {
      await vhost.allowAccess();
      await host.stop();
    }
  });
});
