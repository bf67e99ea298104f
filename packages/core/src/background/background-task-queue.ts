/**
 * A bounded in-process queue for background work (uploads, e-mails, cache warm-ups) that must not
 * hold up a request. At capacity it either makes `enqueue` wait (back-pressure) or rejects with
 * `SLUICE_QUEUE_FULL` (so an HTTP API can answer 503). The host drains it on shutdown.
 */
import { ErrorCodes, SluiceError, toError } from '../errors.js';
import { defaultLogger, type Logger } from '../logger.js';
import { withDeadline } from '../timers.js';
import { OptionChecker } from '../option-checker.js';

/** A unit of background work; `signal` aborts when a drain passes its deadline. */
export type BackgroundTask = (signal: AbortSignal) => Promise<void> | void;

export interface BackgroundTaskQueueOptions {
  /** Name in logs. Default `background`. */
  readonly name?: string;
  /** Tasks waiting to run (not counting running ones). Default 100. */
  readonly capacity?: number;
  /** Tasks running at once. Default 1. */
  readonly concurrency?: number;
  /** At capacity: `wait` for room (default) or `reject` at once. */
  readonly whenFull?: 'wait' | 'reject';
  /** With `wait`: longest wait for room before rejecting with `SLUICE_DEADLINE_EXCEEDED`. Default 30 s. */
  readonly maxWaitMs?: number;
  readonly logger?: Logger;
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

export class BackgroundTaskQueue {
  readonly name: string;
  private readonly capacity: number;
  private readonly concurrency: number;
  private readonly whenFull: 'wait' | 'reject';
  private readonly maxWaitMs: number;
  private readonly logger: Logger;
  private readonly pending: BackgroundTask[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly abort = new AbortController();
  private running = 0;
  /** Places promised to woken waiters that have not pushed their task yet. */
  private reserved = 0;
  private closed = false;
  private idle: (() => void)[] = [];
  private failures = 0;

  constructor(options: BackgroundTaskQueueOptions = {}) {
    this.name = options.name ?? 'background';
    const check = new OptionChecker(`BackgroundTaskQueue ${this.name}`);
    this.capacity = check.int('capacity', options.capacity ?? 100, 1, 1_000_000_000);
    this.concurrency = check.int('concurrency', options.concurrency ?? 1, 1, 10_000);
    this.whenFull = check.oneOf('whenFull', options.whenFull ?? 'wait', ['wait', 'reject'] as const);
    this.maxWaitMs = check.int('maxWaitMs', options.maxWaitMs ?? 30_000, 1, 2 ** 31 - 1);
    this.logger = options.logger ?? defaultLogger;
  }

  /** Tasks waiting to run. */
  get size(): number {
    return this.pending.length;
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks that threw (they are logged and dropped). */
  get failed(): number {
    return this.failures;
  }

  /**
   * Queues `task`. Resolves once it is queued (not when it has run). At capacity: waits for room, or
   * rejects with `SLUICE_QUEUE_FULL` when configured to reject. Rejects with `SLUICE_CLOSED` after
   * `drain` began.
   */
  async enqueue(task: BackgroundTask): Promise<void> {
    if (this.closed) throw new SluiceError(ErrorCodes.CLOSED, `background queue ${this.name} is draining`);
    if (this.pending.length + this.reserved >= this.capacity || this.waiters.length > 0) {
      if (this.whenFull === 'reject') {
        throw new SluiceError(
          ErrorCodes.QUEUE_FULL,
          `background queue ${this.name} is full (${this.capacity} tasks)`,
        );
      }
      await this.waitForRoom();
      this.reserved--;
    }
    this.pending.push(task);
    this.pump();
  }

  /**
   * Stops accepting tasks, runs what is queued and resolves when all finished. After `deadlineMs`,
   * running tasks' signals abort, queued ones are dropped (and logged), and the drain resolves.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new SluiceError(ErrorCodes.CLOSED, `background queue ${this.name} is draining`));
    }
    if (this.running === 0 && this.pending.length === 0) return;
    const finished = new Promise<void>((resolve) => this.idle.push(resolve));
    const inTime = await withDeadline(finished, deadlineMs);
    if (!inTime) {
      const dropped = this.pending.splice(0).length;
      this.abort.abort(new SluiceError(ErrorCodes.DEADLINE_EXCEEDED, 'drain deadline passed'));
      this.logger.warn(
        { queue: this.name, dropped, running: this.running },
        'background queue drain deadline passed',
      );
    }
  }

  private waitForRoom(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(
          new SluiceError(
            ErrorCodes.DEADLINE_EXCEEDED,
            `no room in background queue ${this.name} within ${this.maxWaitMs} ms`,
          ),
        );
      }, this.maxWaitMs);
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private pump(): void {
    while (this.running < this.concurrency && this.pending.length > 0) {
      const task = this.pending.shift() as BackgroundTask;
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        this.reserved++;
        waiter.resolve();
      }
      this.running++;
      void this.execute(task);
    }
  }

  private async execute(task: BackgroundTask): Promise<void> {
    try {
      await task(this.abort.signal);
    } catch (error) {
      this.failures++;
      this.logger.error({ queue: this.name, err: toError(error) }, 'background task failed');
    } finally {
      this.running--;
      this.pump();
      if (this.running === 0 && this.pending.length === 0) {
        for (const resolve of this.idle.splice(0)) resolve();
      }
    }
  }
}
