/**
 * The one settlement policy: what becomes of a delivery whose pipeline failed. A pure function of the
 * error, the delivery's attempt, the consumer's retry settings and whether the host is stopping; the
 * endpoint runner only carries its decision out. (A pipeline that did not fail is acknowledged.)
 */
import { ErrorCodes, hasErrorCode, isUnrecoverable } from './errors.js';
import type { Fault, FaultReason } from './transport.js';

/** What to do with a delivery whose pipeline failed. */
export type Settlement =
  /** Back to its queue unhandled, no attempt counted: the host is stopping. */
  | { readonly action: 'release' }
  /** Redelivered through the transport after `delayMs`, as attempt + 1. */
  | { readonly action: 'retry'; readonly delayMs: number }
  /** Moved to the dead-letter queue with `fault`. */
  | { readonly action: 'dead-letter'; readonly fault: Fault };

/** The consumer settings the policy reads. */
export interface SettlementSettings {
  /** Consumer name, recorded in the fault. */
  readonly name: string;
  readonly queue: string;
  readonly retry: {
    /** Deliveries in all, the first included. */
    readonly attempts: number;
    /** The user's predicate; `undefined` treats every failure as retryable. */
    readonly retryable: ((error: Error) => boolean) | undefined;
  };
  /** Delay before redelivery n (index n-1); the last one serves beyond. */
  readonly retryDelaysMs: readonly number[];
}

/** What the policy knows about the moment of failure. */
export interface SettlementCircumstances {
  /** The delivery's attempt, 1 for the first. */
  readonly attempt: number;
  /** The host's drain deadline passed: unfinished work goes back to the queue. */
  readonly stopping: boolean;
  /** Recorded as the fault's time. */
  readonly now: Date;
}

/** Lines of the stack trace kept in the fault. */
const maxStackLines = 12;

function unrecoverableReason(error: Error): FaultReason {
  if (hasErrorCode(error, ErrorCodes.DECODE_FAILED)) return 'decode-failed';
  if (hasErrorCode(error, ErrorCodes.UNKNOWN_MESSAGE_TYPE)) return 'unknown-type';
  if (hasErrorCode(error, ErrorCodes.VALIDATION_FAILED)) return 'validation-failed';
  return 'unrecoverable';
}

/**
 * True when trying `error` again may help: not an unrecoverable error (`UnrecoverableError`, decode,
 * unknown-type and validation failures) and not refused by the user's `retryable` predicate. A
 * predicate that throws counts as `true` (the attempt bound still ends the retries).
 * `SLUICE_IN_PROGRESS` (another delivery holds the message's idempotency claim) is always retryable.
 */
export function isRetryable(error: Error, retryable: ((error: Error) => boolean) | undefined): boolean {
  if (isUnrecoverable(error)) return false;
  if (retryable === undefined || hasErrorCode(error, ErrorCodes.IN_PROGRESS)) return true;
  try {
    return retryable(error) !== false;
  } catch {
    return true;
  }
}

/**
 * Decides, in this order: `SLUICE_SHUTTING_DOWN`, or any failure but an unrecoverable one while the
 * host is stopping: release. Not retryable ({@link isRetryable}): dead-letter now, reason from the
 * error's code (`decode-failed`, `unknown-type`, `validation-failed`, else `unrecoverable`).
 * `attempt < attempts`: retry after the delay for this attempt. `SLUICE_IN_PROGRESS` (the message's
 * idempotency claim is held by another delivery, perhaps of a process that died, until its lease
 * ends): retry, past the last attempt too, with the last delay, unless the consumer has no
 * redelivery at all (`attempts` 1). Else dead-letter with `max-attempts`.
 */
export function settlementFor(
  error: Error,
  settings: SettlementSettings,
  { attempt, stopping, now }: SettlementCircumstances,
): Settlement {
  if (hasErrorCode(error, ErrorCodes.SHUTTING_DOWN) || (stopping && !isUnrecoverable(error))) {
    return { action: 'release' };
  }
  const retryable = isRetryable(error, settings.retry.retryable);
  const { retryDelaysMs } = settings;
  // A claim held elsewhere is not a failure of the message: when its holder died, only the lease's
  // end frees it, which a short retry schedule does not reach. Dead-lettering it would drop a
  // message nobody handled, so it is redelivered (with the last delay) until the claim is free.
  const heldElsewhere = hasErrorCode(error, ErrorCodes.IN_PROGRESS) && retryDelaysMs.length > 0;
  if ((retryable && attempt < settings.retry.attempts) || heldElsewhere) {
    return { action: 'retry', delayMs: retryDelaysMs[attempt - 1] ?? retryDelaysMs.at(-1) ?? 0 };
  }
  return deadLetter(retryable ? 'max-attempts' : unrecoverableReason(error), error, error.message, settings, {
    attempt,
    now,
  });
}

/**
 * The decision once the transport refused a retry's copy for good (`isCopyRefused`: a copy one byte
 * over the broker's size limit, say): trying again would be refused the same way, so the original is
 * dead-lettered now, with reason `unrecoverable` and the handler's `error`, its message saying why.
 */
export function settlementForRefusedRetry(
  error: Error,
  refusal: Error,
  settings: SettlementSettings,
  circumstances: Pick<SettlementCircumstances, 'attempt' | 'now'>,
): DeadLetter {
  const message = `${error.message} (not retried: the retry copy was refused: ${refusal.message})`;
  return deadLetter('unrecoverable', error, message, settings, circumstances);
}

type DeadLetter = Extract<Settlement, { action: 'dead-letter' }>;

function deadLetter(
  reason: FaultReason,
  error: Error,
  errorMessage: string,
  settings: SettlementSettings,
  { attempt, now }: Pick<SettlementCircumstances, 'attempt' | 'now'>,
): DeadLetter {
  const code = (error as { code?: unknown }).code;
  return {
    action: 'dead-letter',
    fault: {
      reason,
      errorType: error.name,
      errorCode: typeof code === 'string' ? code : undefined,
      errorMessage,
      stack: error.stack?.split('\n').slice(0, maxStackLines).join('\n'),
      attempts: attempt,
      consumer: settings.name,
      queue: settings.queue,
      time: now,
    },
  };
}
