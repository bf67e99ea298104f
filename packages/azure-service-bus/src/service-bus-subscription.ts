/**
 * A consumer of one Service Bus entity: the SDK's streaming receiver in peek-lock mode with
 * `maxConcurrentCalls` = the endpoint's prefetch (a delivery's credit comes back when it is settled),
 * the SDK's own lock renewal off (a `LockKeeper` per delivery instead, so a lost lock reaches the
 * handler). A receiver that reports an error is stopped and started again after core's
 * `backoffDelay`, once a probe (`peek`) reaches the entity again (re-declaring it first when it
 * vanished and provisioning is on); it counts as down, and `/readyz` is false, until then.
 */
import type { ServiceBusReceivedMessage, ServiceBusReceiver, ServiceBusMessage } from '@azure/service-bus';
import {
  backoffDelay,
  ErrorCodes,
  SerialQueue,
  SluiceError,
  toError,
  untilAborted,
  type Backoff,
  type DeliveryHandler,
  type Fault,
  type FaultReason,
  type Logger,
  type Subscription,
} from '@sluice/core';
import { fromServiceBusMessage } from './envelope.js';
import { isEntityNotFound, isLockLost } from './errors.js';
import { LockKeeper } from './lock-keeper.js';
import { ServiceBusDelivery, type DeliveryOwner } from './service-bus-delivery.js';

/** What a subscription is given by its transport. */
export interface SubscriptionDependencies {
  readonly receiver: ServiceBusReceiver;
  /** The endpoint's queue name (`Delivery.queue`). */
  readonly queue: string;
  readonly prefetch: number;
  readonly onDelivery: DeliveryHandler;
  readonly copyTarget: string | undefined;
  sendCopy(entity: string, copy: ServiceBusMessage, describe: string): Promise<void>;
  /** Declares the endpoint again after its entity vanished (undefined: provisioning is off). */
  readonly redeclare: (() => Promise<void>) | undefined;
  readonly maxLockRenewalMs: number;
  readonly reconnect: Backoff;
  readonly closing: () => boolean;
  readonly logger: Logger;
  readonly redact: (text: string) => string;
}

type Mode = 'active' | 'paused' | 'closed';

export class ServiceBusSubscription implements Subscription {
  readonly queue: string;
  private mode: Mode = 'active';
  private streaming: { close(): Promise<void> } | undefined;
  private up = false;
  private restarting = false;
  /** Deliveries handed out and not yet settled or handed back. */
  private readonly unsettled = new Set<ServiceBusDelivery>();
  /** Settlements under way (the transport's close waits for them). */
  private readonly settling = new Set<Promise<unknown>>();
  private readonly changes = new SerialQueue();
  private readonly owner: DeliveryOwner;
  private readonly logger: Logger;

  constructor(private readonly deps: SubscriptionDependencies) {
    this.queue = deps.queue;
    this.logger = deps.logger.child({ queue: deps.queue });
    this.owner = {
      receiver: deps.receiver,
      copyTarget: deps.copyTarget,
      sendCopy: (entity, copy, describe) => deps.sendCopy(entity, copy, describe),
      closing: deps.closing,
      done: (delivery) => this.unsettled.delete(delivery),
      settling: (settlement) => {
        this.settling.add(settlement);
        const forget = () => this.settling.delete(settlement);
        settlement.then(forget, forget);
      },
      redact: deps.redact,
    };
  }

  /** True while the receiver is attached (or paused on purpose). */
  get attached(): boolean {
    return this.mode !== 'active' || this.up;
  }

  /** Reaches the entity once (rejects with what it could not), then starts receiving. */
  async start(): Promise<void> {
    await this.deps.receiver.peekMessages(1);
    await this.serial(async () => this.attach());
  }

  /** Stops new deliveries; unsettled ones can still be settled. Idempotent. */
  pause(): Promise<void> {
    return this.serial(async () => {
      if (this.mode !== 'active') return;
      this.mode = 'paused';
      await this.detach();
    });
  }

  /** Receives again after {@link pause}. Idempotent. */
  resume(): Promise<void> {
    return this.serial(async () => {
      if (this.mode !== 'paused') return;
      this.mode = 'active';
      this.attach();
    });
  }

  /** Stops receiving for good; unsettled deliveries stay settleable until the transport closes. Idempotent. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.mode === 'closed') return;
      this.mode = 'closed';
      await this.detach();
    });
  }

  /**
   * For the transport's close: stops receiving, waits for the settlements under way, hands the
   * unsettled deliveries back to Service Bus (abandoned: their next delivery counts an attempt) and
   * closes the receiver. Stops waiting when `deadline` aborts.
   */
  async shutdown(deadline: AbortSignal): Promise<void> {
    await untilAborted(this.close(), deadline);
    await untilAborted(Promise.allSettled([...this.settling]), deadline);
    await untilAborted(Promise.all([...this.unsettled].map((delivery) => delivery.handBack())), deadline);
    for (const delivery of this.unsettled) delivery.orphan();
    await untilAborted(
      this.deps.receiver.close().catch(() => undefined),
      deadline,
    );
  }

