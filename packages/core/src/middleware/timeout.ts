import { ErrorCodes, SluiceError } from '../errors.js';
import type { Invocation, Middleware } from './invocation.js';

/** Told about handler calls that keep running after their signal aborted for the timeout. */
export interface OverdueReport {
  /** The call has not returned `graceMs` after its timeout: it ignores its aborted `ctx.signal`. */
  began(invocation: Invocation, timeoutMs: number): void;
  /** That call returned at last, `durationMs` after it started. */
  ended(invocation: Invocation, durationMs: number): void;
}

/** How long after its timeout a call may take to honour its aborted signal before it is overdue. */
const overdueGraceMs = 1_000;

/**
 * Fails a handler call that runs longer than `timeoutMs` with `SLUICE_HANDLER_TIMEOUT` and aborts its
 * `ctx.signal` at that moment. The call cannot be stopped from outside, so the failure is reported
 * only once the call has really returned: until then it keeps its concurrency slot and its
 * idempotency claim, and no retry of the same delivery starts. A call still running
 * `min(timeoutMs, 1 s)` after its timeout is reported to `overdue`. `deadline` (the host's drain
 * deadline) aborts every running call's signal too. One listener on it serves all calls:
 * `AbortSignal.any` per message would cost a weak reference each. A delivery whose lock can be lost
 * (`Delivery.signal`) aborts its call's signal with the lock's reason (`SLUICE_LOCK_LOST`).
 */
export function timeoutMiddleware(
  timeoutMs: number,
  deadline: AbortSignal,
  overdue: OverdueReport,
): Middleware {
  const running = new Set<AbortController>();
  deadline.addEventListener(
    'abort',
    () => {
      for (const controller of running) controller.abort(deadline.reason);
    },
    { once: true },
  );
  const graceMs = Math.min(timeoutMs, overdueGraceMs);
  return async (invocation, next) => {
    const outer = invocation.signal;
    const controller = new AbortController();
    if (deadline.aborted) controller.abort(deadline.reason);
    const lock = invocation.delivery.signal;
    const onLockLost = () => controller.abort(lock?.reason);
    if (lock?.aborted === true) onLockLost();
    else lock?.addEventListener('abort', onLockLost, { once: true });
    running.add(controller);
    invocation.signal = controller.signal;
    const started = performance.now();
    let timedOut: SluiceError | undefined;
    let late = false;
    let timer = setTimeout(() => {
      timedOut = new SluiceError(
        ErrorCodes.HANDLER_TIMEOUT,
        `${invocation.endpoint.name} did not finish within ${timeoutMs} ms`,
      );
      controller.abort(timedOut);
      timer = setTimeout(() => {
        late = true;
        overdue.began(invocation, timeoutMs);
      }, graceMs);
    }, timeoutMs);
    try {
      await next();
    } catch (error) {
      // After a timeout, whatever the aborted call threw, the timeout is the failure that counts.
      if (timedOut === undefined) throw error;
    } finally {
      clearTimeout(timer);
      lock?.removeEventListener('abort', onLockLost);
      running.delete(controller);
      invocation.signal = outer;
      if (late) overdue.ended(invocation, performance.now() - started);
    }
    if (timedOut !== undefined) throw timedOut;
  };
}
