import type { Message } from 'rhea';

/**
 * Service Bus duplicate detection: within the history window, a message whose `message_id` was
 * already taken is accepted by the link but not enqueued. Ids are remembered in arrival order, so
 * forgetting the expired ones is done from the oldest on.
 */
export class DuplicateDetector {
  private readonly seen = new Map<string, number>();

  /** @param windowMs how long an id is remembered, read afresh on each call */
  constructor(private readonly windowMs: () => number) {}

  /** Whether `message` repeats an id taken within the window; remembers it when it does not. */
  isDuplicate(message: Message, now = Date.now()): boolean {
    for (const [id, at] of this.seen) {
      if (at + this.windowMs() > now) break;
      this.seen.delete(id);
    }
    const id = String(message.message_id);
    if (this.seen.has(id)) return true;
    this.seen.set(id, now);
    return false;
  }
}
