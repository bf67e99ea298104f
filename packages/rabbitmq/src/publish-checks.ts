/**
 * Checks a message before it is published for what amqplib or RabbitMQ would refuse. A refusal by
 * RabbitMQ closes the publish channel, failing every message in flight with it, and one by amqplib's
 * encoder throws mid-send: both are cheaper to catch here, with `SLUICE_INVALID_OPTION` naming the
 * field.
 */
import { OptionChecker, type OutgoingMessage } from '@sluice/core';
import { distributionHeaders } from './envelope.js';
import { encodedSize } from './field-values.js';

/** Limits a message is checked against. */
export interface PublishLimits {
  /** The broker's `max_message_size`. */
  readonly maxMessageBytes: number;
  /** Bytes the header table may take (see `headerBudget`). */
  readonly headerBudget: number;
}

/** Largest per-message TTL RabbitMQ accepts (`expiration`), in ms. */
const maxExpirationMs = 4_294_967_295;

/**
 * A short string of at most 255 bytes (a cheap length bound first: UTF-8 takes at most 3 bytes per
 * unit), well formed: a lone surrogate goes on the wire as U+FFFD, so the broker would see another id,
 * queue or routing key than the one given, and a `basic.return` of it would match no send (the
 * publish of an unroutable message resolved as if delivered).
 */
function isShortString(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    (value.length <= 85 || Buffer.byteLength(value) <= 255) &&
    value.isWellFormed()
  );
}

/**
 * Throws `SLUICE_INVALID_OPTION` for the first field of `message` RabbitMQ or amqplib would refuse.
 * `routingKey` is the key it is published with. Allocates nothing for a valid message (it runs for
 * every publish): the checker that words the error is made only to fail.
 */
export function checkOutgoing(message: OutgoingMessage, routingKey: unknown, limits: PublishLimits): void {
  const check = (): OptionChecker => {
    const id = typeof message.messageId === 'string' ? message.messageId.slice(0, 80) : '?';
    return new OptionChecker(`RabbitMqTransport.publish of message "${id}"`);
  };
  const shortString = (option: string, value: unknown, required: boolean) => {
    if (value === undefined && !required) return;
    if (!isShortString(value))
      check().fail(
        option,
        'must be well-formed text (no lone surrogate) of at most 255 bytes in UTF-8',
        typeof value === 'string' ? `${value.slice(0, 40)}...` : value,
      );
  };
  if (typeof message.messageId !== 'string' || message.messageId === '')
    check().fail('messageId', 'must be a non-empty string', message.messageId);
  shortString('messageId', message.messageId, true);
  shortString('type', message.type, true);
  shortString('contentType', message.contentType, true);
  shortString('correlationId', message.correlationId, false);
  shortString('routing key', routingKey, true);
  const destination = message.destination as { readonly queue?: unknown; readonly topic?: unknown };
  shortString('destination', destination.queue ?? destination.topic, true);
  const sentAt = message.sentAt as unknown;
  if (!(sentAt instanceof Date) || !Number.isFinite(sentAt.getTime()) || sentAt.getTime() < 0)
    check().fail(
      'sentAt',
      'must be a valid Date from 1970 on (the AMQP timestamp is unsigned)',
      String(sentAt),
    );
  const { ttlMs } = message;
  if (ttlMs !== undefined && !(Number.isInteger(ttlMs) && ttlMs >= 0 && ttlMs <= maxExpirationMs))
    check().int('ttlMs', ttlMs, 0, maxExpirationMs);
  const body = message.body as unknown;
  if (!(body instanceof Uint8Array)) check().fail('body', 'must be a Uint8Array (or Buffer)', typeof body);
  const { byteLength } = body as Uint8Array;
  if (byteLength > limits.maxMessageBytes)
    check().fail(
      'body',
      `must be at most maxMessageBytes (${limits.maxMessageBytes} bytes)`,
      `${byteLength} bytes`,
    );
  const headers = message.headers as unknown;
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    check().record('headers', headers);
  let size = 64 + encodedSize(message.causationId ?? '');
  for (const name of Object.keys(headers as object)) {
    const value = (headers as Record<string, unknown>)[name];
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes > 255)
      check().fail('headers', 'must have names of at most 255 bytes', `${name.slice(0, 40)}...`);
    if (typeof value !== 'string') check().fail(`headers.${name}`, 'must be a string', value);
    if (distributionHeaders.has(name))
      check().fail(
        `headers.${name}`,
        'must not be set: RabbitMQ reads CC and BCC as lists of queues to copy the message to, and closes the channel on one that is text',
        value,
      );
    size += 1 + nameBytes + encodedSize(value);
  }
  if (size > limits.headerBudget)
    check().fail('headers', `must fit in ${limits.headerBudget} bytes on the wire`, `${size} bytes`);
}
