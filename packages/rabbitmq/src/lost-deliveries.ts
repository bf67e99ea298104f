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

function keyOf(raw: Message): string {
  const id: unknown = raw.properties?.messageId;
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  // Without an id the same bytes on the same routing key are taken for the same message.
  return `sha1:${createHash('sha1').update(raw.fields.routingKey).update('\u0000').update(raw.content).digest('base64')}`;
}

export class LostDeliveries {
  private readonly counts = new Map<string, number>();

  /** Losses seen of `raw`'s message. */
  count(raw: Message): number {
    return this.counts.get(keyOf(raw)) ?? 0;
  }

  /** `raw` was lost unsettled with its channel. */
  record(raw: Message): void {
    const key = keyOf(raw);
    const seen = this.counts.get(key) ?? 0;
    this.counts.delete(key);
    this.counts.set(key, seen + 1);
    if (this.counts.size > capacity) this.counts.delete(this.counts.keys().next().value as string);
  }

  /** `raw` was settled: nothing more to count. */
  forget(raw: Message): void {
    if (this.counts.size > 0) this.counts.delete(keyOf(raw));
  }
}
