/** Node's setTimeout limit; later instants are reached in steps. */
const longestDelay = 2 ** 31 - 1;

/**
 * One-shot timers keyed by `K`, each firing once at an epoch-millisecond instant (however far
 * away). Setting a key again replaces its timer; `cancel` and `clear` stop them. Timers never keep
 * the process alive.
 */
export class TimerSet<K> {
  private readonly timers = new Map<K, NodeJS.Timeout>();

  /** Runs `fire` at `at` (at once, on a later tick, when `at` has passed). */
  set(key: K, at: number, fire: () => void): void {
    this.cancel(key);
    const delay = Math.max(0, at - Date.now());
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        if (delay > longestDelay) this.set(key, at, fire);
        else fire();
      },
      Math.min(delay, longestDelay),
    );
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Stops `key`'s timer; whether there was one. */
  cancel(key: K): boolean {
    const timer = this.timers.get(key);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.timers.delete(key);
    return true;
  }

  /** Stops every timer. */
  clear(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
