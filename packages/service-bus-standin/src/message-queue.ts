import type { Message } from 'rhea';
import { copyMessage } from './amqp-codec.js';
import { BrokerError, lockLostError, messageNotFoundError } from './broker-error.js';
import { newLockToken } from './lock-token.js';
import { ReadyHeap } from './ready-heap.js';
import { TimerSet } from './timers.js';

/** How a receiver takes messages: locked until settled, or removed as they are sent. */
export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

/** The entity settings a queue applies, read afresh each time (an update takes effect at once). */
export interface QueueBehaviour {
  readonly lockDurationMs: number;
  /** Failed deliveries (abandon, lock expiry) after which a message is dead-lettered. */
  readonly maxDeliveryCount: number;
  /** Time to live of messages that carry none (or a longer one). */
  readonly defaultTtlMs: number;
  readonly deadLetteringOnMessageExpiration: boolean;
}

/** `x-opt-message-state`: 0 active, 1 deferred, 2 scheduled. */
export type MessageState = 'active' | 'deferred' | 'scheduled';

/** A peek-lock: the token the receiver settles with, valid until `lockedUntil` (epoch ms). */
export interface Lock {
  readonly token: string;
  lockedUntil: number;
}

/** A message held by a queue, a subscription or one of their dead-letter sub-queues. */
export interface StoredMessage {
  readonly sequenceNumber: number;
  /** Epoch ms it became available (for a scheduled message: when it is due). */
  enqueuedAt: number;
  /** The message as sent, with the broker-assigned id and any properties settlement added. */
  message: Message;
  /** Failed deliveries so far (the AMQP header's `delivery_count`; 0 on the first delivery). */
  deliveryCount: number;
  state: MessageState;
  /** Epoch ms after which it expires (`Infinity`: never). */
  expiresAt: number;
  /** Encoded size in bytes. */
  readonly size: number;
  lock: Lock | undefined;
}

/** A receiver attached to a queue (a link with credit). */
export interface Consumer {
  readonly receiveMode: ReceiveMode;
  /** How many more messages it can take now. */
  credit(): number;
  /** Sends `stored` (with its lock in peek-lock mode). Called only while `credit()` is positive. */
  deliver(stored: StoredMessage, lock: Lock | undefined): void;
  /** The queue went away (its entity was deleted or the stand-in closed). */
  close(error: BrokerError): void;
}

/** Message counts of one queue, as runtime properties report them. */
export interface QueueCounts {
  /** Active messages, locked or not, and deferred ones. */
  readonly active: number;
  readonly scheduled: number;
  readonly sizeInBytes: number;
}

/** Sub-queue messages never expire and are never dead-lettered again. */
const deadLetterBehaviour: QueueBehaviour = {
  lockDurationMs: 60_000,
  maxDeliveryCount: Number.POSITIVE_INFINITY,
  defaultTtlMs: Number.POSITIVE_INFINITY,
  deadLetteringOnMessageExpiration: false,
};

/** setTimeout's horizon: a message that lives longer is expired when it is next looked at. */
const timedExpiryHorizonMs = 2 ** 31 - 1;

/**
 * The messages of one queue or subscription (or of a `$DeadLetterQueue`): sequence numbers, peek-lock
 * with lock expiry and renewal, the four settlements, delivery counting and MaxDeliveryCount
 * dead-lettering, deferral, scheduling and time-to-live. Messages go to attached consumers in sequence
 * order (a returned message goes ahead of younger ones), round-robin across consumers, never beyond a
 * consumer's credit. Every operation completes synchronously; a settlement that names an unknown or
 * expired lock throws the lock-lost `BrokerError`.
 */
export class MessageQueue {
  /** Every message, in sequence order. */
  private readonly messages = new Map<number, StoredMessage>();
  private readonly ready = new ReadyHeap<StoredMessage>();
  private readonly locks = new Map<string, StoredMessage>();
  private readonly consumers = new Set<Consumer>();
  private readonly lockTimers = new TimerSet<string>();
  private readonly expiryTimers = new TimerSet<number>();
  private readonly dueTimers = new TimerSet<number>();
  private nextSequenceNumber = 1;
  private pumping = false;

