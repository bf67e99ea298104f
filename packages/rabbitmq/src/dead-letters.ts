/**
 * Dead-letter tooling: list, inspect and replay the messages of `<queue>.dlq`. Listing and inspecting
 * never lose a message: messages are taken with `basic.get` without ack and all handed back (requeued)
 * at the end. A replay publishes the message to its source queue (keeping its id, without fault
 * headers, with `sluice-replayed-at`), waits for the broker's confirm, and only then removes the
 * dead-letter copy.
 */
import {
  deadLetterQueueName,
  ErrorCodes,
  Headers,
  isDeadLetterQueueName,
  queueOfDeadLetterQueue,
  readFault,
  defaultLogger,
  SluiceError,
  withoutFaultHeaders,
  type Fault,
  type Logger,
} from '@sluice/core';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage, type Message } from 'amqplib';
import { copyOptions, decode } from './envelope.js';
import { resolveConnection, type ConnectionSettings } from './resolve-options.js';
import type { DeadLetter, DeadLettersOptions, DeathRecord, ReplayResult } from './types.js';

/** Which dead letters {@link DeadLetters.replay} sends back. */
export type ReplaySelection = { readonly messageIds: readonly string[] } | { readonly all: true };

function deathsOf(raw: Message): DeathRecord[] {
  const deaths: unknown = raw.properties.headers?.['x-death'];
  if (!Array.isArray(deaths)) return [];
  return deaths.map((entry: unknown) => {
    const death = entry as Record<string, unknown>;
    const time = death.time as { value?: unknown } | undefined;
    const seconds = Number(time?.value);
    return {
      queue: String(death.queue ?? ''),
      reason: String(death.reason ?? ''),
      count: Number(death.count ?? 1),
      exchange: String(death.exchange ?? ''),
      routingKeys: Array.isArray(death['routing-keys']) ? death['routing-keys'].map(String) : [],
      time: Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined,
    };
  });
}

export class DeadLetters {
  private readonly settings: ConnectionSettings;
  private readonly logger: Logger;
  private connection: Promise<ChannelModel> | undefined;

  /** Validates the options (`SLUICE_INVALID_OPTION`); connects on first use. */
  constructor(options: DeadLettersOptions = {}) {
    this.settings = resolveConnection('DeadLetters', {
      url: options.url,
      tls: options.tls,
      connectionName: options.connectionName ?? 'sluice-dlq',
    });
    this.logger = (options.logger ?? defaultLogger).child({ tool: 'dead-letters' });
  }

  /** The dead-letter queue of `queue` (`<queue>.dlq`); a dead-letter queue name is taken as it is. */
  static queueOf(queue: string): string {
    return isDeadLetterQueueName(queue) ? queue : deadLetterQueueName(queue);
  }

