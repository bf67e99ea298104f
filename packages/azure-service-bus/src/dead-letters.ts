/**
 * Dead-letter tooling on Service Bus: list, inspect and replay the messages of a queue's
 * `$DeadLetterQueue`. Browsing peeks (no lock, nothing changes). A replay receives the selected dead
 * letters under peek-lock, sends each to its queue as a copy (a new Service Bus id carrying the same
 * Sluice message id, fault properties removed, `sluice-replayed-at` added), and completes the dead
 * letter only after Service Bus accepted the copy: a crash in between gives a duplicate, never a
 * loss. Dead letters it was not asked for are abandoned (they stay, their delivery count + 1).
 */
import type {
  ServiceBusClient,
  ServiceBusReceivedMessage,
  ServiceBusReceiver,
  ServiceBusSender,
} from '@azure/service-bus';
import {
  deadLetterSubQueueName,
  defaultLogger,
  entityOfDeadLetterSubQueue,
  ErrorCodes,
  Headers,
  OptionChecker,
  readFault,
  SluiceError,
  withoutFaultHeaders,
  type Logger,
} from '@sluice/core';
import { createClients, resolveConnection, resolveRetry, type ResolvedConnection } from './connection.js';
import { fromServiceBusMessage, toServiceBusMessage } from './envelope.js';
import { isEntityNotFound, toSluiceError } from './errors.js';
import type { DeadLetter, DeadLettersOptions, ReplayResult } from './types.js';

/** Which dead letters {@link DeadLetters.replay} sends back. */
export type ReplaySelection = { readonly messageIds: readonly string[] } | { readonly all: true };

/** Most dead letters one call looks through (a bound on a queue that keeps filling). */
const maxScanned = 10_000;
const pageSize = 100;

export class DeadLetters {
  /** Where it reads, for messages: `Azure Service Bus sb://<host>:<port>`; never a secret. */
  readonly location: string;
  private readonly connection: ResolvedConnection;
  private readonly retry: ReturnType<typeof resolveRetry>;
  private readonly logger: Logger;

  /** Validates the options (throws `SLUICE_INVALID_OPTION` naming one, never showing a key). */
  constructor(options: DeadLettersOptions) {
    this.connection = resolveConnection(new OptionChecker('DeadLetters'), options);
    this.retry = resolveRetry(new OptionChecker('DeadLetters', this.connection.redact), options.retry);
    this.logger = (options.logger ?? defaultLogger).child({ tool: 'service-bus-dead-letters' });
    this.location = `Azure Service Bus ${this.connection.describe}`;
  }

  /** The queue whose dead letters `queue` names (the queue itself, or `<queue>/$DeadLetterQueue`). */
  static queueOf(queue: string): string {
    return entityOfDeadLetterSubQueue(queue) ?? queue;
  }

  /** `<queue>/$DeadLetterQueue`. */
  static deadLetterQueueOf(queue: string): string {
    return deadLetterSubQueueName(DeadLetters.queueOf(queue));
  }

  /** Up to `limit` (default 100) dead letters of `queue`, oldest first, left in place. Rejects when there is no such queue. */
  async list(queue: string, { limit = 100 }: { limit?: number } = {}): Promise<DeadLetter[]> {
    const source = DeadLetters.queueOf(queue);
    return this.withReceiver(source, async (receiver) => {
      const letters: DeadLetter[] = [];
      while (letters.length < limit) {
        const page = await receiver.peekMessages(Math.min(pageSize, limit - letters.length));
        if (page.length === 0) break;
        letters.push(...page.map((raw) => this.read(raw, source)));
      }
      return letters;
    });
  }

  /** The dead letter with Sluice message id `messageId`, left in place; undefined when it is not there. */
  async inspect(queue: string, messageId: string): Promise<DeadLetter | undefined> {
    const source = DeadLetters.queueOf(queue);
    return this.withReceiver(source, async (receiver) => {
      for (let scanned = 0; scanned < maxScanned;) {
        const page = await receiver.peekMessages(pageSize);
        if (page.length === 0) return undefined;
        scanned += page.length;
        const found = page
          .map((raw) => this.read(raw, source))
          .find((letter) => letter.messageId === messageId);
        if (found !== undefined) return found;
      }
      return undefined;
    });
  }

