/**
 * A consumer of one queue on a channel of its own (its prefetch applies to it alone). It survives
 * connection loss (the supervisor brings it back after the topology), the loss of its channel, and
 * RabbitMQ cancelling it (its queue was deleted): it declares the endpoint again and consumes anew,
 * with backoff.
 */
import {
  ErrorCodes,
  SerialQueue,
  SluiceError,
  toError,
  type DeliveryHandler,
  type Fault,
  type FaultReason,
  type Logger,
  type Subscription,
} from '@sluice/core';
import type { ConsumeMessage, Message } from 'amqplib';
import { ConsumerChannel, type ConsumerChannelDependencies } from './consumer-channel.js';
import type { ConnectionListener, ConnectionSession } from './connection-supervisor.js';
import { decode } from './envelope.js';
import { LostDeliveries } from './lost-deliveries.js';
import { RabbitMqDelivery } from './rabbitmq-delivery.js';
import type { EndpointPlan } from './topology.js';

export interface SubscriptionDependencies extends ConsumerChannelDependencies {
  readonly current: () => ConnectionSession | undefined;
  readonly removeListener: (listener: ConnectionListener) => void;
  readonly reconnectDelay: (attempt: number) => number;
  /** Returns unsettled after which the transport dead-letters a message itself (`redeliveryLimit`). */
  readonly redeliveryLimit: number;
}

type Mode = 'active' | 'paused' | 'closed';

export class RabbitMqSubscription implements Subscription, ConnectionListener {
  readonly queue: string;
  private mode: Mode = 'active';
  private owner: ConsumerChannel | undefined;
  private readonly owners = new Set<ConsumerChannel>();
  /** Serialises channel and consumer changes (open, pause, resume, recover, close). */
  private readonly changes = new SerialQueue();
  private recovering = false;
  private readonly lost = new LostDeliveries();
  private readonly logger: Logger;

  constructor(
    private readonly plan: EndpointPlan,
    private readonly prefetch: number,
    private readonly onDelivery: DeliveryHandler,
    private readonly deps: SubscriptionDependencies,
  ) {
    this.queue = plan.queue;
    this.logger = deps.logger.child({ queue: plan.queue });
  }

  /** Acknowledgement bookkeeping held by this subscription's channels; bounded by the prefetch. */
  get ackBacklog(): number {
    let total = 0;
    for (const owner of this.owners) total += owner.ackBacklog;
    return total;
  }

  connected(session: ConnectionSession): Promise<void> {
    return this.serial(() => this.open(session));
  }

  disconnected(): void {
    const owner = this.owner;
    this.owner = undefined;
    owner?.end(false);
  }

  /** Stops new deliveries (cancels the consumer); unsettled ones can still be settled. Idempotent. */
  pause(): Promise<void> {
    return this.serial(async () => {
      if (this.mode !== 'active') return;
      this.mode = 'paused';
      await this.cancel();
    });
  }

  /** Consumes again after {@link pause}. Idempotent. */
  resume(): Promise<void> {
    return this.serial(async () => {
      if (this.mode !== 'paused') return;
      this.mode = 'active';
      const owner = this.owner;
      if (owner?.alive === true && owner.consumerTag === undefined) await this.consume(owner);
    });
  }

  /** Stops consuming for good; unsettled deliveries stay settleable until the transport closes. Idempotent. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.mode === 'closed') return;
      this.mode = 'closed';
      this.deps.removeListener(this);
      await this.cancel();
    });
  }

  /** For the transport's close: waits for settlements in progress, then closes every channel. */
  async shutdown(): Promise<void> {
    await this.close();
    await Promise.all([...this.owners].map((owner) => owner.whenSettled()));
    await Promise.all([...this.owners].map((owner) => owner.close()));
    this.owners.clear();
    this.owner = undefined;
  }

  private serial(step: () => Promise<void>): Promise<void> {
    return this.changes.run(step);
  }

  private async open(session: ConnectionSession): Promise<void> {
    if (this.mode === 'closed') return;
    const channel = await session.connection.createChannel();
    const owner = new ConsumerChannel(channel, this.plan, this.deps, this.lost);
    channel.on('error', (error: unknown) => {
      this.logger.warn({ err: this.deps.redactor.error(error) }, 'RabbitMQ closed the consumer channel');
    });
    channel.on('close', () => this.onChannelClosed(owner, session));
    this.owners.add(owner);
    await channel.prefetch(this.prefetch, false);
    this.owner = owner;
    if (this.mode === 'active') await this.consume(owner);
  }

  private async consume(owner: ConsumerChannel): Promise<void> {
    const { consumerTag } = await owner.channel.consume(
      this.plan.queue,
      (raw) => this.onMessage(owner, raw),
      {
        noAck: false,
      },
    );
    owner.consumerTag = consumerTag;
  }

  private async cancel(): Promise<void> {
    const owner = this.owner;
    const tag = owner?.consumerTag;
    if (owner === undefined || tag === undefined || !owner.alive) return;
    owner.consumerTag = undefined;
    await owner.channel.cancel(tag).catch(() => undefined);
  }

