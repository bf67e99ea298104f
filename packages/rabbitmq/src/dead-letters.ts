/**
 * Dead-letter tooling: list, inspect and replay the messages of `<queue>.dlq` without changing what
 * it holds. A browse takes each message (`basic.get`, unacknowledged), puts an exact copy of it back
 * at the tail of the queue, waits for the broker's confirm and only then acknowledges the original.
 * Handing it back instead (a requeue, or closing the channel) counts a delivery on quorum queues
 * (`x-delivery-count`, seen on RabbitMQ 3.10 for both), and under a delivery limit (RabbitMQ 4.x sets
 * 20 by default) the dead letters would vanish after a few browses; the copy starts at zero. A crash
 * between the confirm and the ack leaves a duplicate dead letter, never a loss.
 *
 * A replay publishes the message to its source queue (keeping its id, without fault headers, with
 * `sluice-replayed-at`), waits for the confirm, and only then removes the dead letter. A dead letter
 * that cannot be read in full (an odd `x-death`, an invalid `sluice-sent-at`) is shown with what could
 * be read and its `problems`; one that cannot be replayed is reported and kept; the rest go on.
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
  toError,
  withoutFaultHeaders,
  type Fault,
  type Logger,
} from '@sluice/core';
import amqp, {
  type ChannelModel,
  type ConfirmChannel,
  type GetMessage,
  type Message,
  type Options,
} from 'amqplib';
import { copyOptions, decode, distributionHeaders } from './envelope.js';
import { dateOfSeconds, fitHeaders, headerBudget, stringifyHeader, tableEntries } from './field-values.js';
import { publishInternals } from './amqplib-fast-path.js';
import {
  guardFrameDecoding,
  unreadableContentHeader,
  unreadableHeaders,
  withoutTopLevelHeaders,
} from './frame-decoding.js';
import { encodeVerbatimPublish } from './publish-frames.js';
import { resolveConnection, type ConnectionSettings } from './resolve-options.js';
import type { DeadLetter, DeadLettersOptions, DeathRecord, ReplayResult } from './types.js';

/** Which dead letters {@link DeadLetters.replay} sends back. */
export type ReplaySelection = { readonly messageIds: readonly string[] } | { readonly all: true };

/** RabbitMQ's `x-death` records, as far as they can be read; what cannot is named in `problems`. */
function deathsOf(raw: Message, problems: string[]): DeathRecord[] {
  const headers: unknown = raw.properties?.headers;
  if (typeof headers !== 'object' || headers === null) return [];
  const deaths = tableEntries(headers).find(([name]) => name === 'x-death')?.[1];
  if (deaths === undefined) return [];
  if (!Array.isArray(deaths)) {
    problems.push('header x-death is not an array');
    return [];
  }
  const records: DeathRecord[] = [];
  deaths.forEach((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || ArrayBuffer.isView(entry)) {
      problems.push(`x-death[${index}] is not a table`);
      return;
    }
    const death = new Map(tableEntries(entry));
    const text = (name: string) => (death.has(name) ? stringifyHeader(death.get(name)) : '');
    const count = death.get('count');
    const keys = death.get('routing-keys');
    const time = death.get('time') as { value?: unknown } | undefined;
    const seconds = typeof time === 'object' && time !== null ? time.value : undefined;
    if (count !== undefined && typeof count !== 'number')
      problems.push(`x-death[${index}].count is not a number`);
    records.push({
      queue: text('queue'),
      reason: text('reason'),
      count: typeof count === 'number' ? count : 1,
      exchange: text('exchange'),
      routingKeys: Array.isArray(keys) ? keys.map((key: unknown) => stringifyHeader(key)) : [],
      time: dateOfSeconds(seconds),
    });
  });
  return records;
}

/**
 * Headers a dead letter put back leaves out: RabbitMQ's delivery count, and the `CC` / `BCC` lists it
 * would send a copy to the queues of again.
 */
const putBackDrops: ReadonlySet<string> = new Set(['x-delivery-count', ...distributionHeaders]);

/** The confirm callback of a dead letter put back in `dlq`. */
function putBackConfirmed(
  dlq: string,
  resolve: () => void,
  reject: (error: Error) => void,
): (error: unknown) => void {
  return (error) =>
    error === null || error === undefined
      ? resolve()
      : reject(
          new SluiceError(ErrorCodes.QUEUE_FULL, `RabbitMQ refused to keep a dead letter in ${dlq} (nack)`),
        );
}

