import { inject, injectable } from 'inversify';
import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Bus,
  Consumer,
  defineCommand,
  defineEvent,
  EventHandler,
  MessageContextToken,
  type MessageContext,
} from '@sluice/core';
import type { TestHarness } from '@sluice/testing';
import { startHost } from './support.js';

const OrderPlaced = defineEvent<{ orderId: string; totalAmount: number }>('orders.order-placed.v1', {
  properties: (o) => ({ totalAmount: o.totalAmount }),
});
const ShipOrder = defineCommand<{ orderId: string }>('shipping.ship-order.v1');

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

describe('consumer host', () => {
  it('handles a duplicate message id once when idempotent, also when both copies arrive together', async () => {
    let effects = 0;
    @Consumer({ queue: 'shipping', message: ShipOrder, idempotency: true })
    class ShipOnce {
      async handle() {
        await new Promise((resolve) => setTimeout(resolve, 5));
        effects++;
      }
    }
    ({ harness } = await startHost([ShipOnce]));
    await harness.bus.send(ShipOrder, { orderId: 'o1' }, { messageId: 'later' });
    await harness.waitForHandled('later');
    await harness.bus.send(ShipOrder, { orderId: 'o1' }, { messageId: 'later' });
    await harness.waitFor({ messageId: 'later', outcome: 'duplicate' });

    await harness.bus.sendBatch(ShipOrder, [{ orderId: 'o2' }, { orderId: 'o2' }], { headers: {} });
    await Promise.all([
      harness.bus.send(ShipOrder, { orderId: 'o3' }, { messageId: 'together' }),
      harness.bus.send(ShipOrder, { orderId: 'o3' }, { messageId: 'together' }),
    ]);
    await harness.waitFor({ messageId: 'together', outcome: 'duplicate' });
    expect(harness.outcomes({ messageId: 'together', outcome: 'handled' })).toHaveLength(1);
    expect(harness.outcomes({ messageId: 'later', outcome: 'handled' })).toHaveLength(1);
    await harness.waitForCount({ outcome: 'handled' }, 4);
    expect(effects).toBe(4);
  });

  it('fans an event out to every subscription and applies filters', async () => {
    const seen: string[] = [];
    @EventHandler(OrderPlaced, { subscription: 'email' })
    class Email {
      handle(o: { orderId: string }) {
        seen.push(`email:${o.orderId}`);
      }
    }
    @EventHandler(OrderPlaced, { subscription: 'vip', filter: { property: 'totalAmount', gt: 1000 } })
    class Vip {
      handle(o: { orderId: string }) {
        seen.push(`vip:${o.orderId}`);
      }
    }
    const started = await startHost([Email, Vip]);
    harness = started.harness;
    await harness.bus.publish(OrderPlaced, { orderId: 'small', totalAmount: 20 }, { messageId: 'small' });
    await harness.bus.publish(OrderPlaced, { orderId: 'big', totalAmount: 1500 }, { messageId: 'big' });
    await harness.waitForHandled('big', 'Vip');
    await harness.waitForHandled('small', 'Email');
    await harness.waitForHandled('big', 'Email');
    expect(seen.sort()).toEqual(['email:big', 'email:small', 'vip:big']);
    expect(started.broker.hasQueue('test.vip')).toBe(true);
  });

  it('carries correlation and causation into messages sent while handling', async () => {
    const shipped: MessageContext[] = [];
    @EventHandler(OrderPlaced, { subscription: 'shipping' })
    class StartShipping {
      constructor(@inject(Bus) private readonly bus: Bus) {}
      async handle(o: { orderId: string }) {
        await this.bus.send(ShipOrder, { orderId: o.orderId });
      }
    }
    @Consumer({ queue: 'ship', message: ShipOrder })
    class Ship {
      handle(_cmd: unknown, ctx: MessageContext) {
        shipped.push(ctx);
      }
    }
    ({ harness } = await startHost([StartShipping, Ship]));
    await harness.bus.publish(
      OrderPlaced,
      { orderId: 'o7', totalAmount: 1 },
      { messageId: 'evt-1', correlationId: 'flow-9' },
    );
    await harness.waitFor({ consumer: 'Ship', outcome: 'handled' });
    expect(shipped[0]).toMatchObject({ correlationId: 'flow-9', causationId: 'evt-1', type: ShipOrder.type });
  });

  it('starts a new correlation at the first message of a flow', async () => {
    const contexts: MessageContext[] = [];
    @Consumer({ queue: 'ship', message: ShipOrder })
    class Ship {
      handle(_cmd: unknown, ctx: MessageContext) {
        contexts.push(ctx);
      }
    }
    ({ harness } = await startHost([Ship]));
    await harness.bus.send(ShipOrder, { orderId: 'x' }, { messageId: 'root' });
    await harness.waitForHandled('root');
    expect(contexts[0]).toMatchObject({ messageId: 'root', correlationId: 'root', causationId: undefined });
  });

  it('resolves the handler once per message with request-scoped services shared within the message', async () => {
    @injectable()
    class UnitOfWork {
      constructor(@inject(MessageContextToken) readonly context: MessageContext) {}
    }
    class Repository {
      constructor(@inject(UnitOfWork) readonly unit: UnitOfWork) {}
    }
    const instances: { handler: object; unit: UnitOfWork; repoUnit: UnitOfWork }[] = [];
    @Consumer({ queue: 'ship', message: ShipOrder })
    class Ship {
      constructor(
        @inject(UnitOfWork) readonly unit: UnitOfWork,
        @inject(Repository) readonly repository: Repository,
      ) {}
      handle() {
        instances.push({ handler: this, unit: this.unit, repoUnit: this.repository.unit });
      }
    }
    const container = new Container();
    container.bind(UnitOfWork).toSelf().inRequestScope();
    container.bind(Repository).toSelf();
    ({ harness } = await startHost([Ship], { container }));
    await harness.bus.send(ShipOrder, { orderId: 'a' }, { messageId: 'm1' });
    await harness.bus.send(ShipOrder, { orderId: 'b' }, { messageId: 'm2' });
    await harness.waitForCount({ outcome: 'handled' }, 2);
    const [first, second] = instances as [(typeof instances)[0], (typeof instances)[0]];
    expect(first.unit).toBe(first.repoUnit);
    expect(first.unit).not.toBe(second.unit);
    expect(first.handler).not.toBe(second.handler);
    expect(first.unit.context.messageId).toBe('m1');
    expect(second.unit.context.messageId).toBe('m2');
  });

  it('never runs more handlers at once than the concurrency limit', async () => {
    let running = 0;
    let peak = 0;
    @Consumer({ queue: 'ship', message: ShipOrder, prefetch: 10, concurrency: 2 })
    class Ship {
      async handle() {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running--;
      }
    }
    ({ harness } = await startHost([Ship]));
    await harness.bus.sendBatch(
      ShipOrder,
      Array.from({ length: 12 }, (_, i) => ({ orderId: String(i) })),
    );
    await harness.waitForCount({ outcome: 'handled' }, 12);
    expect(peak).toBe(2);
  });

  it('fails a handler that exceeds its timeout and aborts its signal', async () => {
    const signals: AbortSignal[] = [];
    @Consumer({ queue: 'ship', message: ShipOrder, timeoutMs: 30, retry: { attempts: 1, immediate: 1 } })
    class Slow {
      handle(_cmd: unknown, ctx: MessageContext) {
        signals.push(ctx.signal);
        // Returns (without an error) only once its signal aborted: the timeout is still the failure.
        return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      }
    }
    ({ harness } = await startHost([Slow]));
    await harness.bus.send(ShipOrder, { orderId: 'slow' }, { messageId: 'slow' });
    const dead = await harness.waitForDeadLettered('slow');
    expect(dead.fault).toMatchObject({ reason: 'max-attempts', errorCode: 'SLUICE_HANDLER_TIMEOUT' });
    expect(signals[0]?.aborted).toBe(true);
  });

  it('opens the circuit breaker after repeated failures, pausing the consumer, and closes it after a success', async () => {
    let healthy = false;
    const attempts: number[] = [];
    @Consumer({
      queue: 'ship',
      message: ShipOrder,
      prefetch: 1,
      retry: { attempts: 10, immediate: 1 },
      circuitBreaker: { failures: 3, windowMs: 10_000, coolOffMs: 300 },
    })
    class Flaky {
      handle() {
        attempts.push(Date.now());
        if (!healthy) throw new Error('dependency down');
      }
    }
    const started = await startHost([Flaky], {
      defaults: { retry: { redelivery: { initialMs: 1, factor: 1, maxMs: 1 } } },
    });
    harness = started.harness;
    const breakerOpen = () =>
      started.harness.host.metrics
        .gauge('sluice_circuit_breaker_open', '', ['consumer', 'queue'])
        .get({ consumer: 'Flaky', queue: 'ship' });
    await harness.bus.send(ShipOrder, { orderId: 'x' }, { messageId: 'flaky' });
    await harness.waitForCount({ messageId: 'flaky', outcome: 'retried' }, 2);
    await expect.poll(breakerOpen, { timeout: 2_000 }).toBe(1);
    healthy = true;
    await harness.waitForHandled('flaky', undefined, 3_000);
    expect(breakerOpen()).toBe(0);
    expect(attempts).toHaveLength(4);
    // The third failure opened the breaker; the next call waited out the 300 ms cool-off.
    expect((attempts[3] as number) - (attempts[2] as number)).toBeGreaterThanOrEqual(290);
  });
});