  /**
   * Nothing may throw out of here: amqplib would close the channel (541), RabbitMQ would hand the same
   * message out first again, and the queue would be wedged behind it.
   */
  private onMessage(owner: ConsumerChannel, raw: ConsumeMessage | null): void {
    if (raw === null) {
      owner.consumerTag = undefined;
      this.logger.warn(
        {},
        'RabbitMQ cancelled the consumer (queue deleted?); declaring it again and resubscribing',
      );
      this.recover();
      return;
    }
    let delivery: RabbitMqDelivery;
    let refusal: { reason: FaultReason; error: Error } | undefined;
    try {
      const { message, attempt, redeliveries, problems } = decode(
        raw,
        raw.fields.redelivered ? this.lost.count(raw) : 0,
      );
      delivery = new RabbitMqDelivery(owner, raw, message, attempt, this.plan.queue);
      if (problems.length > 0) {
        refusal = {
          reason: 'decode-failed',
          error: new SluiceError(
            ErrorCodes.DECODE_FAILED,
            `cannot read the AMQP message: ${problems.join('; ')}`,
          ),
        };
      } else if (redeliveries >= this.deps.redeliveryLimit) {
        const error = new Error(
          `delivered ${redeliveries + 1} times; each earlier delivery went back to the queue unsettled (redeliveryLimit ${this.deps.redeliveryLimit})`,
        );
        error.name = 'RedeliveryLimitReached';
        refusal = { reason: 'max-attempts', error };
      }
    } catch (error) {
      // Reading is written not to throw; should it, the message is still taken out of the way.
      this.logger.error({ err: toError(error) }, 'could not read a delivered message');
      const bare = decode({ content: raw.content, fields: raw.fields, properties: {} } as Message);
      delivery = new RabbitMqDelivery(owner, raw, bare.message, 1, this.plan.queue);
      refusal = {
        reason: 'decode-failed',
        error: new SluiceError(
          ErrorCodes.DECODE_FAILED,
          `cannot read the AMQP message: ${toError(error).message}`,
        ),
      };
    }
    owner.unsettled.add(delivery);
    if (refusal !== undefined) {
      this.refuse(delivery, refusal.reason, refusal.error);
      return;
    }
    let handled: Promise<void>;
    try {
      handled = this.onDelivery(delivery);
    } catch (error) {
      handled = Promise.reject(error);
    }
    handled.catch((error: unknown) => {
      this.logger.error(
        { err: toError(error), messageId: delivery.message.messageId },
        'delivery handler threw',
      );
    });
  }

  /** Dead-letters a message the host is not given (copy with fault headers, confirmed, then ack). */
  private refuse(delivery: RabbitMqDelivery, reason: FaultReason, error: Error): void {
    const code = (error as { code?: unknown }).code;
    const fault: Fault = {
      reason,
      errorType: error.name,
      errorCode: typeof code === 'string' ? code : undefined,
      errorMessage: error.message,
      attempts: delivery.attempt,
      consumer: 'RabbitMqTransport',
      queue: this.plan.queue,
      time: new Date(),
    };
    this.logger.warn(
      { messageId: delivery.message.messageId, reason, err: error },
      'dead-lettering a message without handing it to the consumer',
    );
    delivery.deadLetter(fault).catch((settleError: unknown) => {
      this.logger.warn(
        { err: this.deps.redactor.error(settleError), messageId: delivery.message.messageId },
        'could not dead-letter the message; RabbitMQ redelivers it',
      );
    });
  }

  private onChannelClosed(owner: ConsumerChannel, session: ConnectionSession): void {
    owner.end(false);
    this.owners.delete(owner);
    if (this.owner === owner) this.owner = undefined;
    // A connection closes its channels before it reports its own loss: wait a turn to tell a lost
    // channel (recovered here) from a lost connection (recovered by the supervisor).
    setImmediate(() => {
      if (this.mode !== 'closed' && !session.signal.aborted) this.recover();
    });
  }

  /** Declares the endpoint again and consumes, with backoff, until it works or no longer applies. */
  private recover(): void {
    if (this.recovering) return;
    this.recovering = true;
    const attemptOnce = async (attempt: number): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, this.deps.reconnectDelay(attempt)));
      const session = this.deps.current();
      if (this.mode === 'closed' || session === undefined) return;
      try {
        await this.serial(async () => {
          await this.deps.topology.declareEndpoint(this.plan);
          const owner = this.owner;
          if (owner === undefined || !owner.alive) await this.open(session);
          else if (this.mode === 'active' && owner.consumerTag === undefined) await this.consume(owner);
        });
        this.logger.info({}, 'consumer recovered');
      } catch (error) {
        this.logger.warn(
          { err: this.deps.redactor.error(error), attempt },
          'consumer recovery failed; retrying',
        );
        return attemptOnce(attempt + 1);
      }
    };
    void attemptOnce(1).finally(() => {
      this.recovering = false;
    });
  }
}