  /** Sends the selected dead letters back to their queue; resolves with what it did. */
  async replay(queue: string, selection: ReplaySelection): Promise<ReplayResult> {
    const source = DeadLetters.queueOf(queue);
    const wanted = 'all' in selection ? undefined : new Set(selection.messageIds);
    const replayed: string[] = [];
    const failed: { messageId: string; error: string }[] = [];
    await this.withReceiver(source, async (receiver, client) => {
      const sender = client.createSender(source);
      try {
        const skipped: ServiceBusReceivedMessage[] = [];
        for (let scanned = 0; scanned < maxScanned && (wanted === undefined || wanted.size > 0);) {
          const batch = await receiver.receiveMessages(pageSize, { maxWaitTimeInMs: 1_000 });
          if (batch.length === 0) break;
          scanned += batch.length;
          for (const raw of batch) {
            const { message } = fromServiceBusMessage(raw);
            if (wanted !== undefined && !wanted.has(message.messageId)) {
              skipped.push(raw);
              continue;
            }
            wanted?.delete(message.messageId);
            try {
              await this.send(sender, raw, source);
              await receiver.completeMessage(raw);
              replayed.push(message.messageId);
            } catch (error) {
              failed.push({
                messageId: message.messageId,
                error: toSluiceError(error, 'replay', this.connection.redact).message,
              });
              await receiver.abandonMessage(raw).catch(() => undefined);
            }
          }
        }
        // Abandoned only now: abandoned at once, they would come back in the same scan.
        for (const raw of skipped) await receiver.abandonMessage(raw).catch(() => undefined);
      } finally {
        await sender.close().catch(() => undefined);
      }
    });
    return { replayed, failed, notFound: wanted === undefined ? [] : [...wanted] };
  }

  /** Nothing stays open between calls (each has a connection of its own); kept for the tools' contract. */
  async close(): Promise<void> {}

  private async send(
    sender: ServiceBusSender,
    raw: ServiceBusReceivedMessage,
    source: string,
  ): Promise<void> {
    const { message } = fromServiceBusMessage(raw);
    const headers = {
      ...withoutFaultHeaders(message.headers),
      [Headers.replayedAt]: new Date().toISOString(),
    };
    await sender.sendMessages(toServiceBusMessage({ ...message, headers }, {}, true));
    this.logger.info({ messageId: message.messageId, queue: source }, 'dead letter replayed');
  }

  /**
   * Runs `work` on a receiver of `source`'s dead letters, on a client of its own: the SDK pages peeks
   * per client and entity, so a shared client would start a second browse where the first ended.
   */
  private async withReceiver<T>(
    source: string,
    work: (receiver: ServiceBusReceiver, client: ServiceBusClient) => Promise<T>,
  ): Promise<T> {
    const { client } = await createClients(this.connection, this.retry);
    const receiver = client.createReceiver(source, {
      subQueueType: 'deadLetter',
      skipParsingBodyAsJson: true,
    });
    try {
      return await work(receiver, client);
    } catch (error) {
      if (isEntityNotFound(error)) {
        throw new SluiceError(ErrorCodes.UNROUTABLE, `no queue ${source} on ${this.location}`);
      }
      throw toSluiceError(error, `reading the dead letters of ${source}`, this.connection.redact);
    } finally {
      await receiver.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    }
  }

  private read(raw: ServiceBusReceivedMessage, source: string): DeadLetter {
    const { message, problems } = fromServiceBusMessage(raw);
    return {
      messageId: message.messageId,
      type: message.type,
      contentType: message.contentType,
      correlationId: message.correlationId,
      sentAt: message.sentAt,
      headers: message.headers,
      body: message.body,
      fault: readFault(message.headers),
      reason: raw.deadLetterReason,
      description: raw.deadLetterErrorDescription,
      sourceQueue: source,
      sequenceNumber: raw.sequenceNumber?.toString() ?? '',
      problems,
    };
  }
}