  /**
   * @param path the entity path, for error messages
   * @param behaviour the live settings (dead-letter sub-queues pass none: no expiry, no redelivery limit)
   * @param deadLetterQueue where dead-lettered messages go (`undefined` for a sub-queue itself)
   */
  constructor(
    readonly path: string,
    private readonly behaviour: () => QueueBehaviour = () => deadLetterBehaviour,
    readonly deadLetterQueue?: MessageQueue,
  ) {}

  /** Adds a message as it was sent; it is available at once. */
  enqueue(message: Message, size: number): StoredMessage {
    const stored = this.store(message, size, 'active', Date.now());
    this.makeAvailable(stored);
    return stored;
  }

  /** Puts a message straight into the dead-letter sub-queue with `properties` (reason, description). */
  enqueueDeadLetter(message: Message, size: number, properties: Record<string, unknown>): void {
    this.deadLetterQueue?.enqueue(withProperties(message, properties), size);
  }

  /** Adds a message that becomes available at `dueAt` (epoch ms); its sequence number. */
  schedule(message: Message, size: number, dueAt: number): number {
    const stored = this.store(message, size, 'scheduled', dueAt);
    this.dueTimers.set(stored.sequenceNumber, dueAt, () => {
      stored.state = 'active';
      stored.enqueuedAt = Date.now();
      stored.expiresAt = this.expiryOf(message, stored.enqueuedAt);
      this.makeAvailable(stored);
    });
    return stored.sequenceNumber;
  }

  /** Removes a scheduled message before it is due; throws the not-found `BrokerError` otherwise. */
  cancelScheduled(sequenceNumber: number): void {
    const stored = this.messages.get(sequenceNumber);
    if (stored?.state !== 'scheduled') {
      throw messageNotFoundError(
        `No scheduled message with sequence number ${sequenceNumber} in '${this.path}'.`,
      );
    }
    this.dueTimers.cancel(sequenceNumber);
    this.messages.delete(sequenceNumber);
  }

  /** Starts handing messages to `consumer` as its credit allows. */
  addConsumer(consumer: Consumer): void {
    this.consumers.add(consumer);
    this.pump();
  }

  /** Stops handing messages to `consumer`; the locks it holds run out as usual. */
  removeConsumer(consumer: Consumer): void {
    this.consumers.delete(consumer);
  }

  /** Hands available messages to consumers with credit; call it when a consumer's credit grows. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let delivered = true;
      while (delivered && this.ready.size > 0) {
        delivered = false;
        for (const consumer of this.consumers) {
          if (consumer.credit() <= 0) continue;
          const stored = this.takeReady();
          if (stored === undefined) return;
          this.hand(stored, consumer);
          delivered = true;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Complete: the message is removed. */
  complete(lockToken: string): void {
    this.remove(this.unlock(lockToken));
  }

  /** Abandon: the lock is released, `properties` merged, the delivery counted (maybe dead-lettered). */
  abandon(lockToken: string, properties?: Record<string, unknown>): void {
    const stored = this.unlock(lockToken);
    if (properties !== undefined) stored.message = withProperties(stored.message, properties);
    this.countFailedDelivery(stored);
  }

  /** Defer: the message leaves the queue's flow and waits to be received by its sequence number. */
  defer(lockToken: string, properties?: Record<string, unknown>): void {
    const stored = this.unlock(lockToken);
    if (properties !== undefined) stored.message = withProperties(stored.message, properties);
    stored.state = 'deferred';
  }

  /** Dead-letter: the message moves to the dead-letter sub-queue with the reason and description. */
  deadLetter(
    lockToken: string,
    reason?: string,
    description?: string,
    properties?: Record<string, unknown>,
  ): void {
    if (this.deadLetterQueue === undefined) {
      throw new BrokerError(
        'amqp:not-allowed',
        'A dead-lettered message cannot be dead-lettered again.',
        400,
      );
    }
    this.moveToDeadLetter(this.unlock(lockToken), reason, description, properties);
  }

