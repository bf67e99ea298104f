import { backoffDelay } from '../backoff.js';
import { toError } from '../errors.js';
import { isRetryable } from '../settlement-policy.js';
import type { Backoff } from '../types.js';
import { sleep } from '../timers.js';
import type { Invocation, Middleware } from './invocation.js';

/**
 * In-process retries: up to `immediate` calls with `backoff` between them. A failure that is not
 * retryable (the settlement policy's `isRetryable`, the user's `retryable` predicate included) and a
 * host that is shutting down end the loop at once. `onFailure` sees every failed call.
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
    for (let tryNumber = 1; ; tryNumber++) {
      try {
        await next();
        return;
      } catch (error) {
        onFailure(invocation, error, tryNumber);
        if (
          tryNumber >= retry.immediate ||
          stopping.aborted ||
          !isRetryable(toError(error), retry.retryable)
        ) {
          throw error;
        }
        await sleep(backoffDelay(retry.backoff, tryNumber), stopping);
        if (stopping.aborted) throw error;
      }
    }
  };
}
