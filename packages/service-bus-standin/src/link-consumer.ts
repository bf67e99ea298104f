import { randomBytes } from 'node:crypto';
import rhea, { type Delivery, type Sender } from 'rhea';
import { deliveredMessage } from './amqp-codec.js';
import { BrokerError } from './broker-error.js';
import type { Faults } from './faults.js';
import { lockTokenDeliveryTag } from './lock-token.js';
import type { Consumer, Lock, MessageQueue, ReceiveMode, StoredMessage } from './message-queue.js';

/** rhea's sender internals the drain handling below relies on (rhea 3.x `lib/link.js`). */
interface SenderInternals {
  credit: number;
  session: { outgoing: { available(): number } };
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain(): boolean;
}

/** The outcome a receiver sent for a delivery (rhea's event name) and its fields. */
export type Outcome = 'accepted' | 'rejected' | 'released' | 'modified';

const outcomes = rhea.message as unknown as Record<Outcome, (fields?: object) => { described(): unknown }>;

/**
 * A client's receiver link, seen from the queue it reads: it takes messages while it has link credit,
 * sends each with its lock token as the delivery tag (GUID byte order) or pre-settled in
 * receive-and-delete mode, and turns the client's dispositions into settlements, echoing the outcome
 * when it took effect and answering `rejected{com.microsoft:message-lock-lost}` when the lock was gone.
 */
export class LinkConsumer implements Consumer {
  private readonly tokens = new WeakMap<Delivery, string>();
  /** Deliveries handed to rhea on this link. */
  private issued = 0;
  /** Credit given back by drains (rhea counts it in `delivery_count` too). */
  private drained = 0;

  constructor(
    private readonly sender: Sender,
    readonly receiveMode: ReceiveMode,
    private readonly queue: MessageQueue,
    private readonly faults: Faults,
  ) {
    const internals = sender as unknown as SenderInternals;
    // A drain must be answered with a drain flow even when no credit is left (rhea only writes one
    // while credit remains): the SDK waits for it and closes its receiver when it does not come.
    internals._get_drain = () => {
      if (!internals._draining || !internals._drained) return false;
      this.drained += internals.credit;
      internals.delivery_count += internals.credit;
      internals.credit = 0;
      return true;
    };
    sender.on('sender_flow', () => queue.pump());
    sender.on('sender_draining', () => {
      queue.pump();
      sender.set_drained(true);
    });
    for (const outcome of ['accepted', 'rejected', 'released', 'modified'] as const) {
      sender.on(outcome, (context) => this.settle(outcome, context.delivery!));
    }
  }

  credit(): number {
    const internals = this.sender as unknown as SenderInternals;
    const unsent = this.issued - (internals.delivery_count - this.drained);
    // rhea's session holds at most 2,048 unsettled outgoing deliveries; beyond that it throws.
    const room = internals.session.outgoing.available();
    return this.sender.is_open() ? Math.min(internals.credit - unsent, room) : 0;
  }

  deliver(stored: StoredMessage, lock: Lock | undefined): void {
    const tag = lock === undefined ? randomBytes(16) : lockTokenDeliveryTag(lock.token);
    const delivery = this.sender.send(deliveredMessage(stored, lock), tag);
    this.issued += 1;
    if (lock !== undefined) this.tokens.set(delivery, lock.token);
  }

  close(error: BrokerError): void {
    this.sender.close({ condition: error.condition, description: error.message });
  }

  /**
   * Settles `delivery` with `state`. A receiver in rcv-settle-mode second never settles after the
   * sender did, and rhea keeps an outgoing delivery until both sides have: it is forgotten here.
   */
  private finish(delivery: Delivery, state: unknown): void {
    delivery.update(true, state);
    (delivery as Delivery & { remote_settled: boolean }).remote_settled = true;
  }

  private settle(outcome: Outcome, delivery: Delivery): void {
    const lockToken = this.tokens.get(delivery);
    if (lockToken === undefined) return;
    this.tokens.delete(delivery);
    const state = (delivery.remote_state ?? {}) as {
      error?: { condition?: string; description?: string; info?: Record<string, unknown> };
      undeliverable_here?: boolean;
      message_annotations?: Record<string, unknown>;
    };
    try {
      const fault = this.faults.take('settle');
      if (fault !== undefined) throw fault;
      if (outcome === 'accepted') {
        this.queue.complete(lockToken);
        this.finish(delivery, outcomes.accepted().described());
      } else if (outcome === 'rejected') {
        const { DeadLetterReason, DeadLetterErrorDescription, ...properties } = state.error?.info ?? {};
        const deadLetter = state.error?.condition === 'com.microsoft:dead-letter';
        this.queue.deadLetter(
          lockToken,
          deadLetter ? text(DeadLetterReason) : state.error?.condition,
          deadLetter ? text(DeadLetterErrorDescription) : state.error?.description,
          properties,
        );
        // Settled as rejected without the error: the SDK reads an error in the echo as a failure.
        this.finish(delivery, outcomes.rejected().described());
      } else if (outcome === 'modified' && state.undeliverable_here === true) {
        this.queue.defer(lockToken, state.message_annotations);
        this.finish(delivery, outcomes.modified({ undeliverable_here: true }).described());
      } else {
        this.queue.abandon(lockToken, state.message_annotations);
        this.finish(delivery, outcomes[outcome]({ undeliverable_here: false }).described());
      }
    } catch (caught) {
      const error =
        caught instanceof BrokerError
          ? caught
          : new BrokerError(
              'amqp:internal-error',
              `The settlement failed: ${(caught as Error).message}`,
              500,
            );
      this.finish(
        delivery,
        outcomes.rejected({ error: { condition: error.condition, description: error.message } }).described(),
      );
    }
  }
}

function text(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}
