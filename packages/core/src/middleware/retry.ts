import { backoffDelay } from '../backoff.js';
import { isUnrecoverable } from '../errors.js';
import type { Backoff } from '../types.js';
import { sleep } from '../timers.js';
import type { Invocation, Middleware } from './invocation.js';

/**
 * In-process retries: up to `tries` calls with `backoff` between them. Unrecoverable errors and a
 * host that is shutting down end the loop at once. `onFailure` sees every failed call.
 */
export function retryMiddleware(
  tries: number,
  backoff: Backoff,
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
        if (tryNumber >= tries || isUnrecoverable(error) || stopping.aborted) throw error;
        await sleep(backoffDelay(backoff, tryNumber), stopping);
        if (stopping.aborted) throw error;
      }
    }
  };
}
