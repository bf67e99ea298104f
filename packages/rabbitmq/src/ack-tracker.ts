/**
 * Sends the acknowledgements of one consumer channel. Coalescing (the default): acks of one event-loop
 * turn go out together, as a single `basic.ack` with `multiple` up to the highest delivery tag below
 * which everything is settled, plus a single ack for each settled tag above a gap (a delivery whose
 * handler is still running). A `multiple` ack only ever covers deliveries that were settled, so every
 * message is still acknowledged after, and only after, its own settlement.
 * https://www.rabbitmq.com/docs/confirms#consumer-acks-multiple-parameter
 */
import type { Message } from 'amqplib';

/** What the tracker sends acknowledgements through (an amqplib `Channel`). */
export interface AckSender {
  ack(message: Message, allUpTo?: boolean): void;
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): void;
}

/** Delivery tags `start` to `end`, inclusive. */
interface Range {
  start: number;
  end: number;
}

export class AckTracker {
  /** Every delivery tag up to here is settled and its ack or nack sent. */
  private floor = 0;
  /** Settled by ack, not sent yet (at most the unsettled deliveries: the prefetch). */
  private readonly acked = new Map<number, Message>();
  /**
   * Above the floor and already sent (a nack, or an ack sent alone because of a gap below it), as
   * sorted disjoint ranges: behind one stuck delivery every later tag joins one range, so this holds
   * at most one range per unsettled delivery, never one entry per tag.
   */
  private readonly sent: Range[] = [];
  private flushing: { promise: Promise<void>; resolve(): void; reject(error: unknown): void } | undefined;

  /**
   * @param failure the error a settlement rejects with when its ack could not be sent (channel gone).
   */
  constructor(
    private readonly channel: AckSender,
    private readonly coalesce: boolean,
    private readonly failure: () => Error,
  ) {}

  /** Entries held: pending acks plus ranges of tags sent above the floor. Bounded by the prefetch. */
  get size(): number {
    return this.acked.size + this.sent.length;
  }
  /** Acknowledges `message`; resolves once the ack was written to the connection. */
  ack(message: Message): Promise<void> {
    if (!this.coalesce) {
      try {
        this.channel.ack(message, false);
      } catch {
        return Promise.reject(this.failure());
      }
      return Promise.resolve();
    }
    this.acked.set(message.fields.deliveryTag, message);
    if (this.flushing === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.flushing = { promise, resolve, reject };
      setImmediate(() => {
        try {
          this.flush();
        } catch {
          // the channel is gone; the broker redelivers what was not acknowledged
        }
      });
    }
    return this.flushing.promise;
  }

  /** Rejects `message` at once (`requeue`: back to its queue, else dead-lettered or dropped). */
  nack(message: Message, requeue: boolean): void {
    this.channel.nack(message, false, requeue);
    if (this.coalesce) this.markSent(message.fields.deliveryTag);
  }

  /** Sends every pending ack now. Throws when the channel is closed. */
  flush(): void {
    const waiting = this.flushing;
    this.flushing = undefined;
    try {
      this.sendPending();
      waiting?.resolve();
    } catch {
      const error = this.failure();
      waiting?.reject(error);
      if (waiting === undefined) throw error;
    }
  }

  private sendPending(): void {
    if (this.acked.size === 0) return;
    let next = this.floor + 1;
    let highest: Message | undefined;
    for (;;) {
      const message = this.acked.get(next);
      if (message !== undefined) {
        this.acked.delete(next);
        highest = message;
        next++;
      } else if (this.sent.length > 0 && (this.sent[0] as Range).start === next) {
        next = (this.sent.shift() as Range).end + 1;
      } else break;
    }
    this.floor = next - 1;
    if (highest !== undefined) this.channel.ack(highest, true);
    if (this.acked.size === 0) return;
    for (const [tag, message] of this.acked) {
      this.channel.ack(message, false);
      this.markSent(tag);
    }
    this.acked.clear();
  }

  /** Adds `tag` to the sent ranges, joining its neighbours. */
  private markSent(tag: number): void {
    const { sent } = this;
    let low = 0;
    let high = sent.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((sent[middle] as Range).start <= tag) low = middle + 1;
      else high = middle;
    }
    const before = sent[low - 1];
    const after = sent[low];
    if (before !== undefined && before.end >= tag) return;
    const joinsBefore = before !== undefined && before.end === tag - 1;
    const joinsAfter = after !== undefined && after.start === tag + 1;
    if (joinsBefore && joinsAfter) {
      before.end = after.end;
      sent.splice(low, 1);
    } else if (joinsBefore) before.end = tag;
    else if (joinsAfter) after.start = tag;
    else sent.splice(low, 0, { start: tag, end: tag });
  }
}
