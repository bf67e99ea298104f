/**
 * A broker in process memory: queues, topic bindings with filters, fan-out, prefetch-bounded
 * round-robin delivery, delayed redelivery, scheduled messages, TTL, max length and a dead-letter queue
 * per queue. Several `InMemoryTransport`s can share one broker, like clients of one server. Nothing
 * survives the process.
 */
import { ErrorCodes, SluiceError } from '../errors.js';
import { faultHeaders, withoutFaultHeaders } from '../headers.js';
import { matchesFilter, type MessageFilter } from '../message-filter.js';
import { deadLetterQueueName } from '../naming.js';
import type {
  Delivery,
  DeliveryHandler,
  Fault,
  OutgoingMessage,
  QueueOptions,
  TransportMessage,
} from '../transport.js';
import { Deque } from './deque.js';

interface Stored {
  readonly message: TransportMessage;
  readonly attempt: number;
  readonly expiresAt: number | undefined;
  readonly ttlMs: number | undefined;
}

interface QueueState {
  readonly name: string;
  readonly ready: Deque<Stored>;
  readonly consumers: ConsumerSlot[];
  readonly options: QueueOptions;
  next: number;
  dispatchScheduled: boolean;
}

/** One consumer attached to a queue. Owned by a transport. */
export interface ConsumerSlot {
  readonly queue: string;
  readonly prefetch: number;
  readonly unsettled: Set<InMemoryDelivery>;
  paused: boolean;
}

interface Slot extends ConsumerSlot {
  readonly state: QueueState;
  readonly onDelivery: DeliveryHandler;
}

export class InMemoryDelivery implements Delivery {
  settled = false;
  /** Set when the owning transport closed: the message went back to the queue. */
  orphaned = false;

  constructor(
    private readonly broker: InMemoryBroker,
    readonly slot: Slot,
    readonly stored: Stored,
  ) {}

  get message(): TransportMessage {
    return this.stored.message;
  }
  get queue(): string {
    return this.slot.queue;
  }
  get attempt(): number {
    return this.stored.attempt;
  }

  ack(): Promise<void> {
    return this.settle(() => undefined);
  }
  retry(delayMs: number): Promise<void> {
    return this.settle(() => this.broker.redeliverLater(this.slot.state, this.stored, delayMs));
  }
  deadLetter(fault: Fault): Promise<void> {
    return this.settle(() => this.broker.deadLetter(this.slot.state.name, this.stored.message, fault));
  }
  /** Back of the queue, as RabbitMQ does with a released message. */
  release(): Promise<void> {
    return this.settle(() => this.slot.state.ready.push(this.stored));
  }

  private settle(effect: () => void): Promise<void> {
    if (this.orphaned) {
      return Promise.reject(
        new SluiceError(ErrorCodes.CLOSED, 'transport closed; the message was returned to its queue'),
      );
    }
    if (this.settled) return Promise.resolve();
    this.settled = true;
    this.slot.unsettled.delete(this);
    effect();
    this.broker.scheduleDispatch(this.slot.state);
    return Promise.resolve();
  }
}

export class InMemoryBroker {
  private readonly queues = new Map<string, QueueState>();
  private readonly bindings = new Map<string, Map<string, MessageFilter | undefined>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private disposed = false;

  /** Declares `queue` and its dead-letter queue (idempotent; the first declaration's options win). */
  declareQueue(queue: string, options: QueueOptions = {}): void {
    this.ensureQueue(queue, options);
    this.ensureQueue(deadLetterQueueName(queue), {});
  }

  /** Routes messages published to `topic` into `queue` (when they match `filter`). Idempotent. */
  bind(topic: string, queue: string, filter?: MessageFilter): void {
    let bound = this.bindings.get(topic);
    if (bound === undefined) {
      bound = new Map();
      this.bindings.set(topic, bound);
    }
    bound.set(queue, filter);
  }

