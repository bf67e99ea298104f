/**
 * One channel of a subscription and the deliveries it carries. Delivery tags belong to a channel: when
 * it is gone, its unsettled deliveries can no longer be settled (the broker redelivers them), so they
 * are orphaned and their settlement rejects.
 */
import {
  backoffDelay,
  ErrorCodes,
  faultHeaders,
  hasErrorCode,
  Headers,
  isCopyRefused,
  SluiceError,
  type Backoff,
  type Fault,
  type Logger,
} from '@sluice/core';
import type { Channel, Message } from 'amqplib';
import { AckTracker } from './ack-tracker.js';
import { copyOptions } from './envelope.js';
import type { LostDeliveries } from './lost-deliveries.js';
import type { Publisher } from './publisher.js';
import type { Redactor } from './redact.js';
import type { RabbitMqDelivery } from './rabbitmq-delivery.js';
import { retryQueueOf, type EndpointPlan, type Topology } from './topology.js';

/** The copy a settlement publishes before it acks the original. */
interface Copy {
  readonly exchange: string;
  readonly routingKey: string;
  /** Headers set on the copy. */
  readonly set: Readonly<Record<string, string>>;
  /** Declares what the copy is published to, before it is. */
  readonly prepare?: (() => Promise<void>) | undefined;
  /** Headers of the original left out of the copy. */
  readonly remove?: (name: string) => boolean;
  /** A copy refused for good leaves the delivery open instead of requeueing it (retries). */
  readonly keepIfRefused?: boolean;
}

export interface ConsumerChannelDependencies {
  /** True once the transport closed: settlement then rejects with `SLUICE_CLOSED`. */
  readonly transportClosed: () => boolean;
  readonly publisher: Publisher;
  readonly topology: Topology;
  readonly coalesceAcks: boolean;
  readonly redactor: Redactor;
  readonly logger: Logger;
  /** Bytes the header table of a republished copy may take (see `headerBudget`). */
  readonly headerBudget: number;
}

const isFaultHeader = (name: string) => name.startsWith('sluice-fault-');

/**
 * How long a delivery whose copy failed is kept before it goes back to its queue, by the number of
 * copies that failed in a row on the channel: a dead-letter queue at its max length refuses every copy,
 * and handing the message back at once brought it back, to be refused again, hundreds of times a
 * second.
 */
const handBackBackoff: Backoff = { initialMs: 100, factor: 2, maxMs: 30_000, jitter: 0.2 };

export class ConsumerChannel {
  alive = true;
  consumerTag: string | undefined;
  readonly unsettled = new Set<RabbitMqDelivery>();
  private endedByTransport = false;
  private readonly settling = new Set<Promise<void>>();
  private readonly tracker: AckTracker;
  /** Copies that failed in a row (reset by one that succeeds), and the hand-backs waiting. */
  private copyFailures = 0;
  private readonly handBacks = new Set<NodeJS.Timeout>();

  /**
   * @param lost the subscription's count of lost deliveries: deliveries orphaned by a lost channel are
   * counted there, settled ones forgotten.
   */
  constructor(
    readonly channel: Channel,
    readonly plan: EndpointPlan,
    private readonly deps: ConsumerChannelDependencies,
    private readonly lost: LostDeliveries,
  ) {
    this.tracker = new AckTracker(channel, deps.coalesceAcks, () => this.failure());
  }

  /** Acknowledgement bookkeeping held (see `AckTracker.size`): bounded by the prefetch. */
  get ackBacklog(): number {
    return this.tracker.size;
  }

  /** Why a settlement on this channel can no longer happen. */
  failure(): SluiceError {
    return this.endedByTransport || this.deps.transportClosed()
      ? new SluiceError(ErrorCodes.CLOSED, 'transport closed; the message was returned to its queue')
      : new SluiceError(
          ErrorCodes.CONNECTION_LOST,
          'the channel that delivered the message is gone; RabbitMQ redelivers the message',
        );
  }

  /** `delivery` is being settled: it is no longer orphaned when the channel goes. */
  claimed(delivery: RabbitMqDelivery): void {
    this.unsettled.delete(delivery);
    if (delivery.raw.fields.redelivered) this.lost.forget(delivery.raw);
  }

  ack(raw: Message): Promise<void> {
    if (!this.alive) return Promise.reject(this.failure());
    return this.tracker.ack(raw);
  }

  retry(delivery: RabbitMqDelivery, delayMs: number): Promise<void> {
    const { plan } = this;
    const delayed = delayMs > 0;
    // Delayed: to the shared retry queue's exchange, keeping the work queue as routing key (the retry
    // queue dead-letters by it, back to this queue alone).
    return this.republish(delivery, {
      exchange: delayed ? retryQueueOf(plan, delayMs) : '',
      routingKey: plan.queue,
      set: { [Headers.attempt]: String(delivery.attempt + 1) },
      prepare: delayed ? () => this.deps.topology.ensureRetryQueue(plan, delayMs) : undefined,
      keepIfRefused: true,
    });
  }

