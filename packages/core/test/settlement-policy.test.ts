import { describe, expect, it } from 'vitest';
import { ErrorCodes, SluiceError, UnrecoverableError } from '@sluice/core';
import { isRetryable, settlementFor, type SettlementSettings } from '../src/settlement-policy.js';

const now = new Date('2026-03-04T05:06:07.890Z');
const settings: SettlementSettings = {
  name: 'ChargeCard',
  queue: 'payments',
  retry: { attempts: 4, retryable: undefined },
  retryDelaysMs: [100, 500, 2_500],
};
const running = (attempt: number) => ({ attempt, stopping: false, now });

class GatewayDown extends Error {
  override name = 'GatewayDown';
}
class CardDeclined extends Error {
  override name = 'CardDeclined';
}
const onlyGatewayErrors: SettlementSettings = {
  ...settings,
  retry: { attempts: 4, retryable: (error) => error instanceof GatewayDown },
};

describe('settlement policy', () => {
  it('retries a failure with the delay of its attempt while attempts remain', () => {
    expect(
      [1, 2, 3].map((attempt) => settlementFor(new GatewayDown('down'), settings, running(attempt))),
    ).toEqual([
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 500 },
      { action: 'retry', delayMs: 2_500 },
    ]);
  });

  it('dead-letters with max-attempts and the whole fault at the last attempt', () => {
    const error = new SluiceError(ErrorCodes.HANDLER_TIMEOUT, 'too slow');
    const decision = settlementFor(error, settings, running(4));
    expect(decision).toEqual({
      action: 'dead-letter',
      fault: {
        reason: 'max-attempts',
        errorType: 'SluiceError',
        errorCode: ErrorCodes.HANDLER_TIMEOUT,
        errorMessage: 'too slow',
        stack: error.stack?.split('\n').slice(0, 12).join('\n'),
        attempts: 4,
        consumer: 'ChargeCard',
        queue: 'payments',
        time: now,
      },
    });
  });

  it('uses the last delay beyond the list', () => {
    const long = { ...settings, retry: { attempts: 10, retryable: undefined } };
    expect(settlementFor(new Error('x'), long, running(7))).toEqual({ action: 'retry', delayMs: 2_500 });
  });

  it('dead-letters unrecoverable failures at once, with the reason of their code', () => {
    const reasons = [
      [new UnrecoverableError('blocked'), 'unrecoverable'],
      [new SluiceError(ErrorCodes.DECODE_FAILED, 'bad json'), 'decode-failed'],
      [new SluiceError(ErrorCodes.UNKNOWN_MESSAGE_TYPE, 'what'), 'unknown-type'],
      [new SluiceError(ErrorCodes.VALIDATION_FAILED, 'no'), 'validation-failed'],
    ] as const;
    for (const [error, reason] of reasons) {
      const decision = settlementFor(error, settings, running(1));
      expect(decision).toMatchObject({ action: 'dead-letter', fault: { reason, attempts: 1 } });
    }
  });

  it('dead-letters at once what the retryable predicate refuses, and retries what it accepts', () => {
    expect(settlementFor(new CardDeclined('declined'), onlyGatewayErrors, running(1))).toMatchObject({
      action: 'dead-letter',
      fault: { reason: 'unrecoverable', errorType: 'CardDeclined', attempts: 1 },
    });
    expect(settlementFor(new GatewayDown('down'), onlyGatewayErrors, running(1))).toEqual({
      action: 'retry',
      delayMs: 100,
    });
  });

  it('retries an idempotency claim held elsewhere whatever the predicate says', () => {
    const inProgress = new SluiceError(ErrorCodes.IN_PROGRESS, 'held');
    expect(settlementFor(inProgress, onlyGatewayErrors, running(2))).toEqual({
      action: 'retry',
      delayMs: 500,
    });
    expect(isRetryable(inProgress, () => false)).toBe(true);
  });

  it('keeps redelivering a message whose claim is held elsewhere past the last attempt, with the last delay', () => {
    // The holder may have died: its claim ends with its lease, however short the retry schedule.
    const inProgress = new SluiceError(ErrorCodes.IN_PROGRESS, 'held');
    expect([4, 9].map((attempt) => settlementFor(inProgress, settings, running(attempt)))).toEqual([
      { action: 'retry', delayMs: 2_500 },
      { action: 'retry', delayMs: 2_500 },
    ]);
    // With no redelivery at all (one attempt) it is dead-lettered as before.
    const once = { ...settings, retry: { attempts: 1, retryable: undefined }, retryDelaysMs: [] };
    expect(settlementFor(inProgress, once, running(1))).toMatchObject({
      action: 'dead-letter',
      fault: { reason: 'max-attempts', errorCode: ErrorCodes.IN_PROGRESS },
    });
  });

  it('counts a throwing predicate as retryable', () => {
    const throwing = {
      ...settings,
      retry: {
        attempts: 4,
        retryable: () => {
          throw new Error('predicate bug');
        },
      },
    };
    expect(settlementFor(new Error('x'), throwing, running(1))).toEqual({ action: 'retry', delayMs: 100 });
  });

  it('releases while stopping, except what is unrecoverable', () => {
    const stopping = { attempt: 4, stopping: true, now };
    expect(settlementFor(new GatewayDown('aborted'), settings, stopping)).toEqual({ action: 'release' });
    expect(settlementFor(new CardDeclined('aborted'), onlyGatewayErrors, stopping)).toEqual({
      action: 'release',
    });
    expect(settlementFor(new UnrecoverableError('blocked'), settings, stopping)).toMatchObject({
      action: 'dead-letter',
      fault: { reason: 'unrecoverable' },
    });
  });

  it('releases on SLUICE_SHUTTING_DOWN even while running', () => {
    const error = new SluiceError(ErrorCodes.SHUTTING_DOWN, 'stopped while the breaker was open');
    expect(settlementFor(error, settings, running(1))).toEqual({ action: 'release' });
  });
});
