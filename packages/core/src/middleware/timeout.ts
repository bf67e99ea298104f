import { ErrorCodes, SluiceError } from '../errors.js';
import type { Middleware } from './invocation.js';

/**
 * Fails a handler call that runs longer than `timeoutMs` and aborts its `ctx.signal`. The call itself
 * cannot be stopped from outside; a handler that ignores the signal keeps running in the background.
 * `deadline` (the host's drain deadline) aborts every running call's signal too. One listener on it
 * serves all calls: `AbortSignal.any` per message would cost a weak reference each.
 */
export function timeoutMiddleware(timeoutMs: number, deadline: AbortSignal): Middleware {
  const running = new Set<AbortController>();
  deadline.addEventListener(
    'abort',
    () => {
      for (const controller of running) controller.abort(deadline.reason);
    },
    { once: true },
  );
  return async (invocation, next) => {
    const outer = invocation.signal;
    const controller = new AbortController();
    if (deadline.aborted) controller.abort(deadline.reason);
    running.add(controller);
    invocation.signal = controller.signal;
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
      running.delete(controller);
      invocation.signal = outer;
    }
  };
}
