/**
 * The idempotency claim has a lease of its own, separate from the dedup record's TTL: renewed while
 * the handler runs, lapsing soon after its holder is gone, so neither a crash mid-handler nor a store
 * that fails to complete blocks the message's redeliveries beyond the lease.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Consumer,
  defineCommand,
  InMemoryBroker,
  InMemoryIdempotencyStore,
  InMemoryTransport,
  silentLogger,
  type Claim,
  type IdempotencyStore,
} from '@sluice/core';
import { RecordingLogger, TestHarness } from '@sluice/testing';
import { startHost } from './support.js';

const Charge = defineCommand<{ orderId: string }>('test.charge.v1');

/** Handler calls: who ran, and the most at once. */
const calls = { names: [] as string[], running: 0, peak: 0 };
let hold: Promise<void> | undefined;
let releaseHold: () => void = () => undefined;

/** The first call waits on `hold` (when set); every call is counted. */
async function charge(name: string): Promise<void> {
  calls.names.push(name);
  calls.peak = Math.max(calls.peak, ++calls.running);
  try {
    const waitFor = hold;
    hold = undefined;
    await waitFor;
  } finally {
    calls.running--;
  }
}

/** A client of a shared store that can "crash": every call then fails, as from a dead process. */
class CrashableClient implements IdempotencyStore {
  crashed = false;
  constructor(private readonly store: IdempotencyStore) {}
  private call<T>(run: () => Promise<T>): Promise<T> {
    return this.crashed ? Promise.reject(new Error('process gone')) : run();
  }
  claim(key: string, leaseMs: number): Promise<Claim> {
    return this.call(() => this.store.claim(key, leaseMs));
  }
  renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return this.call(() => this.store.renew(key, token, leaseMs));
  }
  complete(key: string, token: string, ttlMs: number): Promise<void> {
    return this.call(() => this.store.complete(key, token, ttlMs));
  }
  release(key: string, token: string): Promise<void> {
    return this.call(() => this.store.release(key, token));
  }
}

const harnesses: TestHarness[] = [];
afterEach(async () => {
  releaseHold();
  await Promise.all(harnesses.splice(0).map((h) => h.stop()));
  calls.names.length = 0;
  calls.peak = 0;
  hold = undefined;
});

function holdFirstCall(): void {
  hold = new Promise((resolve) => (releaseHold = resolve));
}

// `ttlMs` is given too: the options before leases existed took it alone.
const idempotency = { ttlMs: 86_400_000, leaseMs: 300 };
const patientRetry = { attempts: 6, redelivery: { initialMs: 100, factor: 2, maxMs: 2_000 } };

describe('idempotency claims', { timeout: 20_000 }, () => {
  it('renews the claim while a handler runs past the lease, so a duplicate never runs beside it', async () => {
    @Consumer({ queue: 'charges', message: Charge, concurrency: 2, idempotency, retry: patientRetry })
    class ChargeCard {
      handle({ orderId }: { orderId: string }) {
        return charge(orderId);
      }
    }
    const { harness } = await startHost([ChargeCard], { logger: silentLogger });
    harnesses.push(harness);
    holdFirstCall();
    await harness.bus.send(Charge, { orderId: 'o-1' }, { messageId: 'twice' });
    await harness.bus.send(Charge, { orderId: 'o-1' }, { messageId: 'twice' });
    await expect.poll(() => calls.names.length).toBe(1);
    // Three leases long, while the duplicate keeps coming back.
    await new Promise((resolve) => setTimeout(resolve, 900));
    releaseHold();
    await harness.waitForHandled('twice', undefined, 10_000);
    await harness.waitFor({ messageId: 'twice', outcome: 'duplicate' }, 10_000);
    expect(calls).toMatchObject({ names: ['o-1'], peak: 1 });
  });

  it('lets the claim of a process that died mid-handler lapse, so another process handles the redelivery', async () => {
    const broker = new InMemoryBroker();
    const store = new InMemoryIdempotencyStore();
    const dying = new CrashableClient(store);
    @Consumer({ queue: 'charges', message: Charge, idempotency, retry: patientRetry })
    class ChargeCard {
      handle({ orderId }: { orderId: string }) {
        return charge(orderId);
      }
    }
    const host = (idempotencyStore: IdempotencyStore) =>
      TestHarness.start({
        serviceName: 'test',
        transport: new InMemoryTransport({ broker }),
        consumers: [ChargeCard],
        idempotencyStore,
        logger: silentLogger,
        drainTimeoutMs: 0,
        stopTimeoutMs: 2_000,
      });
    const first = await host(dying);
    harnesses.push(first);
    holdFirstCall();
    await first.bus.send(Charge, { orderId: 'o-2' }, { messageId: 'crash' });
    await expect.poll(() => calls.names.length).toBe(1);
    const second = await host(store);
    harnesses.push(second);
    // The first process dies: its claim is never renewed, completed or released again, and its
    // delivery goes back to the queue.
    dying.crashed = true;
    await first.stop();
    const handled = await second.waitForHandled('crash', undefined, 10_000);
    expect(handled.attempt).toBeGreaterThan(1);
    expect(second.outcomes({ messageId: 'crash', outcome: 'dead-lettered' })).toHaveLength(0);
  });

  it('acks a handled message whose completion the store failed to record, and handles a later duplicate again', async () => {
    let failures = 1;
    class FailingComplete extends InMemoryIdempotencyStore {
      override complete(...args: Parameters<InMemoryIdempotencyStore['complete']>): Promise<void> {
        if (failures-- > 0) return Promise.reject(new Error('store unreachable'));
        return super.complete(...args);
      }
    }
    @Consumer({ queue: 'charges', message: Charge, idempotency, retry: patientRetry })
    class ChargeCard {
      handle({ orderId }: { orderId: string }) {
        return charge(orderId);
      }
    }
    const logger = new RecordingLogger();
    const { harness } = await startHost([ChargeCard], { idempotencyStore: new FailingComplete(), logger });
    harnesses.push(harness);
    await harness.bus.send(Charge, { orderId: 'o-3' }, { messageId: 'unrecorded' });
    await harness.waitForHandled('unrecorded', undefined, 10_000);
    expect(logger.text).toContain('handled, but the idempotency record could not be stored');
    await harness.bus.send(Charge, { orderId: 'o-3' }, { messageId: 'unrecorded' });
    await harness.waitForCount({ messageId: 'unrecorded', outcome: 'handled' }, 2, 10_000);
    expect(harness.outcomes({ messageId: 'unrecorded', outcome: 'dead-lettered' })).toHaveLength(0);
    expect(calls.names).toEqual(['o-3', 'o-3']);
  });
});
