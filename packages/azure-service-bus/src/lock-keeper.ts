/**
 * Keeps one delivery's peek-lock: renews it (`renew-lock` through the SDK) when half of what is left
 * of it has passed, for at most `maxRenewalMs` from the delivery's arrival, and aborts `signal` with
 * `SLUICE_LOCK_LOST` when the lock is gone: Service Bus said so, or its locked-until time passed
 * without a renewal (renewal off, past its maximum, or every renewal failing).
 */
import { ErrorCodes, SluiceError } from '@sluice/core';

/** The lock's end as the broker last said (epoch ms), and how to ask for a new one. */
export interface RenewableLock {
  lockedUntil(): number;
  renew(): Promise<number>;
}

/** Renewing sooner than this before the end is pointless; renewals closer together than this are wasteful. */
const minRenewalLeadMs = 50;

export class LockKeeper {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly renewUntil: number;

  /**
   * @param isLockLost true for the SDK's error of a lock that is gone (`MessageLockLost`)
   * @param onRenewalFailed told about a renewal that failed for another reason (it is tried again)
   */
  constructor(
    private readonly lock: RenewableLock,
    maxRenewalMs: number,
    private readonly describe: string,
    private readonly isLockLost: (error: unknown) => boolean,
    private readonly onRenewalFailed: (error: unknown) => void,
  ) {
    this.renewUntil = Date.now() + maxRenewalMs;
    this.schedule();
  }

  /** Aborts (reason: `SluiceError` `SLUICE_LOCK_LOST`) when the lock is lost. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops renewing (the delivery was settled or handed back). Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = Date.now();
    const end = this.lock.lockedUntil();
    const left = end - now;
    if (left <= 0) return this.lose(`its lock ran out at ${new Date(end).toISOString()}`);
    const renewAt = now + left / 2;
    const at = renewAt <= this.renewUntil && left > minRenewalLeadMs ? renewAt : end;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, at - now));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    if (now >= this.lock.lockedUntil())
      return this.lose(`its lock ran out (renewed until ${new Date(this.renewUntil).toISOString()} at most)`);
    if (now > this.renewUntil) return this.schedule();
    try {
      await this.lock.renew();
    } catch (error) {
      if (this.isLockLost(error)) return this.lose('Service Bus reports its lock lost');
      this.onRenewalFailed(error);
    }
    this.schedule();
  }

  private lose(why: string): void {
    if (this.stopped) return;
    this.stop();
    this.controller.abort(
      new SluiceError(ErrorCodes.LOCK_LOST, `${this.describe}: ${why}; Service Bus redelivers it`),
    );
  }
}
