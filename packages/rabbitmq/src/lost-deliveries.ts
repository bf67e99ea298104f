/**
 * How often each message of one queue was lost unsettled with its channel (connection loss, a channel
 * the broker closed, a consumer cancelled). Classic queues only flag a redelivery; this count gives
 * them an attempt bound like quorum queues' `x-delivery-count`. Bounded: the oldest entries are
 * forgotten first, and a message is forgotten once settled.
 */
import { createHash } from 'node:crypto';
import type { Message } from 'amqplib';

/** Messages remembered at once per queue. */
const capacity = 10_000;

/**
 * A message by its id, routing key and bytes: ids are not always unique (a foreign publisher may set
 * none, or an entity's id), and messages alike in all three are taken for one.
 */
function keyOf(raw: Message): string {
  const id: unknown = raw.properties?.messageId;
  return createHash('sha1')
    .update(typeof id === 'string' ? id : '')
    .update('\u0000')
    .update(raw.fields.routingKey)
    .update('\u0000')
    .update(raw.content)
    .digest('base64');
}

export class LostDeliveries {
  private readonly counts = new Map<string, number>();

  /** Losses seen of `raw`'s message. */
  count(raw: Message): number {
    return this.counts.get(keyOf(raw)) ?? 0;
  }

  /**
   * `lost` went unsettled with their channel, at once: each message counts one loss, however many
   * deliveries alike in id, routing key and bytes went with it (counted per delivery, five look-alikes
   * lost together read as five losses each, past a redelivery limit of 3 at one drop).
   */
  record(lost: Iterable<Message>): void {
    for (const key of new Set(Array.from(lost, keyOf))) {
      const seen = this.counts.get(key) ?? 0;
      this.counts.delete(key);
      this.counts.set(key, seen + 1);
      if (this.counts.size > capacity) this.counts.delete(this.counts.keys().next().value as string);
    }
  }

  /** `raw` was settled: nothing more to count. */
  forget(raw: Message): void {
    if (this.counts.size > 0) this.counts.delete(keyOf(raw));
  }
}
