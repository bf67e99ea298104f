/**
 * The Sluice envelope on AMQP 0-9-1: message id, type, correlation id, content type and timestamp as
 * basic properties; what AMQP has no field for (exact send time, causation id, attempt) in headers.
 */
import { randomUUID } from 'node:crypto';
import { Headers, type OutgoingMessage, type TransportMessage } from '@sluice/core';
import type { Message, Options } from 'amqplib';
import {
  bytesAsText,
  dateOfSeconds,
  emptyTable,
  fitHeaders,
  headerBudget,
  stringifyHeader,
  tableEntries,
  truncateUtf8,
} from './field-values.js';
import { unreadableHeaders } from './frame-decoding.js';

/** Headers RabbitMQ itself adds; they are not application headers and never copied on a republish. */
const brokerHeaders: ReadonlySet<string> = new Set([
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
  'x-received-from',
]);

/**
 * Headers RabbitMQ acts on when a message is published: sender-selected distribution sends a copy to
 * every routing key listed in `CC` and `BCC` (arrays of strings; a string closes the channel). A
 * republished copy (retry, release, dead letter, replay, a browsed dead letter put back) never keeps
 * them, or every copy would be sent to those queues again.
 * https://www.rabbitmq.com/docs/sender-selected
 */
export const distributionHeaders: ReadonlySet<string> = new Set(['CC', 'BCC']);

export type AmqpHeaders = Record<string, unknown>;

/** AMQP publish options for a message handed to `Transport.publish`. */
export function publishOptions(message: OutgoingMessage, persistent: boolean): Options.Publish {
  const sentAt = message.sentAt.getTime();
  const headers: AmqpHeaders = { ...message.headers, [Headers.sentAt]: String(sentAt) };
  if (message.causationId !== undefined) headers[Headers.causationId] = message.causationId;
  const options: Options.Publish = {
    messageId: message.messageId,
    type: message.type,
    contentType: message.contentType,
    timestamp: Math.floor(sentAt / 1000),
    persistent,
    mandatory: message.mandatory,
    headers,
  };
  if (message.correlationId !== undefined) options.correlationId = message.correlationId;
  if (message.ttlMs !== undefined) options.expiration = String(message.ttlMs);
  return options;
}

/** A delivered message; also remembers the exchange and routing key it came through. */
export class ReceivedMessage implements TransportMessage {
  readonly #exchange: string;
  readonly #routingKey: string;

  constructor(
    readonly messageId: string,
    readonly type: string,
    readonly contentType: string,
    readonly correlationId: string | undefined,
    readonly causationId: string | undefined,
    readonly sentAt: Date,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: Uint8Array,
    exchange: string,
    routingKey: string,
  ) {
    this.#exchange = exchange;
    this.#routingKey = routingKey;
  }

  /** The exchange it was published to (a getter: not an own property of the envelope). */
  get sourceExchange(): string {
    return this.#exchange;
  }

  /** The routing key it was published with. */
  get sourceRoutingKey(): string {
    return this.#routingKey;
  }
}

/**
 * What could be read of a delivered message. Reading never throws: a field that cannot be read is
 * given its default and named in `problems`, and a consumer dead-letters such a message
 * (`decode-failed`) instead of handling it.
 */
export interface Envelope {
  readonly message: ReceivedMessage;
  /** The `sluice-attempt` header (1 without it) plus {@link redeliveries}. */
  readonly attempt: number;
  /** Times the message came back to its queue unsettled (see `redeliveriesOf`). */
  readonly redeliveries: number;
  /** Envelope fields present on the wire but unreadable (an out-of-range time, an overlong id...). */
  readonly problems: readonly string[];
}

const maxShortString = 255;

/** A `shortstr` property as read: longer than 255 bytes once decoded (invalid UTF-8) is a problem. */
function shortString(
  properties: Record<string, unknown>,
  name: string,
  problems: string[],
): string | undefined {
  const value = properties[name];
  if (typeof value !== 'string' || value === '') return undefined;
  if (Buffer.byteLength(value) <= maxShortString) return value;
  problems.push(`property ${name} is longer than ${maxShortString} bytes once read as UTF-8`);
  return truncateUtf8(value, maxShortString);
}

function sentAtOf(sentAtHeader: unknown, timestamp: unknown, problems: string[]): Date {
  if (sentAtHeader !== undefined) {
    // Epoch milliseconds; an ISO 8601 time is read too.
    const text =
      typeof sentAtHeader === 'string'
        ? sentAtHeader
        : typeof sentAtHeader === 'number' && Number.isInteger(sentAtHeader)
          ? String(sentAtHeader)
          : '';
    const ms = /^-?\d{1,16}$/.test(text) ? Number(text) : text === '' ? Number.NaN : Date.parse(text);
    if (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15) return new Date(ms);
    problems.push(
      `header ${Headers.sentAt} (${JSON.stringify(stringifyHeader(sentAtHeader).slice(0, 64))}) is not a time`,
    );
  } else if (timestamp !== undefined) {
    const date = dateOfSeconds(timestamp);
    if (date !== undefined) return date;
    problems.push(`property timestamp (${String(timestamp)} s) is outside the range of a date`);
  }
  return new Date();
}

function recordedAttempt(recorded: unknown): number {
  const number = typeof recorded === 'string' || typeof recorded === 'number' ? Number(recorded) : Number.NaN;
  return Number.isSafeInteger(number) && number >= 1 ? number : 1;
}

/**
 * Returns of the message to its queue unsettled. Quorum queues count every one (a lost consumer, a
 * requeue) in `x-delivery-count`, which they set on a redelivery only: on a first delivery the header
 * is its publisher's (a shovel's copy of a message from another queue) and counts nothing. Classic
 * queues only flag a redelivery, and the subscription counts the losses it saw.
 */
