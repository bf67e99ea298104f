/**
 * Sends through one cached `ServiceBusSender` per entity, in batches sized by the broker's limit
 * (`createMessageBatch`: the sender link's maximum message size). A message that does not fit even
 * alone is refused before anything is sent, naming its size and the limit. Every send is bounded by
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

/** About how many bytes `message` takes encoded (body, ids and properties; AMQP framing aside). */
function approximateSize(message: ServiceBusMessage): number {
  let size = Buffer.isBuffer(message.body)
    ? message.body.length
    : Buffer.byteLength(JSON.stringify(message.body ?? null));
  for (const field of [message.messageId, message.contentType, message.correlationId, message.subject]) {
    if (field !== undefined) size += Buffer.byteLength(String(field));
  }
  for (const [name, value] of Object.entries(message.applicationProperties ?? {})) {
    size += Buffer.byteLength(name) + (typeof value === 'string' ? Buffer.byteLength(value) : 9);
  }
  return size;
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
   * Sends `messages` to `entity`; resolves when Service Bus accepted all of them. Rejects (with
   * `describe(i)` naming the message) as `toSluiceError` maps the SDK's failure, with
   * `SLUICE_PUBLISH_REFUSED` for a message over the limit and `SLUICE_DEADLINE_EXCEEDED` after the
   * publish timeout. Batches sent before a failure stay sent.
   */
  async send(
    entity: string,
    messages: readonly ServiceBusMessage[],
    describe: (index: number) => string,
  ): Promise<void> {
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
      const sender = this.senderOf(entity);
      let batch: ServiceBusMessageBatch | undefined;
      for (const [index, message] of messages.entries()) {
        batch ??= await sender.createMessageBatch(options);
        if (batch.tryAddMessage(message)) continue;
        const tooLarge = () =>
          new SluiceError(
            ErrorCodes.PUBLISH_REFUSED,
            `${describe(index)} is about ${approximateSize(message)} bytes encoded, over the ${batch?.maxSizeInBytes}-byte limit of one Service Bus message to ${entity}`,
          );
        if (batch.count === 0) throw tooLarge();
        await sender.sendMessages(batch, options);
        batch = await sender.createMessageBatch(options);
        if (!batch.tryAddMessage(message)) throw tooLarge();
      }
      if (batch !== undefined && batch.count > 0) await sender.sendMessages(batch, options);
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && reason instanceof SluiceError) throw reason;
      throw toSluiceError(error, `${describe(0)} to ${entity}`, this.redact, this.closing !== undefined);
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