  /** Extends a lock by the entity's lock duration; the new locked-until instant (epoch ms). */
  renewLock(lockToken: string): number {
    const stored = this.lockedMessage(lockToken);
    const lock = stored.lock!;
    lock.lockedUntil = Date.now() + this.behaviour().lockDurationMs;
    this.lockTimers.set(lock.token, lock.lockedUntil, () => this.onLockExpired(lock.token));
    return lock.lockedUntil;
  }

  /** Ends every lock now, as if each had run out (a fault hook); how many there were. */
  expireLocks(): number {
    const tokens = [...this.locks.keys()];
    for (const token of tokens) this.onLockExpired(token);
    return tokens.length;
  }

  /** Up to `count` messages from `fromSequenceNumber` on (active, deferred and scheduled), unlocked. */
  peek(fromSequenceNumber: number, count: number): StoredMessage[] {
    const found: StoredMessage[] = [];
    for (const stored of [...this.messages.values()]) {
      if (found.length >= count) break;
      if (stored.sequenceNumber < fromSequenceNumber || this.expireIfDue(stored)) continue;
      found.push(stored);
    }
    return found;
  }

  /**
   * Deferred messages by sequence number, locked (peek-lock) or removed (receive-and-delete). Throws
   * the not-found `BrokerError` when one of them is not deferred here, taking none.
   */
  receiveDeferred(
    sequenceNumbers: readonly number[],
    mode: ReceiveMode,
  ): { stored: StoredMessage; lock?: Lock }[] {
    const found = sequenceNumbers.map((sequenceNumber) => {
      const stored = this.messages.get(sequenceNumber);
      if (stored?.state !== 'deferred') {
        throw messageNotFoundError(
          `No deferred message with sequence number ${sequenceNumber} in '${this.path}'.`,
        );
      }
      return stored;
    });
    return found.map((stored) => {
      if (mode === 'receiveAndDelete') {
        this.remove(stored);
        return { stored };
      }
      if (stored.lock !== undefined) this.releaseLock(stored);
      return { stored, lock: this.lock(stored) };
    });
  }

  /** Counts for runtime properties (expired messages are dropped first). */
  counts(): QueueCounts {
    let active = 0;
    let scheduled = 0;
    let sizeInBytes = 0;
    for (const stored of [...this.messages.values()]) {
      if (this.expireIfDue(stored)) continue;
      if (stored.state === 'scheduled') scheduled += 1;
      else active += 1;
      sizeInBytes += stored.size;
    }
    return { active, scheduled, sizeInBytes };
  }

  /** Drops every message and timer and detaches every consumer with `error` (entity deleted). */
  close(error: BrokerError): void {
    this.lockTimers.clear();
    this.expiryTimers.clear();
    this.dueTimers.clear();
    this.messages.clear();
    this.locks.clear();
    for (const consumer of [...this.consumers]) consumer.close(error);
    this.consumers.clear();
    this.deadLetterQueue?.close(error);
  }

  private store(message: Message, size: number, state: MessageState, enqueuedAt: number): StoredMessage {
    const stored: StoredMessage = {
      sequenceNumber: this.nextSequenceNumber++,
      enqueuedAt,
      message,
      deliveryCount: 0,
      state,
      expiresAt: state === 'scheduled' ? Number.POSITIVE_INFINITY : this.expiryOf(message, enqueuedAt),
      size,
      lock: undefined,
    };
    this.messages.set(stored.sequenceNumber, stored);
    return stored;
  }

  private expiryOf(message: Message, enqueuedAt: number): number {
    // A dead-letter sub-queue keeps its messages whatever their time to live, as Service Bus does.
    if (this.deadLetterQueue === undefined) return Number.POSITIVE_INFINITY;
    const ttl = Math.min(message.ttl ?? Number.POSITIVE_INFINITY, this.behaviour().defaultTtlMs);
    return enqueuedAt + ttl;
  }

  private makeAvailable(stored: StoredMessage): void {
    if (stored.expiresAt - Date.now() < timedExpiryHorizonMs) {
      this.expiryTimers.set(stored.sequenceNumber, stored.expiresAt, () => this.expireIfDue(stored));
    }
    this.ready.push(stored);
    this.pump();
  }

