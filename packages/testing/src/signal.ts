/**
 * Waits for a condition that is re-checked whenever something changes (`notify`), with a deadline.
 * No sleeping and polling: a waiter wakes on the change that satisfies it.
 */
export class ChangeSignal {
  private waiters = new Set<() => void>();

  /** Wakes every waiter to re-check its condition. */
  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * Resolves with the first non-undefined value of `check()`, re-checked on every `notify`. Rejects
   * after `timeoutMs` with an error naming `what`.
   */
  until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const wake = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          finish();
          reject(error as Error);
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }
}
