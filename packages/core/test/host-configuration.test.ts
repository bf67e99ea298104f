import { inject } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  Bus,
  Consumer,
  ConsumerHost,
  defineCommand,
  defineEvent,
  ErrorCodes,
  EventHandler,
  InMemoryTransport,
  type ConsumerOptions,
  type HandlerClass,
} from '@sluice/core';

const Cmd = defineCommand<{ id: string }>('test.do-it.v1');
const Evt = defineEvent<{ id: string }>('test.it-happened.v1');

function consumerWith(options: Record<string, unknown>): HandlerClass<never> {
  @Consumer({ queue: 'work', message: Cmd, ...options } as ConsumerOptions<{ id: string }>)
  class MisconfiguredConsumer {
    handle() {}
  }
  return MisconfiguredConsumer;
}

async function startFails(consumers: HandlerClass<never>[]): Promise<Error> {
  const transport = new InMemoryTransport();
  const host = new ConsumerHost({ serviceName: 'svc', transport, consumers, handleSignals: false });
  const error = await host.start().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error, 'start() should have failed').toBeDefined();
  expect(transport.isConnected()).toBe(false);
  return error as Error;
}

describe('start-up validation', () => {
  it.each([
    [{ prefetch: -1 }, 'prefetch', 'must be an integer from 1 to 65535 (got -1)'],
    [{ prefetch: 5, concurrency: 6 }, 'concurrency', 'must be an integer from 1 to 5 (got 6)'],
    [{ retry: { attempts: 0 } }, 'retry.attempts', 'must be an integer from 1 to 100 (got 0)'],
    [{ retry: { backoff: { jitter: 2 } } }, 'retry.backoff.jitter', 'must be a number from 0 to 1 (got 2)'],
    [{ retry: { redelivery: { jitter: 0.5 } } }, 'retry.redelivery.jitter', 'must be 0'],
    [{ timeoutMs: 0 }, 'timeoutMs', 'must be an integer from 1'],
    [{ queue: 'bad queue!' }, 'queue', 'must be 1-200 characters'],
    [{ circuitBreaker: { failures: 0 } }, 'circuitBreaker.failures', 'must be an integer from 1'],
    [{ idempotency: 'yes' }, 'idempotency', 'must be a boolean or { ttlMs, leaseMs }'],
    [
      { idempotency: { leaseMs: 10 } },
      'idempotency.leaseMs',
      'must be an integer from 100 to 86400000 (got 10)',
    ],
    [{ idempotency: { lease: 1_000 } }, 'idempotency.lease', 'is not a known option'],
    [{ retry: { retryable: true } }, 'retry.retryable', 'must be a function (error) => boolean (got true)'],
    [{ prefecth: 10 }, 'prefecth', 'is not a known option'],
    [{ scaling: { max: 0 } }, 'scaling.max', 'must be an integer from 1 to 10000 (got 0)'],
    [{ scaling: { min: 3, max: 2 } }, 'scaling.min', 'must be <= scaling.max (2) (got 3)'],
    [{ scaling: { targetBacklogPerReplica: 0.5 } }, 'scaling.targetBacklogPerReplica', 'must be an integer'],
    [{ scaling: { cooldown: 60 } }, 'scaling.cooldown', 'is not a known option'],
    [{ scaling: 'fast' }, 'scaling', 'must be an object'],
  ])('rejects %j naming the class and the option', async (options, option, requirement) => {
    const error = await startFails([consumerWith(options)]);
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    expect(error.message).toContain('@Consumer on MisconfiguredConsumer');
    expect(error.message).toContain(`option "${option}" ${requirement}`);
  });

  it('rejects an invalid subscription filter', async () => {
    @EventHandler(Evt, {
      subscription: 'vip',
      filter: { property: 'total', gt: 'lots' as unknown as number },
    })
    class VipHandler {
      handle() {}
    }
    const error = await startFails([VipHandler]);
    expect(error.message).toContain(
      '@EventHandler on VipHandler: option "filter" is invalid: filter.gt must be a finite number',
    );
  });

  it('rejects a class without a decorator, and two consumers of one queue', async () => {
    class Plain {
      handle() {}
    }
    expect((await startFails([Plain])).message).toContain(
      'Plain is registered as a consumer but has no @Consumer',
    );
    const error = await startFails([consumerWith({}), consumerWith({})]);
    expect(error.message).toContain('queue "work" is already consumed by MisconfiguredConsumer');
  });

  it('rejects a constructor parameter without @inject and an unbound dependency', async () => {
    class Gateway {}
    @Consumer({ queue: 'a', message: Cmd })
    class NoInject {
      constructor(readonly gateway: Gateway) {}
      handle() {}
    }
    expect((await startFails([NoInject])).message).toContain(
      '@Consumer on NoInject: constructor parameter 0 has no token: add @inject(Token) to it, list the dependencies in the decorator\'s "inject" option, or compile with "emitDecoratorMetadata"',
    );

    @Consumer({ queue: 'b', message: Cmd })
    class Unbound {
      constructor(@inject(Gateway) readonly gateway: Gateway) {}
      handle() {}
    }
    expect((await startFails([Unbound])).message).toContain(
      '@Consumer on Unbound: constructor parameter 0 (Gateway) is not bound in the container',
    );
  });

  it('rejects an @EventHandler of a command and a bad service name', async () => {
    @EventHandler(Cmd as never, { subscription: 's' })
    class WrongKind {
      handle() {}
    }
    expect((await startFails([WrongKind])).message).toContain('option "message" must be an event');
    const host = new ConsumerHost({ serviceName: 'has space', transport: new InMemoryTransport() });
    await expect(host.start()).rejects.toThrow('option "serviceName"');
  });
});