  deadLetter(delivery: RabbitMqDelivery, fault: Fault): Promise<void> {
    // Fault headers of an earlier dead-lettering (a replayed message failing again) are replaced.
    return this.republish(delivery, {
      exchange: '',
      routingKey: this.plan.deadLetterQueue,
      set: faultHeaders(fault),
      remove: isFaultHeader,
    });
  }

  release(delivery: RabbitMqDelivery): Promise<void> {
    // A requeue would count as a delivery on quorum queues (x-delivery-count) and flag a redelivery on
    // classic ones; a copy carrying the current attempt keeps the count honest.
    return this.republish(delivery, {
      exchange: '',
      routingKey: this.plan.queue,
      set: { [Headers.attempt]: String(delivery.attempt) },
    });
  }

  /** Resolves when no republish-then-ack settlement is in progress. */
  async whenSettled(): Promise<void> {
    while (this.settling.size > 0) await Promise.allSettled([...this.settling]);
  }

  /**
   * Ends the channel's deliveries: unsettled ones are orphaned (their settlement rejects with
   * `SLUICE_CLOSED` when `byTransport`, else `SLUICE_CONNECTION_LOST`).
   */
  end(byTransport: boolean): void {
    if (!this.alive) return;
    this.endedByTransport = byTransport;
    this.alive = false;
    // The broker requeues what is not acknowledged when the channel goes.
    for (const timer of this.handBacks) clearTimeout(timer);
    this.handBacks.clear();
    for (const delivery of this.unsettled) delivery.orphan();
    if (!byTransport) this.lost.record(Array.from(this.unsettled, (delivery) => delivery.raw));
    this.unsettled.clear();
  }

  /** Sends pending acks, ends the channel's deliveries and closes it; the broker requeues the rest. */
  async close(): Promise<void> {
    if (this.alive) {
      try {
        this.tracker.flush();
      } catch {
        // closed already: the broker redelivers whatever was not acknowledged
      }
    }
    this.end(true);
    await this.channel.close().catch(() => undefined);
  }

  private republish(delivery: RabbitMqDelivery, copy: Copy): Promise<void> {
    if (!this.alive) return Promise.reject(this.failure());
    const work = this.republishThenAck(delivery, copy);
    this.settling.add(work);
    const done = () => {
      this.settling.delete(work);
    };
    work.then(done, done);
    return work;
  }

  /**
   * Returns a delivery whose copy failed to its queue (nack, requeue) after {@link handBackBackoff}:
   * 100 ms, doubling while copies keep failing, to 30 s. Unacked meanwhile, it holds one prefetch slot
   * (a full dead-letter queue slows the consumer down instead of spinning it); if the channel ends
   * first, the broker requeues it.
   */
  private handBack(raw: Message): void {
    const timer = setTimeout(
      () => {
        this.handBacks.delete(timer);
        if (!this.alive) return;
        try {
          this.tracker.nack(raw, true);
        } catch {
          // the channel is gone: the broker redelivers the message anyway
        }
      },
      backoffDelay(handBackBackoff, ++this.copyFailures),
    );
    timer.unref();
    this.handBacks.add(timer);
  }

  private async republishThenAck(
    delivery: RabbitMqDelivery,
    { exchange, routingKey, set, prepare, remove, keepIfRefused }: Copy,
  ): Promise<void> {
    const { raw } = delivery;
    try {
      if (prepare !== undefined) await prepare();
      const options = copyOptions(raw, delivery.message, set, remove, this.deps.headerBudget);
      options.mandatory = true;
      await this.deps.publisher.send([
        { exchange, routingKey, content: raw.content, options, topic: undefined },
      ]);
      this.copyFailures = 0;
    } catch (error) {
      if (keepIfRefused === true && this.alive && isCopyRefused(error)) {
        // Refused for good, nothing sent: the delivery stays open for the host's next settlement
        // (it dead-letters the message; a requeue would bring it back to be refused again).
        delivery.reopen();
        throw error;
      }
      // The copy is not in place: hand the original back so that it is redelivered, not stuck unacked.
      if (this.alive) this.handBack(raw);
      if (hasErrorCode(error, ErrorCodes.UNROUTABLE)) {
        // One of the endpoint's queues was deleted under us: declare them again for the next attempt.
        this.deps.topology.declareEndpoint(this.plan).catch((declareError: unknown) => {
          this.deps.logger.warn(
            { err: this.deps.redactor.error(declareError) },
            'could not redeclare the endpoint',
          );
        });
      }
      throw error;
    }
    await this.ack(raw);
  }
}
