import type { Delivery, Fault, TransportMessage } from '@sluice/core';
import type { Message } from 'amqplib';
import type { ConsumerChannel } from './consumer-channel.js';

/**
 * A delivered message. The first settlement call wins and later ones resolve without effect; once the
 * delivering channel is gone (connection lost, transport closed) settlement rejects, with
 * `SLUICE_CONNECTION_LOST` or `SLUICE_CLOSED`, and RabbitMQ redelivers the message. A retry whose
 * copy is refused for good (`isCopyRefused`) leaves it open, unacked, for the host's next settlement.
 */
export class RabbitMqDelivery implements Delivery {
  private state: 'open' | 'settled' | 'orphaned' = 'open';

  constructor(
    private readonly owner: ConsumerChannel,
    readonly raw: Message,
    readonly message: TransportMessage,
    readonly attempt: number,
    readonly queue: string,
  ) {}

  /** Resolves when the ack was written to the connection (AMQP does not confirm acks). */
  ack(): Promise<void> {
    return this.claim() ?? this.owner.ack(this.raw);
  }

  /**
   * Publishes a copy with `attempt + 1` to the service's retry queue of `delayMs`, routed by the work
   * queue's name (to the work queue at once for 0), waits for the broker's confirm, then acks the
   * original.
   */
  retry(delayMs: number): Promise<void> {
    return this.claim() ?? this.owner.retry(this, delayMs);
  }

  /** Publishes a copy with the fault headers to `<queue>.dlq`, waits for the confirm, then acks. */
  deadLetter(fault: Fault): Promise<void> {
    return this.claim() ?? this.owner.deadLetter(this, fault);
  }

  /**
   * Returns the message to the back of its queue without counting an attempt: a copy carrying the
   * current attempt is published and confirmed, then the original acked.
   */
  release(): Promise<void> {
    return this.claim() ?? this.owner.release(this);
  }

  /** Settleable again: the settlement under way sent nothing and left the original unacked. */
  reopen(): void {
    if (this.state !== 'settled') return;
    this.state = 'open';
    this.owner.unsettled.add(this);
  }

  /** Marks an unsettled delivery as no longer settleable (its channel is gone). */
  orphan(): void {
    if (this.state === 'open') this.state = 'orphaned';
  }

  /** Undefined when this call may settle; otherwise what the call returns. */
  private claim(): Promise<void> | undefined {
    if (this.state === 'orphaned') return Promise.reject(this.owner.failure());
    if (this.state === 'settled') return Promise.resolve();
    this.state = 'settled';
    this.owner.claimed(this);
    return undefined;
  }
}
