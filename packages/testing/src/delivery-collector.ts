import type { Delivery, DeliveryHandler, Fault } from '@sluice/core';
import { ChangeSignal } from './signal.js';

/**
 * Records deliveries of a subscription and settles each with a chosen action; tests wait for counts
 * with a deadline.
 */
export class DeliveryCollector {
  readonly deliveries: Delivery[] = [];
  private readonly changed: ChangeSignal;
  private unsettledNow = 0;
  private maxUnsettled = 0;

  /**
   * @param settle what to do with each delivery (default: ack at once). Its promise may stay pending
   *   to hold the delivery unsettled.
   * @param changed notified on every delivery and settlement; share one between collectors to wait on
   *   a condition over several of them.
   */
  constructor(
    private readonly settle: (delivery: Delivery) => Promise<void> = (d) => d.ack(),
    changed: ChangeSignal = new ChangeSignal(),
  ) {
    this.changed = changed;
  }

  /** The handler to pass to `transport.subscribe`. */
  readonly handler: DeliveryHandler = async (delivery) => {
    this.deliveries.push(delivery);
    this.unsettledNow++;
    this.maxUnsettled = Math.max(this.maxUnsettled, this.unsettledNow);
    this.changed.notify();
    try {
      await this.settle(this.counted(delivery));
    } catch {
      // a settlement rejected (transport closed): the broker redelivers, which is what tests observe
    } finally {
      this.changed.notify();
    }
  };

  /** The delivery, counting it settled the moment a settlement method is called (as the broker does). */
  private counted(delivery: Delivery): Delivery {
    let settled = false;
    const settling =
      <A extends unknown[]>(settle: (...args: A) => Promise<void>) =>
      (...args: A) => {
        if (!settled) {
          settled = true;
          this.unsettledNow--;
        }
        return settle(...args);
      };
    return {
      message: delivery.message,
      queue: delivery.queue,
      attempt: delivery.attempt,
      signal: delivery.signal,
      ack: settling(() => delivery.ack()),
      retry: settling((delayMs: number) => delivery.retry(delayMs)),
      deadLetter: settling((fault: Fault) => delivery.deadLetter(fault)),
      release: settling(() => delivery.release()),
    };
  }

  /** Most deliveries that were unsettled at the same time. */
  get peakUnsettled(): number {
    return this.maxUnsettled;
  }

  /** Resolves with the deliveries once at least `count` arrived. */
  waitForCount(count: number, timeoutMs: number): Promise<Delivery[]> {
    return this.changed.until(
      () => (this.deliveries.length >= count ? this.deliveries.slice(0, count) : undefined),
      timeoutMs,
      `${count} deliveries (have ${this.deliveries.length})`,
    );
  }

  /** Resolves once `predicate` holds for the recorded deliveries. */
  waitFor(
    predicate: (deliveries: readonly Delivery[]) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void> {
    return this.changed
      .until(() => (predicate(this.deliveries) ? true : undefined), timeoutMs, what)
      .then(() => undefined);
  }
}
