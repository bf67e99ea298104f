/**
 * The ack tracker's bookkeeping behind a stuck delivery: with delivery 1 never settled, 199,999 later
 * acks are each sent once (alone, since a `multiple` ack would cover the stuck one) while the tracker
 * holds a single range, not one entry per tag; settling the stuck one sends one `multiple` ack.
 */
import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckTracker, type AckSender } from '../src/ack-tracker.js';

/** Records what the tracker sends, as a channel would receive it. */
class RecordingSender implements AckSender {
  readonly acks: { tag: number; allUpTo: boolean }[] = [];
  readonly nacks: number[] = [];
  ack(message: Message, allUpTo = false): void {
    this.acks.push({ tag: message.fields.deliveryTag, allUpTo });
  }
  nack(message: Message): void {
    this.nacks.push(message.fields.deliveryTag);
  }
}

function delivery(tag: number): Message {
  return { fields: { deliveryTag: tag } } as Message;
}

describe('AckTracker', () => {
  it('holds ranges, not tags, behind a stuck delivery', () => {
    const sender = new RecordingSender();
    const tracker = new AckTracker(sender, true, () => new Error('gone'));
    let largest = 0;
    for (let tag = 2; tag <= 200_000; tag += 100) {
      for (let t = tag; t < tag + 100 && t <= 200_000; t++) void tracker.ack(delivery(t));
      tracker.flush();
      largest = Math.max(largest, tracker.size);
    }
    expect(largest).toBe(1);
    expect(sender.acks).toHaveLength(199_999);
    expect(sender.acks.every((a) => !a.allUpTo)).toBe(true);
    expect(sender.acks.some((a) => a.tag === 1)).toBe(false);

    void tracker.ack(delivery(1));
    tracker.flush();
    expect(sender.acks.at(-1)).toEqual({ tag: 1, allUpTo: true });
    expect(tracker.size).toBe(0);
    void tracker.ack(delivery(200_001));
    tracker.flush();
    expect(sender.acks.at(-1)).toEqual({ tag: 200_001, allUpTo: true });
  });

  it('joins ranges settled in any order and never acks past an unsettled tag', () => {
    const sender = new RecordingSender();
    const tracker = new AckTracker(sender, true, () => new Error('gone'));
    const order = [9, 3, 7, 5, 4, 8, 6, 10, 2];
    for (const tag of order) {
      void tracker.ack(delivery(tag));
      tracker.flush();
    }
    expect(tracker.size).toBe(1);
    tracker.nack(delivery(11), true);
    expect(tracker.size).toBe(1);
    void tracker.ack(delivery(1));
    tracker.flush();
    expect(tracker.size).toBe(0);
    expect(sender.acks.at(-1)).toEqual({ tag: 1, allUpTo: true });
    expect(sender.acks.filter((a) => a.allUpTo)).toHaveLength(1);
    expect(sender.nacks).toEqual([11]);
  });
});
