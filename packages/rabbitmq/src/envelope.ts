/**
 * The Sluice envelope on AMQP 0-9-1: message id, type, correlation id, content type and timestamp as
 * basic properties; what AMQP has no field for (exact send time, causation id, attempt) in headers.
 */
import { randomUUID } from 'node:crypto';
import { Headers, type OutgoingMessage, type TransportMessage } from '@sluice/core';
import type { Message, Options } from 'amqplib';

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

/** Envelope fields carried in headers; surfaced as envelope fields, not as application headers. */
const envelopeHeaders: ReadonlySet<string> = new Set([Headers.sentAt, Headers.causationId, Headers.attempt]);

export type AmqpHeaders = Record<string, unknown>;

/** A header value from any publisher as a string: numbers, booleans, timestamps, bytes and tables. */
export function stringifyHeader(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) return '';
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'object' && (value as { '!'?: unknown })['!'] === 'timestamp') {
    const seconds = Number((value as { value?: unknown }).value);
    return Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : '';
  }
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
  } catch {
    return String(value);
  }
}

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

/** A received message as Sluice sees it, with its attempt number. */
export interface Decoded {
  readonly message: TransportMessage;
  readonly attempt: number;
}

function sentAtOf(headers: AmqpHeaders, timestamp: unknown): Date {
  const exact = headers[Headers.sentAt];
  if (typeof exact === 'string') {
    // Epoch milliseconds; an ISO 8601 time is read too.
    const ms =
      exact.length > 0 && exact.length <= 16 && !Number.isNaN(Number(exact))
        ? Number(exact)
        : Date.parse(exact);
    if (!Number.isNaN(ms)) return new Date(ms);
  }
  if (typeof timestamp === 'number' && Number.isFinite(timestamp)) return new Date(timestamp * 1000);
  return new Date();
}

function attemptOf(headers: AmqpHeaders, redelivered: boolean): number {
  const recorded = Number(headers[Headers.attempt] ?? 1);
  const base = Number.isInteger(recorded) && recorded >= 1 ? recorded : 1;
  // Quorum queues count every return of the message to the queue (a lost consumer, a requeue);
  // classic queues only flag a redelivery.
  const count = headers['x-delivery-count'];
  if (typeof count === 'number' && count > 0) return base + count;
  return redelivered ? base + 1 : base;
}

/** Decodes a delivered message. Messages from foreign publishers get defaults, never an exception. */
export function decode(raw: Message): Decoded {
  const { properties } = raw;
  const amqpHeaders: AmqpHeaders = properties.headers ?? {};
  const headers: Record<string, string> = {};
  for (const name in amqpHeaders) {
    if (!brokerHeaders.has(name) && !envelopeHeaders.has(name))
      headers[name] = stringifyHeader(amqpHeaders[name]);
  }
  const causation = amqpHeaders[Headers.causationId];
  const message = new ReceivedMessage(
    // Without a producer id every delivery would look like one message to deduplication.
    typeof properties.messageId === 'string' && properties.messageId !== ''
      ? properties.messageId
      : randomUUID(),
    typeof properties.type === 'string' ? properties.type : '',
    typeof properties.contentType === 'string' ? properties.contentType : 'application/octet-stream',
    typeof properties.correlationId === 'string' ? properties.correlationId : undefined,
    causation === undefined ? undefined : stringifyHeader(causation),
    sentAtOf(amqpHeaders, properties.timestamp),
    headers,
    raw.content,
    raw.fields.exchange,
    raw.fields.routingKey,
  );
  return { message, attempt: attemptOf(amqpHeaders, raw.fields.redelivered) };
}

/**
 * Publish options for a copy of a received message (retry, release, dead-letter, replay): properties
 * and headers kept (typed values as they were), RabbitMQ's bookkeeping headers and the per-message
 * expiration dropped, `set` applied last and `remove` left out.
 */
export function copyOptions(
  raw: Message,
  decoded: TransportMessage,
  set: Readonly<Record<string, string>>,
  remove: (name: string) => boolean = () => false,
): Options.Publish {
  const { properties } = raw;
  const headers: AmqpHeaders = {};
  const original: AmqpHeaders = properties.headers ?? {};
  for (const name in original) {
    if (!brokerHeaders.has(name) && !remove(name)) headers[name] = original[name];
  }
  headers[Headers.sentAt] ??= String(decoded.sentAt.getTime());
  Object.assign(headers, set);
  const options: Options.Publish = {
    messageId: decoded.messageId,
    type: decoded.type,
    contentType: decoded.contentType,
    persistent: true,
    headers,
  };
  if (decoded.correlationId !== undefined) options.correlationId = decoded.correlationId;
  if (typeof properties.timestamp === 'number') options.timestamp = properties.timestamp;
  if (typeof properties.contentEncoding === 'string') options.contentEncoding = properties.contentEncoding;
  if (typeof properties.appId === 'string') options.appId = properties.appId;
  if (typeof properties.replyTo === 'string') options.replyTo = properties.replyTo;
  if (typeof properties.priority === 'number') options.priority = properties.priority;
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