  private takeReady(): StoredMessage | undefined {
    for (;;) {
      const stored = this.ready.pop();
      if (stored === undefined) return undefined;
      const current = this.messages.get(stored.sequenceNumber) === stored;
      if (current && stored.state === 'active' && stored.lock === undefined && !this.expireIfDue(stored)) {
        return stored;
      }
    }
  }

  private hand(stored: StoredMessage, consumer: Consumer): void {
    if (consumer.receiveMode === 'receiveAndDelete') {
      this.remove(stored);
      consumer.deliver(stored, undefined);
    } else {
      consumer.deliver(stored, this.lock(stored));
    }
  }

  private lock(stored: StoredMessage): Lock {
    const lock: Lock = { token: newLockToken(), lockedUntil: Date.now() + this.behaviour().lockDurationMs };
    stored.lock = lock;
    this.locks.set(lock.token, stored);
    this.lockTimers.set(lock.token, lock.lockedUntil, () => this.onLockExpired(lock.token));
    return lock;
  }

  private lockedMessage(lockToken: string): StoredMessage {
    const stored = this.locks.get(lockToken);
    if (stored === undefined) throw lockLostError();
    if (stored.lock!.lockedUntil <= Date.now()) {
      this.onLockExpired(lockToken);
      throw lockLostError();
    }
    return stored;
  }

  private unlock(lockToken: string): StoredMessage {
    const stored = this.lockedMessage(lockToken);
    this.releaseLock(stored);
    return stored;
  }

  private releaseLock(stored: StoredMessage): void {
    const token = stored.lock!.token;
    this.lockTimers.cancel(token);
    this.locks.delete(token);
    stored.lock = undefined;
  }

  private onLockExpired(lockToken: string): void {
    const stored = this.locks.get(lockToken);
    if (stored === undefined) return;
    this.releaseLock(stored);
    this.countFailedDelivery(stored);
  }

  private countFailedDelivery(stored: StoredMessage): void {
    stored.deliveryCount += 1;
    const { maxDeliveryCount } = this.behaviour();
    if (stored.deliveryCount >= maxDeliveryCount && this.deadLetterQueue !== undefined) {
      this.moveToDeadLetter(
        stored,
        'MaxDeliveryCountExceeded',
        `Message could not be consumed after ${maxDeliveryCount} delivery attempts.`,
      );
    } else if (!this.expireIfDue(stored) && stored.state === 'active') {
      this.ready.push(stored);
      this.pump();
    }
  }

  /** Expires `stored` when its time has come and it is not locked; whether it did. */
  private expireIfDue(stored: StoredMessage): boolean {
    if (stored.lock !== undefined || stored.expiresAt > Date.now()) return false;
    if (!this.messages.has(stored.sequenceNumber)) return true;
    if (this.behaviour().deadLetteringOnMessageExpiration && this.deadLetterQueue !== undefined) {
      this.moveToDeadLetter(stored, 'TTLExpiredException', 'The message expired and was dead lettered.');
    } else {
      this.remove(stored);
    }
    return true;
  }

  private moveToDeadLetter(
    stored: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    properties: Record<string, unknown> = {},
  ): void {
    this.remove(stored);
    const added: Record<string, unknown> = { ...properties };
    if (reason !== undefined) added.DeadLetterReason = reason;
    if (description !== undefined) added.DeadLetterErrorDescription = description;
    const dead = this.deadLetterQueue!.enqueue(withProperties(stored.message, added), stored.size);
    dead.deliveryCount = stored.deliveryCount;
  }

  private remove(stored: StoredMessage): void {
    this.messages.delete(stored.sequenceNumber);
    this.expiryTimers.cancel(stored.sequenceNumber);
    this.dueTimers.cancel(stored.sequenceNumber);
  }
}

/**
 * `message` with `properties` merged into its application properties: undefined values skipped, a
 * null written as null (the property stays, without a value, as Service Bus keeps it).
 */
function withProperties(message: Message, properties: Record<string, unknown>): Message {
  const merged: Record<string, unknown> = { ...message.application_properties };
  for (const [name, value] of Object.entries(properties)) {
    if (value !== undefined) merged[name] = value;
  }
  return copyMessage(message, { application_properties: merged });
}
