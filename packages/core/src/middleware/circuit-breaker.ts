import { ErrorCodes, isUnrecoverable, SluiceError } from '../errors.js';
import type { CircuitBreakerOptions } from '../types.js';
import type { Middleware } from './invocation.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Counts handler failures in a sliding window; at `failures` it opens: the consumer is paused (no new
 * deliveries) and messages already delivered wait, for `coolOffMs`. Then it is half-open: the consumer
 * resumes, the first success closes the breaker and the first failure opens it again. Unrecoverable
 * errors (bad messages, business rejections) do not count: they say nothing about a dependency.
 */
export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failureTimes: number[] = [];
  private reopen: Promise<void> = Promise.resolve();
  private endCoolOff: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: Required<CircuitBreakerOptions>,
    private readonly onChange: (state: BreakerState) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get current(): BreakerState {
    return this.state;
  }

  /** Waits while the breaker is open; rejects with `SLUICE_SHUTTING_DOWN` if `signal` aborts meanwhile. */
  async whenAllowed(signal: AbortSignal): Promise<void> {
    while (this.state === 'open') {
      if (signal.aborted)
        throw new SluiceError(ErrorCodes.SHUTTING_DOWN, 'stopped while the circuit breaker was open');
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        void this.reopen.then(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  recordSuccess(): void {
    if (this.state === 'half-open') this.transition('closed');
  }

  recordFailure(error: unknown): void {
    if (isUnrecoverable(error) || this.state === 'open') return;
    if (this.state === 'half-open') return this.open();
    const now = this.now();
    this.failureTimes.push(now);
    while ((this.failureTimes[0] as number) <= now - this.options.windowMs) this.failureTimes.shift();
    if (this.failureTimes.length >= this.options.failures) this.open();
  }

  /** Ends a cool-off early and cancels its timer (on shutdown). */
  dispose(): void {
    clearTimeout(this.timer);
    this.endCoolOff?.();
  }

  private open(): void {
    this.failureTimes = [];
    this.reopen = new Promise((resolve) => {
      this.endCoolOff = resolve;
    });
    this.transition('open');
    this.timer = setTimeout(() => {
      this.transition('half-open');
      this.endCoolOff?.();
    }, this.options.coolOffMs);
    this.timer.unref();
  }

  private transition(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }

  /** The breaker as a middleware: waits while open, counts each call's outcome. */
  middleware(stopping: AbortSignal): Middleware {
    return async (_invocation, next) => {
      await this.whenAllowed(stopping);
      try {
        await next();
      } catch (error) {
        this.recordFailure(error);
        throw error;
      }
      this.recordSuccess();
    };
  }
}