  /**
   * Routes one message to every bound queue with room. Throws `SLUICE_UNROUTABLE` when no queue is
   * bound, and `SLUICE_QUEUE_FULL` when a queue at its max length refused it (after the others took
   * their copy, as RabbitMQ nacks such a publish). A topic message's `consumerQueue` is declared and
   * bound first when it is not bound yet.
   */
  publish(message: OutgoingMessage): void {
    const { destination } = message;
    if ('topic' in destination && destination.consumerQueue !== undefined) {
      const { queue, options } = destination.consumerQueue;
      if (this.bindings.get(destination.topic)?.has(queue) !== true) {
        this.declareQueue(queue, options);
        this.bind(destination.topic, queue);
      }
    }
    const targets = this.route(message);
    if (targets.length === 0 && (message.mandatory || 'queue' in message.destination)) {
      const where =
        'queue' in message.destination
          ? `queue ${message.destination.queue}`
          : `topic ${message.destination.topic}`;
      throw new SluiceError(
        ErrorCodes.UNROUTABLE,
        `message ${message.messageId} (${message.type}): no queue for ${where}`,
      );
    }
    const full = targets.filter(
      (target) => target.options.maxLength !== undefined && target.ready.length >= target.options.maxLength,
    );
    const copy: TransportMessage = {
      messageId: message.messageId,
      type: message.type,
      contentType: message.contentType,
      correlationId: message.correlationId,
      causationId: message.causationId,
      sentAt: message.sentAt,
      headers: { ...message.headers },
      body: Uint8Array.prototype.slice.call(message.body),
    };
    const enqueueAll = () => {
      for (const target of targets) if (!full.includes(target)) this.enqueue(target, copy, 1, message.ttlMs);
    };
    const delay = message.notBefore === undefined ? 0 : message.notBefore.getTime() - Date.now();
    if (delay > 0) this.later(delay, enqueueAll);
    else enqueueAll();
    const [refusing] = full;
    if (refusing !== undefined) {
      throw new SluiceError(
        ErrorCodes.QUEUE_FULL,
        `queue ${refusing.name} is at its max length ${refusing.options.maxLength}`,
      );
    }
  }

  /** Attaches a consumer; deliveries start at once. */
  addConsumer(queue: string, prefetch: number, onDelivery: DeliveryHandler): ConsumerSlot {
    const state = this.queues.get(queue);
    if (state === undefined) throw new SluiceError(ErrorCodes.UNROUTABLE, `queue ${queue} does not exist`);
    const slot: Slot = {
      queue,
      prefetch,
      unsettled: new Set(),
      paused: false,
      state,
      onDelivery,
    };
    state.consumers.push(slot);
    this.scheduleDispatch(state);
    return slot;
  }

  setPaused(slot: ConsumerSlot, paused: boolean): void {
    slot.paused = paused;
    if (!paused) this.scheduleDispatch((slot as Slot).state);
  }

  /** Stops deliveries to `slot`; its unsettled deliveries stay settleable. */
  cancel(slot: ConsumerSlot): void {
    const { state } = slot as Slot;
    const index = state.consumers.indexOf(slot as Slot);
    if (index >= 0) state.consumers.splice(index, 1);
  }

  /**
   * Cancels `slot` and returns its unsettled deliveries to the head of the queue, counting an attempt
   * (as a broker does when a consumer's connection is lost).
   */
  detach(slot: ConsumerSlot): void {
    this.cancel(slot);
    const { state } = slot as Slot;
    const orphans = [...slot.unsettled];
    slot.unsettled.clear();
    for (let i = orphans.length - 1; i >= 0; i--) {
      const delivery = orphans[i] as InMemoryDelivery;
      delivery.orphaned = true;
      state.ready.unshift({ ...delivery.stored, attempt: delivery.stored.attempt + 1 });
    }
    this.scheduleDispatch(state);
  }