function redeliveriesOf(deliveryCount: unknown, redelivered: boolean, lostDeliveries: number): number {
  if (!redelivered) return 0;
  if (typeof deliveryCount === 'number' && Number.isSafeInteger(deliveryCount) && deliveryCount > 0)
    return deliveryCount;
  return Math.max(1, lostDeliveries);
}

/**
 * Reads a delivered message; never throws. Messages from foreign publishers get defaults (a fresh
 * message id, type `''`, `application/octet-stream`, the time of reading); headers of any AMQP type
 * are read as strings, on an object without a prototype. `lostDeliveries`: how often this message was
 * seen lost with its channel before (classic queues; at least 1 when RabbitMQ flags a redelivery).
 */
export function decode(raw: Message, lostDeliveries = 0): Envelope {
  const problems: string[] = [];
  const properties = (raw.properties ?? {}) as unknown as Record<string, unknown>;
  const unreadable = unreadableHeaders(properties);
  if (unreadable !== undefined) problems.push(unreadable);
  const source: unknown = properties.headers;
  const entries = typeof source === 'object' && source !== null ? tableEntries(source) : [];
  const headers = emptyTable<string>();
  let sentAt: unknown;
  let causation: unknown;
  let attempt: unknown;
  let deliveryCount: unknown;
  for (const [name, value] of entries) {
    if (name === Headers.sentAt) sentAt = bytesAsText(value);
    else if (name === Headers.causationId) causation = value;
    else if (name === Headers.attempt) attempt = bytesAsText(value);
    else if (name === 'x-delivery-count') deliveryCount = value;
    else if (!brokerHeaders.has(name)) headers[name] = stringifyHeader(value);
  }
  const fields = raw.fields ?? ({} as Message['fields']);
  const redelivered = fields.redelivered === true;
  const message = new ReceivedMessage(
    // Without a producer id every delivery would look like one message to deduplication.
    shortString(properties, 'messageId', problems) ?? randomUUID(),
    shortString(properties, 'type', problems) ?? '',
    shortString(properties, 'contentType', problems) ?? 'application/octet-stream',
    shortString(properties, 'correlationId', problems),
    causation === undefined ? undefined : stringifyHeader(causation),
    sentAtOf(sentAt, properties.timestamp, problems),
    headers,
    Buffer.isBuffer(raw.content) ? raw.content : Buffer.alloc(0),
    typeof fields.exchange === 'string' ? fields.exchange : '',
    typeof fields.routingKey === 'string' ? fields.routingKey : '',
  );
  const redeliveries = redeliveriesOf(deliveryCount, redelivered, lostDeliveries);
  return { message, attempt: recordedAttempt(attempt) + redeliveries, redeliveries, problems };
}

/**
 * Publish options for a copy of a received message (retry, release, dead-letter, replay): properties
 * and headers kept (typed values as they were, made encodable again where amqplib could not write
 * them back), RabbitMQ's bookkeeping headers, `CC` and `BCC` ({@link distributionHeaders}) and the
 * per-message expiration dropped, `set` applied
 * last and `remove` left out, all within `headerBudget` bytes (headers that do not fit are left out
 * and named in `sluice-dropped-headers`).
 */
export function copyOptions(
  raw: Message,
  decoded: TransportMessage,
  set: Readonly<Record<string, string>>,
  remove: (name: string) => boolean = () => false,
  budget = headerBudget(131_072),
): Options.Publish {
  const properties = (raw.properties ?? {}) as unknown as Record<string, unknown>;
  const source: unknown = properties.headers;
  const kept = (typeof source === 'object' && source !== null ? tableEntries(source) : []).filter(
    ([name]) => !brokerHeaders.has(name) && !distributionHeaders.has(name) && !remove(name),
  );
  const extra: Record<string, string> = {};
  if (!kept.some(([name]) => name === Headers.sentAt))
    extra[Headers.sentAt] = String(decoded.sentAt.getTime());
  const { headers, dropped } = fitHeaders(kept, { ...extra, ...set }, budget);
  if (dropped.length > 0) headers[Headers.droppedHeaders] = truncateUtf8(dropped.join(','), 1_024);
  const options: Options.Publish = {
    messageId: decoded.messageId,
    type: decoded.type,
    contentType: decoded.contentType,
    persistent: true,
    headers,
  };
  if (decoded.correlationId !== undefined) options.correlationId = decoded.correlationId;
  const { timestamp, priority } = properties;
  if (typeof timestamp === 'number' && Number.isInteger(timestamp) && timestamp >= 0 && timestamp <= 2 ** 63)
    options.timestamp = timestamp;
  for (const name of ['contentEncoding', 'appId', 'replyTo'] as const) {
    const value = properties[name];
    if (typeof value === 'string') options[name] = truncateUtf8(value, maxShortString);
  }
  if (typeof priority === 'number') options.priority = priority;
  return options;
}

/**
 * Destination name as the OpenTelemetry messaging conventions spell it for RabbitMQ:
 * `{exchange}:{routing key}[:{queue}]` with empty parts omitted, `amq.default` for the default exchange
 * without a key.
 */
export function destinationName(exchange: string, routingKey: string, queue?: string): string {
  const parts: string[] = [];
  if (exchange !== '') parts.push(exchange);
  if (routingKey !== '') parts.push(routingKey);
  if (queue !== undefined && queue !== '') parts.push(queue);
  return parts.length === 0 ? 'amq.default' : parts.join(':');
}
