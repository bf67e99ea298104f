/**
 * Counts work in progress and wakes whoever waits for it to reach zero. `enter` before the work,
 * `leave` after it (in a `finally`), `whenIdle` to wait for all of it.
 */
export class IdleLatch {
  private active = 0;
  private waiters: (() => void)[] = [];

  /** Work in progress now. */
  get count(): number {
    return this.active;
  }

  enter(): void {
    this.active++;
  }

  /** Ends one unit of work; at zero every waiter is woken. */
  leave(): void {
    if (this.active === 0) return;
    if (--this.active > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when no work is in progress (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
