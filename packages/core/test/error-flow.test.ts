import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  Consumer,
  deadLetterQueueName,
  defineCommand,
  ErrorCodes,
  Headers,
  readFault,
  UnrecoverableError,
  type MessageContext,
  type PayloadOf,
} from '@sluice/core';
import type { TestHarness } from '@sluice/testing';
import { collectQueue, rawMessage, startHost } from './support.js';

const ChargeCard = defineCommand('payments.charge-card.v1', {
  schema: z.object({ orderId: z.string(), amount: z.number().positive() }),
});
type Charge = PayloadOf<typeof ChargeCard>;

const calls: { orderId: string; attempt: number }[] = [];

@Consumer({ queue: 'payments', message: ChargeCard, retry: { attempts: 3, immediate: 2 } })
class AlwaysFailing {
  handle(cmd: Charge, ctx: MessageContext) {
    calls.push({ orderId: cmd.orderId, attempt: ctx.attempt });
    if (cmd.orderId === 'reject') throw new UnrecoverableError('card blocked');
    throw new TypeError(`gateway down for ${cmd.orderId}`);
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  calls.length = 0;
});

describe('error and retry flow', () => {
  it('retries a poison message in process and through the transport, then dead-letters it with fault headers', async () => {
    const started = await startHost([AlwaysFailing]);
    harness = started.harness;
    const dlq = await collectQueue(started.broker, deadLetterQueueName('payments'));
    await harness.bus.send(
      ChargeCard,
      { orderId: 'o-1', amount: 10 },
      { messageId: 'poison-1', headers: { tenant: 't1' } },
    );

    const dead = await harness.waitForDeadLettered('poison-1');
    expect(dead.attempt).toBe(3);
    expect(harness.outcomes({ messageId: 'poison-1', outcome: 'retried' }).map((e) => e.delayMs)).toEqual([
      10, 20,
    ]);
    expect(calls.map((c) => c.attempt)).toEqual([1, 1, 2, 2, 3, 3]);

    const [copy] = await dlq.waitForCount(1, 2_000);
    expect(copy?.message.messageId).toBe('poison-1');
    expect(copy?.message.headers.tenant).toBe('t1');
    const fault = readFault(copy?.message.headers ?? {});
    expect(fault).toMatchObject({
      reason: 'max-attempts',
      errorType: 'TypeError',
      errorMessage: 'gateway down for o-1',
      attempts: 3,
      consumer: 'AlwaysFailing',
      queue: 'payments',
    });
    expect(fault?.stack).toContain('TypeError: gateway down');
    expect(Date.now() - (fault?.time.getTime() ?? 0)).toBeLessThan(5_000);
    expect(copy?.message.headers[Headers.faultTime]).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('dead-letters an UnrecoverableError at once', async () => {
    const started = await startHost([AlwaysFailing]);
    harness = started.harness;
    const dlq = await collectQueue(started.broker, deadLetterQueueName('payments'));
    await harness.bus.send(ChargeCard, { orderId: 'reject', amount: 10 }, { messageId: 'm-reject' });
    const dead = await harness.waitForDeadLettered('m-reject');
    expect(dead.fault).toMatchObject({
      reason: 'unrecoverable',
      errorType: 'UnrecoverableError',
      attempts: 1,
    });
    expect(calls).toHaveLength(1);
    const [copy] = await dlq.waitForCount(1, 2_000);
    expect(copy?.message.headers[Headers.faultErrorCode]).toBe(ErrorCodes.UNRECOVERABLE);
  });

  it.each([
    ['malformed JSON', '{"orderId": "o-1", ', ChargeCard.type, 'decode-failed'],
    [
      'a schema-invalid payload',
      JSON.stringify({ orderId: 'o-1', amount: -5 }),
      ChargeCard.type,
      'validation-failed',
    ],
    [
      'an unknown message type',
      JSON.stringify({ orderId: 'o-1', amount: 5 }),
      'payments.refund.v1',
      'unknown-type',
    ],
  ])('dead-letters %s without calling the handler or retrying', async (_what, body, type, reason) => {
    const started = await startHost([AlwaysFailing]);
    harness = started.harness;
    const dlq = await collectQueue(started.broker, deadLetterQueueName('payments'));
    const message = { ...rawMessage('', body, type), destination: { queue: 'payments' } };
    await started.transport.publish([message]);
    const dead = await harness.waitForDeadLettered(message.messageId);
    expect(dead.fault?.reason).toBe(reason);
    expect(dead.attempt).toBe(1);
    expect(calls).toHaveLength(0);
    const [copy] = await dlq.waitForCount(1, 2_000);
    expect(Buffer.from(copy?.message.body ?? []).toString()).toBe(body);
    expect(readFault(copy?.message.headers ?? {})?.reason).toBe(reason);
  });

  it('dead-letters at once, after one call, a failure the retryable predicate refuses', async () => {
    class CardDeclined extends Error {
      override name = 'CardDeclined';
    }
    const tries: string[] = [];
    @Consumer({
      queue: 'payments',
      message: ChargeCard,
      retry: { attempts: 3, immediate: 2, retryable: (error) => !(error instanceof CardDeclined) },
    })
    class Declining {
      handle(cmd: Charge) {
        tries.push(cmd.orderId);
        if (cmd.orderId === 'declined') throw new CardDeclined('card declined');
        throw new TypeError('gateway down');
      }
    }
    const started = await startHost([Declining]);
    harness = started.harness;
    await harness.bus.send(ChargeCard, { orderId: 'declined', amount: 10 }, { messageId: 'm-declined' });
    const dead = await harness.waitForDeadLettered('m-declined');
    expect(dead.fault).toMatchObject({ reason: 'unrecoverable', errorType: 'CardDeclined', attempts: 1 });
    await harness.bus.send(ChargeCard, { orderId: 'retried', amount: 10 }, { messageId: 'm-retried' });
    const exhausted = await harness.waitForDeadLettered('m-retried');
    expect(exhausted.fault).toMatchObject({ reason: 'max-attempts', attempts: 3 });
    expect(tries.filter((id) => id === 'declined')).toHaveLength(1);
    expect(tries.filter((id) => id === 'retried')).toHaveLength(6);
  });

  it('refuses to send an invalid payload', async () => {
    const started = await startHost([AlwaysFailing]);
    harness = started.harness;
    await expect(harness.bus.send(ChargeCard, { orderId: 'x', amount: 0 })).rejects.toMatchObject({
      code: ErrorCodes.VALIDATION_FAILED,
    });
  });
});
