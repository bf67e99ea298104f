/**
 * One peek-locked delivery and its settlement: ack completes it; retry sends a copy (a new Service
 * Bus id carrying the Sluice id and attempt + 1, scheduled after the delay) to the endpoint's queue
 * and completes the original once the copy was accepted; deadLetter moves it to the dead-letter
 * queue in one step (`deadLetterMessage`: the fault's reason and description, the fault properties,
 * an earlier fault's removed); release abandons it (Service Bus counts a delivery; the `attempt`
 * does not, through `sluice-released`). The first settlement call wins; a lost lock, a closed
 * transport or a failed settlement reject with their codes. A retry whose copy is refused for good
 * (`isCopyRefused`: over the size limit, say) leaves the delivery open, its lock kept, for the host's
 * next settlement (it dead-letters the message).
 */
import type { ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import {
  ErrorCodes,
  faultHeaders,
  Headers,
  isCopyRefused,
  SluiceError,
  type Delivery,
  type Fault,
  type TransportMessage,
} from '@sluice/core';
import { Properties, propertyValue, toServiceBusMessage, type Envelope } from './envelope.js';
import { toSluiceError } from './errors.js';
import type { LockKeeper } from './lock-keeper.js';

/** What a delivery needs from the subscription that received it. */
export interface DeliveryOwner {
  readonly receiver: ServiceBusReceiver;
  /** Where a retry copy goes: the endpoint's queue (undefined for a dead-letter queue: it takes no sends). */
  readonly copyTarget: string | undefined;
  sendCopy(entity: string, copy: ServiceBusMessage, describe: string): Promise<void>;
  /** The transport is closing: settlement no longer reaches Service Bus. */
  closing(): boolean;
  /** The delivery is settled or given up (bookkeeping of in-flight work). */
  done(delivery: ServiceBusDelivery): void;
  /** A settlement under way (the transport's close waits for it). */
  settling(settlement: Promise<void>): void;
  readonly redact: (text: string) => string;
}

/** Longest `DeadLetterErrorDescription` written (Service Bus caps system properties' sizes). */
const maxDescription = 1024;

export class ServiceBusDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly attempt: number;
  /** Service Bus's delivery count (0 on the first delivery; abandons and lost locks add one). */
  readonly deliveryCount: number;
  private readonly released: number;
  private state: 'open' | 'settling' | 'settled' | 'orphaned' = 'open';
  /** The settlement under way failed before it reached the original: it stays open. */
  private untouched = false;

  constructor(
    private readonly owner: DeliveryOwner,
    readonly raw: ServiceBusReceivedMessage,
    envelope: Envelope,
    readonly queue: string,
    private readonly lock: LockKeeper,
  ) {
    this.message = envelope.message;
    this.attempt = envelope.attempt;
    this.deliveryCount = envelope.deliveryCount;
    this.released = envelope.released;
  }

  get signal(): AbortSignal {
    return this.lock.signal;
  }

  /** True once settled (or given up): the transport's close does not hand it back again. */
  get finished(): boolean {
    return this.state !== 'open';
  }

  /** Resolves when Service Bus confirmed the completion. */
  ack(): Promise<void> {
    return this.settle('complete', () => this.owner.receiver.completeMessage(this.raw));
  }

  retry(delayMs: number): Promise<void> {
    return this.settle('retry', async () => {
      const target = this.owner.copyTarget;
      if (target === undefined) {
        this.untouched = true;
        throw new SluiceError(
          ErrorCodes.INVALID_OPTION,
          `cannot retry into ${this.queue}: a dead-letter queue takes no messages (replay it)`,
        );
      }
      const copy = toServiceBusMessage(this.message, { [Headers.attempt]: this.attempt + 1 }, true);
      if (delayMs > 0) copy.scheduledEnqueueTimeUtc = new Date(Date.now() + delayMs);
      if (this.raw.timeToLive !== undefined && this.raw.timeToLive > 0 && this.raw.timeToLive < 2 ** 31)
        copy.timeToLive = this.raw.timeToLive;
      await this.owner
        .sendCopy(target, copy, `retry copy of message ${this.message.messageId}`)
        .catch((error: unknown) => {
          this.untouched = isCopyRefused(error);
          throw error;
        });
      await this.owner.receiver.completeMessage(this.raw);
    });
  }

  deadLetter(fault: Fault): Promise<void> {
    return this.settle('dead-letter', () => {
      const properties: Record<string, string | number | null> = {};
      // Properties cannot be removed on a settlement, only set: an earlier fault's are set to null.
      for (const name of Object.keys(this.raw.applicationProperties ?? {})) {
        if (name.startsWith('sluice-fault-') || name === Headers.attempt || name === Properties.released)
          properties[name] = null;
      }
      for (const [name, value] of Object.entries(faultHeaders(fault)))
        properties[name] = propertyValue(value);
      const description = `${fault.errorType}: ${fault.errorMessage}`;
      return this.owner.receiver.deadLetterMessage(this.raw, {
        ...properties,
        deadLetterReason: fault.reason,
        deadLetterErrorDescription:
          description.length <= maxDescription
            ? description
            : `${description.slice(0, maxDescription - 3)}...`,
      });
    });
  }

  /** Abandons it: back in its queue at once; Service Bus counts the delivery, `attempt` does not. */
  release(): Promise<void> {
    return this.settle('abandon', () =>
      this.owner.receiver.abandonMessage(this.raw, { [Properties.released]: this.released + 1 }),
    );
  }

  /**
   * Abandons it without marking a release (the transport closed with it unsettled: the next
   * delivery counts an attempt, as a lost consumer's does). Never rejects.
   */
  async handBack(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'orphaned';
    this.lock.stop();
    await this.owner.receiver.abandonMessage(this.raw).catch(() => undefined);
    this.owner.done(this);
  }

  /** Gives it up without settling it (its lock runs out on the broker, which redelivers it). */
  orphan(): void {
    if (this.state !== 'open') return;
    this.state = 'orphaned';
    this.lock.stop();
    this.owner.done(this);
  }

  private async settle(what: string, run: () => Promise<void>): Promise<void> {
    if (this.state === 'settling' || this.state === 'settled') return;
    if (this.signal.aborted) {
      this.orphan();
      throw this.signal.reason as SluiceError;
    }
    if (this.state === 'orphaned' || this.owner.closing()) {
      this.orphan();
      throw new SluiceError(
        ErrorCodes.CLOSED,
        `message ${this.message.messageId}: the transport closed first; Service Bus redelivers it`,
      );
    }
    this.state = 'settling';
    const settlement = run();
    this.owner.settling(settlement);
    try {
      await settlement;
    } catch (error) {
      if (this.signal.aborted) throw this.signal.reason as SluiceError;
      throw toSluiceError(
        error,
        `could not ${what} message ${this.message.messageId}`,
        this.owner.redact,
        this.owner.closing(),
      );
    } finally {
      if (this.untouched) {
        this.untouched = false;
        this.state = 'open';
      } else {
        this.state = 'settled';
        this.lock.stop();
        this.owner.done(this);
      }
    }
  }
}
