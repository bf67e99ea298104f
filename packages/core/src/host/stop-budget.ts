/**
 * The time budget of `ConsumerHost.stop()`: one deadline for the whole stop (`stopTimeoutMs`) and,
 * inside it, the drain deadline of in-flight handlers (`drainTimeoutMs`). Every phase of the stop
 * waits only until its own end, so the stop as a whole never overruns, whatever a handler, a worker,
 * a broker or a hook does:
 *
 * ```text
 * 0 ─ handlers finish; workers, background queues ─ drainTimeoutMs ─ signals abort, +1 s grace ─┐
 *     (all of this ends by stopTimeoutMs − 1 s)                                                   │
 *   ┌────────────────────────────────────────────────────────────────────────────────────────────┘
 *   └─ transport.close(signal): the signal aborts at stopTimeoutMs (− 1 s when there are shutdown
 *      hooks), then the HTTP port and the shutdown hooks, until stopTimeoutMs
 * ```
 */

/** Default drain deadline of in-flight handlers. */
const defaultDrainTimeoutMs = 20_000;
/** Default time the stop takes beyond the drain deadline (abort grace, closing, hooks). */
const defaultClosingMs = 5_000;
/** Grace after the drain deadline for handlers that honour their aborted signal. */
const abortGraceMs = 1_000;
/** Closing the transport, the HTTP port and the hooks always get at least this much. */
const closingFloorMs = 1_000;
/** The end of the budget kept for shutdown hooks (telemetry flush) when there are any. */
const hooksShareMs = 1_000;

/** The least `stopTimeoutMs` may exceed `drainTimeoutMs` by: the abort grace and the closing floor. */
export const minClosingMs = abortGraceMs + closingFloorMs;

/**
 * The two deadlines after defaults: neither given, 20 s and 25 s (so a stop fits Kubernetes' default
 * 30 s termination grace with 5 s to spare); only `drainTimeoutMs`, the stop takes 5 s more; only
 * `stopTimeoutMs`, the drain ends 5 s before it (at most 20 s).
 */
export function resolveStopTimeouts(
  drainTimeoutMs: number | undefined,
  stopTimeoutMs: number | undefined,
): { readonly drainTimeoutMs: number; readonly stopTimeoutMs: number } {
  if (stopTimeoutMs === undefined) {
    const drain = drainTimeoutMs ?? defaultDrainTimeoutMs;
    return { drainTimeoutMs: drain, stopTimeoutMs: drain + defaultClosingMs };
  }
  return {
    drainTimeoutMs:
      drainTimeoutMs ?? Math.max(0, Math.min(defaultDrainTimeoutMs, stopTimeoutMs - defaultClosingMs)),
    stopTimeoutMs,
  };
}

/** The phase ends of one stop, measured from when it began. */
export class StopBudget {
  private readonly started = performance.now();

  constructor(
    private readonly drainTimeoutMs: number,
    private readonly stopTimeoutMs: number,
  ) {}

  private left(end: number): number {
    return Math.max(0, end - (performance.now() - this.started));
  }

  /** Until the drain deadline: handlers finish, then workers and background queues get the rest. */
  get untilDrainEnd(): number {
    return Math.min(this.left(this.drainTimeoutMs), this.untilWorkEnd);
  }

  /** After the drain deadline: how long handlers get to honour their aborted signal. */
  get abortGrace(): number {
    return Math.min(abortGraceMs, this.untilWorkEnd);
  }

  /** For stopping workers (whose signal aborts at once): the drain's rest, at least the abort grace. */
  get forWorkers(): number {
    return Math.min(Math.max(this.left(this.drainTimeoutMs), abortGraceMs), this.untilWorkEnd);
  }

  /** Until the end of everything but closing. */
  private get untilWorkEnd(): number {
    return this.left(this.stopTimeoutMs - closingFloorMs);
  }

  /** How long the transport's close may take before its signal aborts. */
  forTransportClose(hooks: boolean): number {
    const left = this.left(this.stopTimeoutMs);
    return hooks ? left - Math.min(hooksShareMs, left / 2) : left;
  }

  /** Until the stop deadline. */
  get untilStopEnd(): number {
    return this.left(this.stopTimeoutMs);
  }
}