  private serial(step: () => Promise<void>): Promise<void> {
    return this.changes.run(step);
  }

  private attach(): void {
    if (this.mode !== 'active' || this.streaming !== undefined) return;
    this.streaming = this.deps.receiver.subscribe(
      {
        processMessage: (message) => this.onMessage(message),
        processError: async ({ error, errorSource }) => {
          if (errorSource === 'receive') this.onReceiverFailed(error);
          else
            this.logger.debug(
              { errorSource, err: this.deps.redact(String(error)) },
              'Service Bus receiver reported an error',
            );
        },
      },
      { autoCompleteMessages: false, maxConcurrentCalls: this.deps.prefetch },
    );
    this.up = true;
  }

  private async detach(): Promise<void> {
    const streaming = this.streaming;
    this.streaming = undefined;
    await streaming?.close().catch(() => undefined);
  }

  /** Nothing may throw out of here: the SDK would abandon the message. */
  private async onMessage(raw: ServiceBusReceivedMessage): Promise<void> {
    this.up = true;
    let delivery: ServiceBusDelivery;
    let refusal: Error | undefined;
    try {
      const envelope = fromServiceBusMessage(raw);
      const describe = `message ${envelope.message.messageId} in ${this.queue}`;
      const lock = new LockKeeper(
        {
          lockedUntil: () => raw.lockedUntilUtc?.getTime() ?? 0,
          renew: async () => (await this.deps.receiver.renewMessageLock(raw)).getTime(),
        },
        this.deps.maxLockRenewalMs,
        describe,
        isLockLost,
        (error) =>
          this.logger.debug(
            { messageId: envelope.message.messageId, err: this.deps.redact(String(error)) },
            'lock renewal failed; trying again',
          ),
      );
      delivery = new ServiceBusDelivery(this.owner, raw, envelope, this.queue, lock);
      if (envelope.problems.length > 0) {
        refusal = new SluiceError(
          ErrorCodes.DECODE_FAILED,
          `cannot read the Service Bus message: ${envelope.problems.join('; ')}`,
        );
      }
    } catch (error) {
      this.logger.error(
        { err: toError(error) },
        'could not read a delivered message; Service Bus redelivers it when its lock runs out',
      );
      return;
    }
    this.unsettled.add(delivery);
    await (refusal === undefined ? this.hand(delivery) : this.refuse(delivery, 'decode-failed', refusal));
  }

  private async hand(delivery: ServiceBusDelivery): Promise<void> {
    try {
      await this.deps.onDelivery(delivery);
    } catch (error) {
      this.logger.error(
        { err: toError(error), messageId: delivery.message.messageId },
        'delivery handler threw',
      );
    }
  }

  /** Dead-letters a message the host is not given. */
  private async refuse(delivery: ServiceBusDelivery, reason: FaultReason, error: Error): Promise<void> {
    const fault: Fault = {
      reason,
      errorType: error.name,
      errorCode: (error as SluiceError).code,
      errorMessage: error.message,
      attempts: delivery.attempt,
      consumer: 'AzureServiceBusTransport',
      queue: this.queue,
      time: new Date(),
    };
    this.logger.warn(
      { messageId: delivery.message.messageId, reason, error: error.message },
      'dead-lettering a message without handing it to the consumer',
    );
    await delivery.deadLetter(fault).catch((settleError: unknown) => {
      this.logger.warn(
        { messageId: delivery.message.messageId, err: this.deps.redact(String(settleError)) },
        'could not dead-letter the message; Service Bus redelivers it',
      );
    });
  }

  private onReceiverFailed(error: Error): void {
    this.up = false;
    this.logger.warn(
      { err: this.deps.redact(`${error.name}: ${error.message}`) },
      'Service Bus receiver failed; restarting it',
    );
    if (this.restarting || this.mode !== 'active') return;
    this.restarting = true;
    void this.restart(isEntityNotFound(error)).finally(() => {
      this.restarting = false;
    });
  }

  /** Stops the SDK's own retries and starts again with backoff, until the entity answers. */
  private async restart(vanished: boolean): Promise<void> {
    await this.serial(async () => this.detach());
    for (let attempt = 1; this.mode === 'active' && !this.deps.closing(); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(this.deps.reconnect, attempt)));
      if (this.mode !== 'active' || this.deps.closing()) return;
      try {
        if (vanished && this.deps.redeclare !== undefined) await this.deps.redeclare();
        await this.deps.receiver.peekMessages(1);
        await this.serial(async () => this.attach());
        this.logger.info({ attempt }, 'Service Bus receiver restarted');
        return;
      } catch (error) {
        vanished ||= isEntityNotFound(error);
        this.logger.warn(
          { attempt, err: this.deps.redact(String(error)) },
          'Service Bus receiver restart failed; trying again',
        );
      }
    }
  }
}
