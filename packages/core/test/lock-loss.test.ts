/**
 * A delivery whose lock the broker took back (Service Bus peek-lock): the handler's signal aborts with
 * SLUICE_LOCK_LOST, in-process retries stop, the settlement is refused; and a native dead-letter
 * queue gets one settle span, no PRODUCER span. An in-memory transport stands in for a broker with
 * locks and a native dead-letter queue.
 */
import { afterEach, expect, it } from 'vitest';
import {
  Consumer,
  defineCommand,
  ErrorCodes,
  InMemoryTransport,
  SluiceError,
  type Delivery,
  type DeliveryHandler,
  type EndpointSpec,
  type MessageContext,
  type Subscription,
  type TransportCapabilities,
} from '@sluice/core';
import { ChangeSignal, installTestTelemetry, parentSpanId, type TestHarness } from '@sluice/testing';
import { rawMessage, startHost } from './support.js';

const telemetry = installTestTelemetry();
const Work = defineCommand<{ n: number }>('test.lock-work.v1');

/** Deliveries with a lock the test can take away; settling after that rejects as a broker would. */
class LockingTransport extends InMemoryTransport {
  override readonly capabilities: TransportCapabilities = {
    ...new InMemoryTransport().capabilities,
    locks: true,
    nativeDeadLetterQueue: true,
  };
  readonly locks = new Map<string, AbortController>();
  readonly changed = new ChangeSignal();
  settlementsRefused = 0;

  override subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    return super.subscribe(endpoint, (delivery) => {
      const lock = new AbortController();
      this.locks.set(delivery.message.messageId, lock);
      this.changed.notify();
      const guarded =
        <A extends unknown[]>(settle: (...args: A) => Promise<void>) =>
        (...args: A) => {
          if (!lock.signal.aborted) return settle(...args);
          this.settlementsRefused++;
          this.changed.notify();
          return Promise.reject(lock.signal.reason as Error);
        };
      const locked: Delivery = {
        message: delivery.message,
        queue: delivery.queue,
        attempt: delivery.attempt,
        signal: lock.signal,
        ack: guarded(() => delivery.ack()),
        retry: guarded((delayMs: number) => delivery.retry(delayMs)),
        deadLetter: guarded((fault) => delivery.deadLetter(fault)),
        release: guarded(() => delivery.release()),
      };
      return onDelivery(locked);
    });
  }

  loseLock(messageId: string): void {
    this.locks.get(messageId)?.abort(new SluiceError(ErrorCodes.LOCK_LOST, 'lock ran out'));
  }
}

const seen: { calls: number; reason: unknown } = { calls: 0, reason: undefined };

@Consumer({ queue: 'lock-work', message: Work, retry: { attempts: 3, immediate: 3 } })
class SlowWork {
  async handle(_: unknown, ctx: MessageContext) {
    seen.calls++;
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    seen.reason = ctx.signal.reason;
    throw ctx.signal.reason;
  }
}

@Consumer({ queue: 'lock-doomed', message: defineCommand('test.lock-doomed.v1') })
class Doomed {
  handle() {
    throw new SluiceError(ErrorCodes.UNRECOVERABLE, 'never valid');
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

it('aborts the handler with SLUICE_LOCK_LOST, tries no more in process and leaves the message to the broker', async () => {
  const transport = new LockingTransport();
  ({ harness } = await startHost([SlowWork], { transport }));
  const sent = rawMessage(Work.type, '{"n":1}');
  await transport.publish([sent]);
  await transport.changed.until(() => transport.locks.get(sent.messageId), 5_000, 'the delivery');
  await expect.poll(() => seen.calls, { timeout: 5_000 }).toBe(1);
  transport.loseLock(sent.messageId);
  await transport.changed.until(
    () => (transport.settlementsRefused > 0 ? true : undefined),
    5_000,
    'the refused settlement',
  );
  expect(seen.reason).toMatchObject({ code: ErrorCodes.LOCK_LOST });
  expect(seen.calls).toBe(1);
  expect(harness.settled).toHaveLength(0);
});

it('dead-letters on a native dead-letter queue in one settle span, the dead letter carrying its context', async () => {
  telemetry.reset();
  const transport = new LockingTransport();
  ({ harness } = await startHost([Doomed], { transport }));
  await harness.bus.send(defineCommand('test.lock-doomed.v1'), {}, { messageId: 'd-1' });
  const dead = await harness.waitForDeadLettered('d-1', 'Doomed');
  const spans = await telemetry.spans();
  const [settle] = spans.filter((s) => s.name === 'dead_letter lock-doomed');
  const process = spans.find((s) => s.name === 'process lock-doomed');
  expect(parentSpanId(settle!)).toBe(process!.spanContext().spanId);
  expect(spans.filter((s) => s.name.startsWith('send lock-doomed'))).toHaveLength(0);
  expect(dead.fault?.traceHeaders?.traceparent).toContain(settle!.spanContext().spanId);
});
