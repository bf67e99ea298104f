/** Small promise-and-timer helpers shared by the host, the middleware and the background workers. */

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves true when `work` settles before `signal` aborts, false as soon as it aborts (at once when
 * it already has). Never rejects; `work` goes on either way. Without a signal it waits for `work`.
 */
export function untilAborted(work: Promise<unknown>, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted === true) {
    work.catch(() => undefined);
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    };
    work.then(done, done);
  });
}

/** Resolves true when `work` settles within `ms`, false when the time runs out first. Never rejects. */
export function withDeadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), Math.max(0, ms));
  return untilAborted(work, deadline.signal).finally(() => clearTimeout(timer));
}
