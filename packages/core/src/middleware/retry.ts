import { backoffDelay } from '../backoff.js';
import { toError } from '../errors.js';
import { isRetryable } from '../settlement-policy.js';
import type { Backoff } from '../types.js';
import { sleep } from '../timers.js';
import type { Invocation, Middleware } from './invocation.js';

/**
 * In-process retries: up to `immediate` calls with `backoff` between them. A failure that is not
 * retryable (the settlement policy's `isRetryable`, the user's `retryable` predicate included), a
 * host that is shutting down and a delivery whose lock was lost (`Delivery.signal`: the broker
 * redelivers it, so another try here would only duplicate the work) end the loop at once; a
 * delivery whose lock is lost before its first try fails with the lock's reason untried.
 * `onFailure` sees every failed call.
 */
export function retryMiddleware(
  retry: {
    readonly immediate: number;
    readonly backoff: Backoff;
    readonly retryable: ((error: Error) => boolean) | undefined;
  },
  stopping: AbortSignal,
  onFailure: (invocation: Invocation, error: unknown, tryNumber: number) => void,
): Middleware {
  return async (invocation, next) => {
    const lock = invocation.delivery.signal;
    const ended = () => stopping.aborted || lock?.aborted === true;
    for (let tryNumber = 1; ; tryNumber++) {
      if (lock?.aborted === true) throw lock.reason;
      try {
        await next();
        return;
      } catch (error) {
        onFailure(invocation, error, tryNumber);
        if (tryNumber >= retry.immediate || ended() || !isRetryable(toError(error), retry.retryable)) {
          throw error;
        }
        const delayMs = backoffDelay(retry.backoff, tryNumber);
        await sleep(delayMs, lock === undefined ? stopping : AbortSignal.any([stopping, lock]));
        if (ended()) throw error;
      }
    }
  };
}
