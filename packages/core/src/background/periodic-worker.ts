/**
 * Periodic background work (the hosted-service pattern): a class decorated with `@PeriodicWorker` is
 * resolved from the container for every run (scoped dependencies per run), runs on an interval, logs
 * and retries after `errorDelayMs` when a run fails, and stops with the host.
 */
import type { Container, Newable } from 'inversify';
import {
  decoratorModeOf,
  prepareConstructorInjection,
  type InjectionRecord,
} from '../constructor-injection.js';
import type { ClassDecoratorOf } from '../decorators.js';
import { ErrorCodes, SluiceError, toError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sleep } from '../timers.js';
import { OptionChecker } from '../option-checker.js';
import type { InjectOption } from '../types.js';

/** Longest delay a Node.js timer takes. */
const maxTimerMs = 2 ** 31 - 1;

export interface PeriodicWorkerOptions extends InjectOption {
  /** Name in logs. Default: the class name. */
  readonly name?: string;
  /** Time from the end of one run to the start of the next. */
  readonly intervalMs: number;
  /** Wait after a failed run. Default: `intervalMs`. */
  readonly errorDelayMs?: number;
  /** Run once at start rather than after the first interval. Default true. */
  readonly runAtStart?: boolean;
}

/** A periodic job. `signal` aborts when the host stops; a run should then end soon. */
export interface PeriodicTask {
  run(signal: AbortSignal): unknown;
}

export type PeriodicTaskClass = abstract new (...args: never[]) => PeriodicTask;

const registry = new WeakMap<object, { options: PeriodicWorkerOptions; injection: InjectionRecord }>();

/**
 * Marks a class as a periodic worker; list it in the host's `workers`. A standard decorator and an
 * `experimentalDecorators` one alike.
 */
export function PeriodicWorker(options: PeriodicWorkerOptions): ClassDecoratorOf<PeriodicTaskClass> {
  return (target, context) => {
    registry.set(target, { options, injection: { mode: decoratorModeOf(context), inject: options.inject } });
  };
}

/** Runs one periodic worker class until stopped. */
export class PeriodicWorkerRunner {
  readonly name: string;
  private readonly intervalMs: number;
  private readonly errorDelayMs: number;
  private readonly runAtStart: boolean;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private runs = 0;

  /**
   * Validates the decorator options and the class's constructor injection; throws
   * `SLUICE_INVALID_OPTION` naming the class and option.
   */
  constructor(
    private readonly workerClass: PeriodicTaskClass,
    private readonly container: Container,
    private readonly logger: Logger,
  ) {
    const where = `@PeriodicWorker on ${workerClass.name || 'anonymous class'}`;
    const recorded = registry.get(workerClass);
    if (recorded === undefined) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `${where}: the class has no @PeriodicWorker decorator`,
      );
    }
    const { options } = recorded;
    const check = new OptionChecker(where);
    if (typeof (workerClass.prototype as Partial<PeriodicTask> | undefined)?.run !== 'function') {
      throw new SluiceError(ErrorCodes.INVALID_OPTION, `${where}: the class has no run(signal) method`);
    }
    prepareConstructorInjection(workerClass, recorded.injection, where, container);
    this.name = options.name ?? workerClass.name;
    this.intervalMs = check.int('intervalMs', options.intervalMs, 1, maxTimerMs);
    this.errorDelayMs = check.int('errorDelayMs', options.errorDelayMs ?? this.intervalMs, 1, maxTimerMs);
    this.runAtStart = options.runAtStart ?? true;
  }

  /** Completed runs (successful or not). */
  get runCount(): number {
    return this.runs;
  }

  start(): void {
    this.loop ??= this.runLoop();
  }

  /** Aborts the running job's signal and resolves when it has returned. Idempotent. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private async runLoop(): Promise<void> {
    const { signal } = this.controller;
    if (!this.runAtStart) await sleep(this.intervalMs, signal);
    while (!signal.aborted) {
      let delay = this.intervalMs;
      try {
        const task = this.container.get(this.workerClass as unknown as Newable<PeriodicTask>);
        await task.run(signal);
      } catch (error) {
        delay = this.errorDelayMs;
        this.logger.error(
          { worker: this.name, err: toError(error), retryInMs: delay },
          'periodic worker run failed',
        );
      }
      this.runs++;
      await sleep(delay, signal);
    }
  }
}