describe('a command that names its queue', () => {
  const Routed = defineCommand<{ id: string }>('test.routed.v1', {
    queue: 'routed',
    queueOptions: { maxLength: 10 },
  });

  it('gives its consumer the queue and its settings', async () => {
    @Consumer({ message: Routed })
    class RoutedConsumer {
      handle() {}
    }
    const transport = new InMemoryTransport();
    const host = new ConsumerHost({
      serviceName: 'svc',
      transport,
      consumers: [RoutedConsumer],
      handleSignals: false,
    });
    await host.start();
    try {
      const [config] = host.endpoints;
      expect(config).toMatchObject({ queue: 'routed', queueOptions: { maxLength: 10 } });
    } finally {
      await host.stop();
    }
  });

  it('rejects a consumer of another queue, or with settings of its own, naming the class and the option', async () => {
    @Consumer({ queue: 'elsewhere', message: Routed })
    class OtherQueue {
      handle() {}
    }
    expect((await startFails([OtherQueue])).message).toContain(
      '@Consumer on OtherQueue: option "queue" must be "routed" (the queue test.routed.v1 is defined with), or left out',
    );
    @Consumer({ message: Routed, queueOptions: { maxLength: 5 } })
    class OwnSettings {
      handle() {}
    }
    expect((await startFails([OwnSettings])).message).toContain(
      '@Consumer on OwnSettings: option "queueOptions" cannot be set on the consumer or in the host defaults',
    );
  });

  it('is refused by defineCommand with a queue no broker takes, or settings without a queue', () => {
    expect(() => defineCommand('test.bad-queue.v1', { queue: 'has space' })).toThrow(
      'defineCommand("test.bad-queue.v1"): option "queue" must be 1-200 characters',
    );
    expect(() => defineCommand('test.no-queue.v1', { queueOptions: { maxLength: 1 } })).toThrow(
      'option "queueOptions" needs "queue"',
    );
  });

  it('waits in its queue when sent before its consumer subscribed (in memory too)', async () => {
    const transport = new InMemoryTransport();
    await transport.connect();
    await new Bus(transport).send(Routed, { id: 'early' });
    expect(await transport.queueDepth('routed')).toBe(1);
    await transport.close();
  });
});

describe('scaling hints', () => {
  it('default to a target of twice the prefetch, KEDA-like bounds, and keep what the decorator sets', async () => {
    @Consumer({ queue: 'plain', message: Cmd, prefetch: 15 })
    class Plain {
      handle() {}
    }
    @Consumer({
      queue: 'tuned',
      message: Cmd,
      scaling: { targetBacklogPerReplica: 50, min: 1, max: 8, cooldownSeconds: 60, activation: 5 },
    })
    class Tuned {
      handle() {}
    }
    const host = new ConsumerHost({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      consumers: [Plain, Tuned],
      handleSignals: false,
    });
    await host.start();
    try {
      expect(host.endpoints.map((e) => e.scaling)).toEqual([
        { targetBacklogPerReplica: 30, min: 0, max: 100, cooldownSeconds: 300, activation: 0 },
        { targetBacklogPerReplica: 50, min: 1, max: 8, cooldownSeconds: 60, activation: 5 },
      ]);
    } finally {
      await host.stop();
    }
  });
});
