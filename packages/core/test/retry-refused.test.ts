/**
 * A retry whose copy the transport refuses: for good (`SLUICE_PUBLISH_REFUSED`, `SLUICE_INVALID_OPTION`,
 * as a broker refuses a copy over its size limit), the original is dead-lettered at once with the
 * handler's error; a transient refusal leaves the message to the broker as before. An in-memory
 * transport stands in for a broker whose retry copies are refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Consumer,
  deadLetterQueueName,
  defineCommand,
  ErrorCodes,
  InMemoryBroker,
  InMemoryTransport,
  readFault,
  SluiceError,
  type Delivery,
  type DeliveryHandler,
  type EndpointSpec,
  type ErrorCode,
  type Subscription,
} from '@sluice/core';
import { ChangeSignal, type TestHarness } from '@sluice/testing';
import { collectQueue, startHost } from './support.js';

const Work = defineCommand<{ n: number }>('test.refused-retry.v1');

/** Every retry rejects with `code`, nothing sent, the delivery left open as the contract says. */
class RefusingTransport extends InMemoryTransport {
  readonly changed = new ChangeSignal();
  retriesRefused = 0;
  deadLetters = 0;

  constructor(
    private readonly code: ErrorCode,
    options: ConstructorParameters<typeof InMemoryTransport>[0],
  ) {
    super(options);
  }

  override subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    return super.subscribe(endpoint, (delivery) => {
      const refusing: Delivery = {
        message: delivery.message,
        queue: delivery.queue,
        attempt: delivery.attempt,
        ack: () => delivery.ack(),
        retry: () => {
          this.retriesRefused++;
          this.changed.notify();
          return Promise.reject(new SluiceError(this.code, 'the copy takes 262145 bytes, over the limit'));
        },
        deadLetter: (fault) => {
          this.deadLetters++;
          return delivery.deadLetter(fault);
        },
        release: () => delivery.release(),
      };
      return onDelivery(refusing);
    });
  }
}

let calls = 0;

@Consumer({ queue: 'refused-work', message: Work, retry: { attempts: 5, immediate: 1 } })
class FailsOnce {
  handle() {
    calls++;
    if (calls === 1) throw new TypeError('the gateway is down');
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  calls = 0;
});

async function start(code: ErrorCode) {
  const broker = new InMemoryBroker();
  const transport = new RefusingTransport(code, { broker });
  ({ harness } = await startHost([FailsOnce], { transport }));
  return { transport, broker };
}

describe('a retry copy the transport refuses', () => {
  for (const code of [ErrorCodes.PUBLISH_REFUSED, ErrorCodes.INVALID_OPTION]) {
    it(`dead-letters the original at once with the handler's error when refused with ${code}`, async () => {
      const { transport, broker } = await start(code);
      const dlq = await collectQueue(broker, deadLetterQueueName('refused-work'));
      await harness!.bus.send(Work, { n: 1 }, { messageId: 'big-1' });
      const dead = await harness!.waitForDeadLettered('big-1', 'FailsOnce', 5_000);
      expect(dead.fault).toMatchObject({
        reason: 'unrecoverable',
        errorType: 'TypeError',
        errorMessage:
          'the gateway is down (not retried: the retry copy was refused: the copy takes 262145 bytes, over the limit)',
        attempts: 1,
      });
      const [copy] = await dlq.waitForCount(1, 2_000);
      expect(readFault(copy?.message.headers ?? {})).toMatchObject({ reason: 'unrecoverable', attempts: 1 });
      expect([calls, transport.retriesRefused, transport.deadLetters]).toEqual([1, 1, 1]);
      expect(harness!.settled.map((e) => e.outcome)).toEqual(['dead-lettered']);
    });
  }

  it('leaves the message to the broker when the refusal is transient (SLUICE_CONNECTION_LOST)', async () => {
    const { transport } = await start(ErrorCodes.CONNECTION_LOST);
    await harness!.bus.send(Work, { n: 1 }, { messageId: 'lost-1' });
    await transport.changed.until(
      () => (transport.retriesRefused > 0 ? true : undefined),
      5_000,
      'the refused retry',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([calls, transport.retriesRefused, transport.deadLetters]).toEqual([1, 1, 0]);
    expect(harness!.settled).toHaveLength(0);
  });
});
