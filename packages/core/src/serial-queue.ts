/**
 * Runs async steps one at a time, in the order they were queued. A step that rejects rejects its own
 * `run` only; the steps after it still run. Used wherever operations on one resource (a channel, a
 * consumer) must not interleave.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Queues `step` after every step queued before it; settles as `step` does. */
  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
