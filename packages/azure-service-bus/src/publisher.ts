/**
 * Sends through one cached `ServiceBusSender` per entity, in batches sized by the broker's limit
 * (`createMessageBatch`: the sender link's maximum message size). A message that does not fit even
 * alone refuses the whole call before anything is sent, naming its size (as the SDK counts it) and the
 * limit. Every send is bounded by
 * the publish timeout, and by the transport's close deadline.
 */
import type {
  ServiceBusClient,
  ServiceBusMessage,
  ServiceBusMessageBatch,
  ServiceBusSender,
} from '@azure/service-bus';
import { ErrorCodes, IdleLatch, SluiceError, type Logger } from '@sluice/core';
import { toSluiceError } from './errors.js';

/**
 * A body of this many bytes or more is a data section with a 4-byte length in the SDK's encoding, so
 * in a batch each further byte of it adds exactly one byte.
 */
const probeBodyBytes = 256;

/**
 * How many bytes `message` takes in a batch of its own, as the SDK counts it (`sizeInBytes`; the
 * broker's limit applies to that), for a message that did not fit: measured on a copy whose body is
 * cut to {@link probeBodyBytes}, plus the bytes cut. Undefined when even the cut copy does not fit
 * (its properties alone are too large).
 */
async function sizeAlone(
  sender: ServiceBusSender,
  message: ServiceBusMessage,
  options: { abortSignal: AbortSignal },
): Promise<number | undefined> {
  const body = message.body as Buffer;
  const kept = Math.min(body.length, probeBodyBytes);
  const probe = await sender.createMessageBatch(options);
  if (!probe.tryAddMessage({ ...message, body: body.subarray(0, kept) })) return undefined;
  return probe.sizeInBytes + body.length - kept;
}

/** Messages for one entity, as {@link Publisher.send} takes them. */
export interface EntityMessages {
  readonly entity: string;
  readonly messages: readonly ServiceBusMessage[];
  /** Names message `index` in errors. */
  readonly describe: (index: number) => string;
  /** A missing entity then rejects with `SLUICE_UNROUTABLE`; otherwise the group is dropped. */
  readonly mustArrive: boolean;
}

export class Publisher {
  private readonly senders = new Map<string, ServiceBusSender>();
  /** Sends in flight, each with the controller that cancels it. */
  private readonly inFlight = new Set<AbortController>();
  private readonly sending = new IdleLatch();
  private closing: SluiceError | undefined;

  constructor(
    private readonly client: ServiceBusClient,
    private readonly publishTimeoutMs: number,
    private readonly redact: (text: string) => string,
    private readonly logger: Logger,
  ) {}

  /** Resolves once no send is in flight. */
  whenIdle(): Promise<void> {
    return this.sending.whenIdle();
  }

  /**
   * Sends each group to its entity; resolves when Service Bus accepted all of them. Every batch is
   * made before any is sent, so a message too large for one Service Bus message rejects the call with
   * `SLUICE_PUBLISH_REFUSED` (naming it, its size and the limit) and nothing is sent. A group whose
   * entity does not exist rejects with `SLUICE_UNROUTABLE` when it must arrive, and is dropped
   * otherwise. Other rejections as `toSluiceError` maps the SDK's failure, `SLUICE_DEADLINE_EXCEEDED`
   * after the publish timeout; batches sent before such a failure stay sent.
   */
  async send(groups: readonly EntityMessages[]): Promise<void> {
    if (this.closing !== undefined) throw this.closing;
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new SluiceError(
            ErrorCodes.DEADLINE_EXCEEDED,
            `Service Bus did not accept the message within ${this.publishTimeoutMs} ms`,
          ),
        ),
      this.publishTimeoutMs,
    );
    this.inFlight.add(controller);
    this.sending.enter();
    const options = { abortSignal: controller.signal };
    try {
      const prepared = await Promise.all(
        groups.map((group) => this.attempt(group, controller, () => this.batchesOf(group, options))),
      );
      await Promise.all(
        prepared.map(async (batches, i) => {
          const group = groups[i] as EntityMessages;
          await this.attempt(group, controller, async () => {
            for (const batch of batches ?? []) await this.senderOf(group.entity).sendMessages(batch, options);
          });
        }),
      );
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
      this.sending.leave();
    }
  }

  /** Cancels every send in flight with `error` (the close deadline passed); later sends reject with it. */
  abandon(error: SluiceError): void {
    this.closing = error;
    for (const controller of this.inFlight) controller.abort(error);
  }

  /** Refuses new sends from now on (the transport is closing). */
  refuse(error: SluiceError): void {
    this.closing = error;
  }

  /** Closes every sender. */
  async close(): Promise<void> {
    const senders = [...this.senders.values()];
    this.senders.clear();
    await Promise.all(
      senders.map((sender) =>
        sender
          .close()
          .catch((error: unknown) =>
            this.logger.debug({ err: this.redact(String(error)) }, 'could not close a Service Bus sender'),
          ),
      ),
    );
  }

  /** The group's batches; refuses a message that does not fit even alone. */
  private async batchesOf(
    { entity, messages, describe }: EntityMessages,
    options: { abortSignal: AbortSignal },
  ): Promise<ServiceBusMessageBatch[]> {
    const sender = this.senderOf(entity);
    const batches: ServiceBusMessageBatch[] = [];
    let batch: ServiceBusMessageBatch | undefined;
    for (const [index, message] of messages.entries()) {
      if (batch?.tryAddMessage(message)) continue;
      if (batch !== undefined) batches.push(batch);
      batch = await sender.createMessageBatch(options);
      if (batch.tryAddMessage(message)) continue;
      const size = await sizeAlone(sender, message, options);
      throw new SluiceError(
        ErrorCodes.PUBLISH_REFUSED,
        `${describe(index)} ${size === undefined ? `does not fit even with its body cut to ${probeBodyBytes} bytes (its properties alone are too large)` : `takes ${size} bytes on its own`}, over the ${batch.maxSizeInBytes}-byte limit of one Service Bus message to ${entity}; nothing was sent`,
      );
    }
    if (batch !== undefined) batches.push(batch);
    return batches;
  }

  /**
   * Runs one step of a group's send with its failures as Sluice errors: the timeout's or the close's
   * own error, a missing entity as `SLUICE_UNROUTABLE` or, when the group need not arrive, undefined.
   */
  private async attempt<T>(
    group: EntityMessages,
    controller: AbortController,
    step: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && reason instanceof SluiceError) throw reason;
      const failure = toSluiceError(
        error,
        `${group.describe(0)} to ${group.entity}`,
        this.redact,
        this.closing !== undefined,
      );
      if (failure.code !== ErrorCodes.UNROUTABLE) throw failure;
      if (!group.mustArrive) return undefined;
      throw new SluiceError(
        ErrorCodes.UNROUTABLE,
        `no queue for ${group.entity}: Service Bus has no such topic or queue (nothing subscribes to it yet)`,
      );
    }
  }

  private senderOf(entity: string): ServiceBusSender {
    const key = entity.toLowerCase();
    let sender = this.senders.get(key);
    if (sender === undefined) {
      sender = this.client.createSender(entity);
      this.senders.set(key, sender);
    }
    return sender;
  }
}
