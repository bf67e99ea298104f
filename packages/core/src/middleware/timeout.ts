import { ErrorCodes, SluiceError } from '../errors.js';
import type { Middleware } from './invocation.js';

/**
 * Fails a handler call that runs longer than `timeoutMs` and aborts its `ctx.signal`. The call itself
 * cannot be stopped from outside; a handler that ignores the signal keeps running in the background.
 */
export function timeoutMiddleware(timeoutMs: number): Middleware {
  return async (invocation, next) => {
    const outer = invocation.signal;
    const controller = new AbortController();
    invocation.signal = AbortSignal.any([outer, controller.signal]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new SluiceError(
          ErrorCodes.HANDLER_TIMEOUT,
          `${invocation.endpoint.name} did not finish within ${timeoutMs} ms`,
        );
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    try {
      await Promise.race([next(), timedOut]);
    } finally {
      clearTimeout(timer);
      invocation.signal = outer;
    }
  };
}