  /**
   * Up to `limit` (default 100) messages from the head of the dead-letter queue, left in place.
   * Rejects with `SLUICE_INVALID_OPTION` when the dead-letter queue does not exist.
   */
  async list(queue: string, options: { readonly limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `DeadLetters.list: option "limit" must be an integer >= 1 (got ${limit})`,
      );
    }
    const dlq = DeadLetters.queueOf(queue);
    return this.browse(dlq, async (_channel, messages) => {
      const letters: DeadLetter[] = [];
      for await (const raw of messages) {
        letters.push(this.toDeadLetter(raw, dlq));
        if (letters.length >= limit) break;
      }
      return letters;
    });
  }

  /** The dead letter with `messageId`, left in place; undefined when it is not there. */
  async inspect(queue: string, messageId: string): Promise<DeadLetter | undefined> {
    const dlq = DeadLetters.queueOf(queue);
    return this.browse(dlq, async (_channel, messages) => {
      for await (const raw of messages) {
        if (raw.properties.messageId === messageId) return this.toDeadLetter(raw, dlq);
      }
      return undefined;
    });
  }

  /**
   * Sends the selected dead letters back to their source queue (the `sluice-fault-queue` header, else
   * RabbitMQ's `x-death` record, else the name without `.dlq`), each confirmed before its dead-letter
   * copy is removed. Messages that arrive during the replay are left for later. Rejects with
   * `SLUICE_UNROUTABLE` when a source queue no longer exists (that message stays dead-lettered).
   */
  async replay(queue: string, selection: ReplaySelection): Promise<ReplayResult> {
    const dlq = DeadLetters.queueOf(queue);
    const wanted = 'all' in selection ? undefined : new Set(selection.messageIds);
    const replayed: string[] = [];
    await this.browse(dlq, async (channel, messages) => {
      for await (const raw of messages) {
        const id = raw.properties.messageId as unknown;
        if (wanted !== undefined && (typeof id !== 'string' || !wanted.has(id))) continue;
        const letter = this.toDeadLetter(raw, dlq);
        await this.sendBack(channel, raw, letter);
        channel.ack(raw);
        replayed.push(letter.messageId);
        this.logger.info({ messageId: letter.messageId, queue: letter.sourceQueue }, 'dead letter replayed');
        if (wanted !== undefined && replayed.length === wanted.size) break;
      }
    });
    const done = new Set(replayed);
    return { replayed, notFound: wanted === undefined ? [] : [...wanted].filter((id) => !done.has(id)) };
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection !== undefined)
      await (await connection.catch(() => undefined))?.close().catch(() => undefined);
  }

  private connect(): Promise<ChannelModel> {
    this.connection ??= amqp.connect(this.settings.connect, this.settings.socket).then(
      (connection) => {
        connection.on('error', (error: unknown) => {
          this.logger.warn({ err: this.settings.redactor.error(error) }, 'RabbitMQ connection error');
        });
        return connection;
      },
      (error: unknown) => {
        this.connection = undefined;
        throw new SluiceError(
          ErrorCodes.CONNECTION_LOST,
          `cannot connect to RabbitMQ at ${this.settings.displayUrl}: ${this.settings.redactor.text(String((error as Error).message))}`,
        );
      },
    );
    return this.connection;
  }

  /**
   * Runs `work` over the messages present in `dlq` when it started (taken unacknowledged, one at a
   * time), then hands every message not acked back to the queue.
   */
  private async browse<T>(
    dlq: string,
    work: (channel: ConfirmChannel, messages: AsyncIterable<GetMessage>) => Promise<T>,
  ): Promise<T> {
    const channel = await (await this.connect()).createConfirmChannel();
    channel.on('error', () => undefined);
    try {
      let present: number;
      try {
        present = (await channel.checkQueue(dlq)).messageCount;
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) {
          throw new SluiceError(ErrorCodes.INVALID_OPTION, `dead-letter queue "${dlq}" does not exist`);
        }
        throw error;
      }
      async function* messages(): AsyncGenerator<GetMessage> {
        for (let taken = 0; taken < present; taken++) {
          const message = await channel.get(dlq, { noAck: false });
          if (message === false) return;
          yield message;
        }
      }
      return await work(channel, messages());
    } finally {
      try {
        channel.nackAll(true);
      } catch {
        // closed already: RabbitMQ requeues what it delivered on the channel
      }
      await channel.close().catch(() => undefined);
    }
  }

  private async sendBack(channel: ConfirmChannel, raw: Message, letter: DeadLetter): Promise<void> {
    const { message } = decode(raw);
    const kept = withoutFaultHeaders(message.headers);
    const remove = (name: string) => name === Headers.attempt || (name in message.headers && !(name in kept));
    const options = copyOptions(raw, message, { [Headers.replayedAt]: new Date().toISOString() }, remove);
    options.mandatory = true;
    let returned = false;
    const onReturn = (returnedMessage: Message) => {
      if (returnedMessage.properties.messageId === letter.messageId) returned = true;
    };
    channel.on('return', onReturn);
    try {
      await new Promise<void>((resolve, reject) => {
        channel.publish('', letter.sourceQueue, raw.content, options, (error: unknown) =>
          error === null || error === undefined
            ? resolve()
            : reject(new Error('RabbitMQ refused the replayed message (nack)')),
        );
      });
    } finally {
      channel.off('return', onReturn);
    }
    if (returned) {
      throw new SluiceError(
        ErrorCodes.UNROUTABLE,
        `cannot replay ${letter.messageId}: source queue "${letter.sourceQueue}" does not exist; it stays dead-lettered`,
      );
    }
  }

  private toDeadLetter(raw: Message, dlq: string): DeadLetter {
    const { message } = decode(raw);
    const deaths = deathsOf(raw);
    const ownFault = readFault(message.headers);
    const brokerDeath = deaths.find((d) => d.queue !== dlq);
    const sourceQueue =
      message.headers[Headers.faultQueue] ?? brokerDeath?.queue ?? queueOfDeadLetterQueue(dlq);
    let fault: Fault | undefined = ownFault;
    if (fault === undefined && brokerDeath?.reason === 'expired') {
      fault = {
        reason: 'expired',
        errorType: 'MessageExpired',
        errorMessage: `message expired in queue ${brokerDeath.queue} before it was consumed`,
        attempts: 0,
        consumer: '',
        queue: brokerDeath.queue,
        time: brokerDeath.time ?? new Date(0),
      };
    }
    return {
      messageId: message.messageId,
      type: message.type,
      correlationId: message.correlationId,
      sentAt: message.sentAt,
      headers: message.headers,
      fault,
      deaths,
      sourceQueue,
      contentType: message.contentType,
      body: message.body,
    };
  }
}