/** What a browse does with a dead letter it took. */
type Verdict = 'keep' | 'removed';

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

  /**
   * The broker this tool reads, as resolved from `url` (else `AMQP_URL`, else the local default):
   * host, port, vhost and user name, never the password. For messages that say where it looked.
   */
  get broker(): {
    readonly host: string;
    readonly port: number;
    readonly vhost: string;
    readonly user: string;
  } {
    const { connect, vhost, username } = this.settings;
    return { host: connect.hostname ?? '', port: connect.port ?? 5672, vhost, user: username };
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
    const letters: DeadLetter[] = [];
    await this.browse(dlq, async (letter) => {
      letters.push(letter);
      return letters.length >= limit ? 'stop' : 'keep';
    });
    return letters;
  }

  /** The dead letter with `messageId`, left in place; undefined when it is not there. */
  async inspect(queue: string, messageId: string): Promise<DeadLetter | undefined> {
    const dlq = DeadLetters.queueOf(queue);
    let found: DeadLetter | undefined;
    await this.browse(dlq, async (letter) => {
      if (letter.messageId !== messageId) return 'keep';
      found = letter;
      return 'stop';
    });
    return found;
  }

  /**
   * Sends the selected dead letters back to their source queue (the `sluice-fault-queue` header, else
   * RabbitMQ's `x-death` record, else the name without `.dlq`), each confirmed before its dead-letter
   * copy is removed. Messages that arrive during the replay are left for later. One that cannot be
   * sent back (its source queue no longer exists: `SLUICE_UNROUTABLE`) stays dead-lettered and is
   * listed in `failed`; the others go on.
   */
  async replay(queue: string, selection: ReplaySelection): Promise<ReplayResult> {
    const dlq = DeadLetters.queueOf(queue);
    const wanted = 'all' in selection ? undefined : new Set(selection.messageIds);
    const replayed: string[] = [];
    const failed: { messageId: string; error: string }[] = [];
    await this.browse(dlq, async (letter, raw, channel) => {
      if (wanted !== undefined && !wanted.has(letter.messageId)) return 'keep';
      try {
        await this.sendBack(channel, raw, letter);
      } catch (error) {
        failed.push({
          messageId: letter.messageId,
          error: this.settings.redactor.text(toError(error).message),
        });
        return 'keep';
      }
      replayed.push(letter.messageId);
      this.logger.info({ messageId: letter.messageId, queue: letter.sourceQueue }, 'dead letter replayed');
      return 'removed';
    });
    const done = new Set([...replayed, ...failed.map((f) => f.messageId)]);
    return {
      replayed,
      notFound: wanted === undefined ? [] : [...wanted].filter((id) => !done.has(id)),
      failed,
    };
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection !== undefined)
      await (await connection.catch(() => undefined))?.close().catch(() => undefined);
  }

  /** The connection, opened on first use and again after it was lost (the next call reconnects). */
  private connect(): Promise<ChannelModel> {
    if (this.connection !== undefined) return this.connection;
    const opening = amqp.connect(this.settings.connect, this.settings.socket).then(
      (connection) => {
        guardFrameDecoding(connection);
        connection.on('error', (error: unknown) => {
          this.logger.warn({ err: this.settings.redactor.error(error) }, 'RabbitMQ connection error');
        });
        connection.on('close', () => {
          if (this.connection === opening) this.connection = undefined;
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
    this.connection = opening;
    return opening;
  }

  /**
   * Visits the messages present in `dlq` when it started, one at a time: each is taken unacknowledged,
   * shown to `visit`, and either removed by it or put back as an exact copy at the tail (confirmed
   * before the original is acknowledged). Stops early when `visit` says `stop` (that letter is kept).
   * A dead letter whose headers cannot be read is put back as the bytes it arrived with; where that
   * cannot be done (see `putBackVerbatim`) it is held until the browse ends and then handed back as it
   * is (on a quorum queue that counts a delivery).
   */
  private async browse(
    dlq: string,
    visit: (letter: DeadLetter, raw: Message, channel: ConfirmChannel) => Promise<Verdict | 'stop'>,
  ): Promise<void> {
    const channel = await (await this.connect()).createConfirmChannel();
    channel.on('error', () => undefined);
    const held: Message[] = [];
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
      for (let taken = 0; taken < present; taken++) {
        const raw: GetMessage | false = await channel.get(dlq, { noAck: false });
        if (raw === false) return;
        const verdict = await visit(this.toDeadLetter(raw, dlq), raw, channel);
        if (verdict === 'removed') channel.ack(raw);
        else if (unreadableHeaders(raw.properties) !== undefined) {
          if (await this.putBackVerbatim(channel, raw, dlq)) channel.ack(raw);
          else held.push(raw);
        } else {
          await this.putBack(channel, raw, dlq);
          channel.ack(raw);
        }
        if (verdict === 'stop') return;
      }
    } finally {
      try {
        for (const raw of held) channel.nack(raw, false, true);
      } catch {
        // the channel is gone, and the broker has handed them back already
      }
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Publishes an exact copy of `raw` to the tail of `dlq` and waits for the confirm (without `CC` and
   * `BCC`, which would send a copy to the queues they name each time).
   */
  private async putBack(channel: ConfirmChannel, raw: Message, dlq: string): Promise<void> {
    const properties = raw.properties as unknown as Record<string, unknown>;
    const source: unknown = properties.headers;
    // Kept as they are but for RabbitMQ's delivery count and the CC / BCC lists it would act on again.
    const kept = (typeof source === 'object' && source !== null ? tableEntries(source) : []).filter(
      ([name]) => !putBackDrops.has(name),
    );
    const options: Options.Publish = { headers: fitHeaders(kept, {}, headerBudget(131_072)).headers };
    for (const name of [
      'contentType',
      'contentEncoding',
      'correlationId',
      'replyTo',
      'expiration',
      'messageId',
      'type',
      'appId',
    ] as const) {
      const value = properties[name];
      if (typeof value === 'string') options[name] = value;
    }
    const { deliveryMode, priority, timestamp, userId } = properties;
    if (typeof deliveryMode === 'number') options.deliveryMode = deliveryMode;
    if (typeof priority === 'number') options.priority = priority;
    if (typeof timestamp === 'number' && Number.isInteger(timestamp) && timestamp >= 0 && timestamp < 2 ** 64)
      options.timestamp = timestamp;
    // RabbitMQ refuses a user-id other than the publisher's own (it closes the channel).
    if (userId === this.settings.username) options.userId = userId;
    await new Promise<void>((resolve, reject) => {
      channel.publish('', dlq, raw.content, options, putBackConfirmed(dlq, resolve, reject));
    });
  }

  /**
   * Puts back a dead letter whose header table cannot be read as the bytes it arrived with (without
   * the top-level `CC`, `BCC` and `x-delivery-count` entries, as {@link putBack} leaves them out) and
   * waits for the confirm. False, with nothing sent, where amqplib's internals are not the ones known
   * (an instrumentation wraps the channel) or the table cannot be walked.
   */
  private async putBackVerbatim(channel: ConfirmChannel, raw: Message, dlq: string): Promise<boolean> {
    const received = unreadableContentHeader(raw.properties);
    const internals = publishInternals(channel);
    const writeFrames = internals?.writeFrames;
    if (received === undefined || internals === undefined || writeFrames === undefined) return false;
    const header = withoutTopLevelHeaders(received, putBackDrops);
    const frames =
      header &&
      encodeVerbatimPublish(internals.channelNumber, internals.frameMax, '', dlq, header, raw.content);
    if (frames === undefined) return false;
    await new Promise<void>((resolve, reject) => {
      writeFrames(frames);
      internals.pushConfirmCallback(putBackConfirmed(dlq, resolve, reject));
    });
    return true;
  }

  private async sendBack(channel: ConfirmChannel, raw: Message, letter: DeadLetter): Promise<void> {
    const unreadable = unreadableHeaders(raw.properties);
    if (unreadable !== undefined) {
      throw new SluiceError(
        ErrorCodes.DECODE_FAILED,
        `cannot replay ${letter.messageId} as it was: ${unreadable}; it stays dead-lettered`,
      );
    }
    const kept = withoutFaultHeaders(letter.headers);
    const remove = (name: string) => name === Headers.attempt || (name in letter.headers && !(name in kept));
    const message = { ...letter, sentAt: letter.sentAt ?? new Date(), headers: letter.headers };
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

  /** What can be shown of a dead letter; never throws (what could not be read is in `problems`). */
  private toDeadLetter(raw: Message, dlq: string): DeadLetter {
    const { message, problems: envelopeProblems } = decode(raw);
    const problems = [...envelopeProblems];
    const deaths = deathsOf(raw, problems);
    const ownFault = readFault(message.headers);
    if (ownFault !== undefined && !Number.isFinite(ownFault.time.getTime()))
      problems.push(`header ${Headers.faultTime} is not a time`);
    const brokerDeath = deaths.find((d) => d.queue !== '' && d.queue !== dlq);
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
    const sentAtUnreadable = envelopeProblems.some(
      (p) => p.includes(Headers.sentAt) || p.includes('timestamp'),
    );
    return {
      messageId: message.messageId,
      type: message.type,
      correlationId: message.correlationId,
      sentAt: sentAtUnreadable ? undefined : message.sentAt,
      headers: message.headers,
      fault,
      deaths,
      sourceQueue,
      contentType: message.contentType,
      body: message.body,
      problems,
    };
  }
}
