/**
 * A consumer of one queue on a channel of its own (its prefetch applies to it alone). It survives
 * connection loss (the supervisor brings it back after the topology), the loss of its channel, and
 * RabbitMQ cancelling it (its queue was deleted): it declares the endpoint again and consumes anew,
 * with backoff.
 */
import { SerialQueue, toError, type DeliveryHandler, type Logger, type Subscription } from '@sluice/core';
import type { ConsumeMessage } from 'amqplib';
import { ConsumerChannel, type ConsumerChannelDependencies } from './consumer-channel.js';
import type { ConnectionListener, ConnectionSession } from './connection-supervisor.js';
import { decode } from './envelope.js';
import { RabbitMqDelivery } from './rabbitmq-delivery.js';
import type { EndpointPlan } from './topology.js';

export interface SubscriptionDependencies extends ConsumerChannelDependencies {
  readonly current: () => ConnectionSession | undefined;
  readonly removeListener: (listener: ConnectionListener) => void;
  readonly reconnectDelay: (attempt: number) => number;
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
    const owner = new ConsumerChannel(channel, this.plan, this.deps);
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
    const { message, attempt } = decode(raw);
    const delivery = new RabbitMqDelivery(owner, raw, message, attempt, this.plan.queue);
    owner.unsettled.add(delivery);
    this.onDelivery(delivery).catch((error: unknown) => {
      this.logger.error({ err: toError(error), messageId: message.messageId }, 'delivery handler threw');
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