  /** Ready messages in `queue`; 0 for a queue that does not exist. */
  depth(queue: string): number {
    return this.queues.get(queue)?.ready.length ?? 0;
  }

  /** True when `queue` has been declared. */
  hasQueue(queue: string): boolean {
    return this.queues.has(queue);
  }

  /** Cancels every pending timer (delayed and scheduled messages are dropped). */
  dispose(): void {
    this.disposed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  redeliverLater(state: QueueState, stored: Stored, delayMs: number): void {
    const again = () => this.enqueue(state, stored.message, stored.attempt + 1, stored.ttlMs);
    if (delayMs > 0) this.later(delayMs, again);
    else again();
  }

  deadLetter(queue: string, message: TransportMessage, fault: Fault): void {
    const dlq = this.ensureQueue(deadLetterQueueName(queue), {});
    // The fault of an earlier dead-lettering (a replayed message failing again) is replaced whole.
    const headers = { ...withoutFaultHeaders(message.headers), ...faultHeaders(fault) };
    this.enqueue(dlq, { ...message, headers }, 1, undefined);
  }

  scheduleDispatch(state: QueueState): void {
    if (state.dispatchScheduled || this.disposed) return;
    state.dispatchScheduled = true;
    queueMicrotask(() => this.dispatch(state));
  }

  private ensureQueue(name: string, options: QueueOptions): QueueState {
    let state = this.queues.get(name);
    if (state === undefined) {
      state = { name, ready: new Deque(), consumers: [], options, next: 0, dispatchScheduled: false };
      this.queues.set(name, state);
    }
    return state;
  }

  private route(message: OutgoingMessage): QueueState[] {
    if ('queue' in message.destination) {
      const state = this.queues.get(message.destination.queue);
      return state === undefined ? [] : [state];
    }
    const targets: QueueState[] = [];
    for (const [queue, filter] of this.bindings.get(message.destination.topic) ?? []) {
      const state = this.queues.get(queue);
      if (state !== undefined && (filter === undefined || matchesFilter(filter, message.headers)))
        targets.push(state);
    }
    return targets;
  }

  private enqueue(
    state: QueueState,
    message: TransportMessage,
    attempt: number,
    ttlMs: number | undefined,
  ): void {
    const effectiveTtl = ttlMs ?? state.options.messageTtlMs;
    const expiresAt = effectiveTtl === undefined ? undefined : Date.now() + effectiveTtl;
    state.ready.push({ message, attempt, expiresAt, ttlMs });
    this.scheduleDispatch(state);
  }

  private later(delayMs: number, run: () => void): void {
    if (this.disposed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private nextConsumer(state: QueueState): Slot | undefined {
    const { consumers } = state;
    for (let i = 0; i < consumers.length; i++) {
      const index = (state.next + i) % consumers.length;
      const slot = consumers[index] as Slot;
      if (!slot.paused && slot.unsettled.size < slot.prefetch) {
        state.next = index + 1;
        return slot;
      }
    }
    return undefined;
  }

  private dispatch(state: QueueState): void {
    state.dispatchScheduled = false;
    const now = Date.now();
    while (state.ready.length > 0) {
      const slot = this.nextConsumer(state);
      if (slot === undefined) return;
      const stored = state.ready.shift() as Stored;
      if (stored.expiresAt !== undefined && stored.expiresAt <= now) {
        this.expire(state, stored);
        continue;
      }
      const delivery = new InMemoryDelivery(this, slot, stored);
      slot.unsettled.add(delivery);
      void slot.onDelivery(delivery);
    }
  }

  private expire(state: QueueState, stored: Stored): void {
    this.deadLetter(state.name, stored.message, {
      reason: 'expired',
      errorType: 'MessageExpired',
      errorMessage: `message expired in queue ${state.name} before it was consumed`,
      attempts: stored.attempt - 1,
      consumer: '',
      queue: state.name,
      time: new Date(),
    });
  }
}
