/**
 * The Sluice envelope on Service Bus: message id, content type, correlation id and the type (as
 * `subject`) in the broker's own fields; what it has no field for (exact send time, causation id,
 * attempt, releases, the Sluice id of a copy) in application properties beside the headers.
 *
 * Headers are strings; one that reads as a canonical finite number (`String(Number(v)) === v`, such
 * as `2400` or `1000.5`, not `0012`) is written as a number, so broker-side SQL rules compare it as
 * the host does (`totalAmount > 1000`), and read back as the same text.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import { Headers, type OutgoingMessage, type TransportMessage } from '@sluice/core';

/** Application properties Sluice writes for itself (never application headers). */
export const Properties = {
  /** On a copy (retry, replay): the Sluice message id; the Service Bus id is new, so duplicate detection keeps it. */
  messageId: 'sluice-message-id',
  /** Releases (abandons by the host) so far: Service Bus counts them in DeliveryCount, `attempt` does not. */
  released: 'sluice-released',
} as const;

/** Properties that are the envelope's or the broker's, not application headers. */
const envelopeProperties: ReadonlySet<string> = new Set([
  Properties.messageId,
  Properties.released,
  Headers.sentAt,
  Headers.causationId,
  Headers.attempt,
  'DeadLetterReason',
  'DeadLetterErrorDescription',
]);

type PropertyValue = string | number | boolean | Date | null;

/** A header value as written: canonical finite numbers as numbers, everything else as text. */
export function propertyValue(value: string): string | number {
  if (value === '' || value.length > 24) return value;
  const number = Number(value);
  return Number.isFinite(number) && String(number) === value ? number : value;
}

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** The Service Bus message for `message`: the Sluice id as the Service Bus id, unless `copyOf` says otherwise. */
export function toServiceBusMessage(
  message: OutgoingMessage | TransportMessage,
  extra: Readonly<Record<string, PropertyValue>> = {},
  copy = false,
): ServiceBusMessage {
  const applicationProperties: Record<string, PropertyValue> = {};
  for (const [name, value] of Object.entries(message.headers))
    applicationProperties[name] = propertyValue(value);
  applicationProperties[Headers.sentAt] = message.sentAt.getTime();
  if (message.causationId !== undefined) applicationProperties[Headers.causationId] = message.causationId;
  if (copy) applicationProperties[Properties.messageId] = message.messageId;
  Object.assign(applicationProperties, extra);
  const sent: ServiceBusMessage = {
    messageId: copy ? randomUUID() : message.messageId,
    body: toBuffer(message.body),
    contentType: message.contentType,
    subject: message.type,
    applicationProperties,
  };
  if (message.correlationId !== undefined) sent.correlationId = message.correlationId;
  if ('ttlMs' in message && message.ttlMs !== undefined) sent.timeToLive = message.ttlMs;
  if ('notBefore' in message && message.notBefore !== undefined && message.notBefore.getTime() > Date.now()) {
    sent.scheduledEnqueueTimeUtc = message.notBefore;
  }
  return sent;
}

/** A property value as header text; null (a removed property) as undefined. */
function headerText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : String(value);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof (value as { toString?: unknown }).toString === 'function') return String(value);
  return JSON.stringify(value);
}

function idText(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return Buffer.isBuffer(value) ? value.toString('hex') : String(value);
}

function sentAtOf(value: unknown, fallback: Date | undefined, problems: string[]): Date {
  if (value !== undefined && value !== null) {
    const ms =
      value instanceof Date
        ? value.getTime()
        : typeof value === 'number'
          ? value
          : typeof value === 'string' && /^-?\d{1,16}$/.test(value)
            ? Number(value)
            : typeof value === 'string'
              ? Date.parse(value)
              : Number.NaN;
    if (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15) return new Date(ms);
    problems.push(
      `property ${Headers.sentAt} (${JSON.stringify(headerText(value)?.slice(0, 64))}) is not a time`,
    );
  }
  return fallback !== undefined && Number.isFinite(fallback.getTime()) ? fallback : new Date();
}

function count(value: unknown, min: number): number {
  const number = typeof value === 'string' || typeof value === 'number' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(number) && number >= min ? number : min;
}

/** What could be read of a received message; reading never throws. */
export interface Envelope {
  readonly message: TransportMessage;
  /** `sluice-attempt` (1 without it) plus Service Bus's delivery count less the releases. */
  readonly attempt: number;
  readonly deliveryCount: number;
  readonly released: number;
  /** What could not be read; a consumer dead-letters such a message (`decode-failed`) unhandled. */
  readonly problems: readonly string[];
}

/** Reads a received message (peek-lock, body not parsed as JSON). */
export function fromServiceBusMessage(received: ServiceBusReceivedMessage): Envelope {
  const problems: string[] = [];
  const properties = (received.applicationProperties ?? {}) as Record<string, unknown>;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(properties)) {
    if (envelopeProperties.has(name)) continue;
    const text = headerText(value);
    if (text !== undefined) headers[name] = text;
  }
  let body: Uint8Array;
  const raw: unknown = received.body;
  if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) body = raw;
  else {
    body = new Uint8Array(0);
    problems.push(
      `the body is ${raw === undefined || raw === null ? 'empty' : `an AMQP ${received._rawAmqpMessage?.bodyType ?? 'value'} section`}, not bytes (a data section)`,
    );
  }
  const causation = headerText(properties[Headers.causationId]);
  const message: TransportMessage = {
    // Without an id every delivery would look like one message to deduplication.
    messageId: idText(properties[Properties.messageId]) ?? idText(received.messageId) ?? randomUUID(),
    type: typeof received.subject === 'string' ? received.subject : '',
    contentType:
      typeof received.contentType === 'string' && received.contentType !== ''
        ? received.contentType
        : 'application/octet-stream',
    correlationId: idText(received.correlationId),
    causationId: causation,
    sentAt: sentAtOf(properties[Headers.sentAt], received.enqueuedTimeUtc, problems),
    headers,
    body,
  };
  const deliveryCount = count(received.deliveryCount, 0);
  const released = Math.min(count(properties[Properties.released], 0), deliveryCount);
  const attempt = count(properties[Headers.attempt], 1) + deliveryCount - released;
  return { message, attempt, deliveryCount, released, problems };
}
