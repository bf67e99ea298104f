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

function shortString(check: OptionChecker, option: string, value: unknown, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || Buffer.byteLength(value) > 255)
    check.fail(
      option,
      'must be a string of at most 255 bytes (UTF-8)',
      typeof value === 'string' ? `${value.slice(0, 40)}...` : value,
    );
}

/**
 * Throws `SLUICE_INVALID_OPTION` for the first field of `message` RabbitMQ or amqplib would refuse.
 * `routingKey` is the key it is published with.
 */
export function checkOutgoing(message: OutgoingMessage, routingKey: unknown, limits: PublishLimits): void {
  const id = typeof message.messageId === 'string' ? message.messageId.slice(0, 80) : '?';
  const check: OptionChecker = new OptionChecker(`RabbitMqTransport.publish of message "${id}"`);
  if (typeof message.messageId !== 'string' || message.messageId === '')
    check.fail('messageId', 'must be a non-empty string', message.messageId);
  shortString(check, 'messageId', message.messageId, true);
  shortString(check, 'type', message.type, true);
  shortString(check, 'contentType', message.contentType, true);
  shortString(check, 'correlationId', message.correlationId, false);
  shortString(check, 'routing key', routingKey, true);
  const destination = message.destination as { readonly queue?: unknown; readonly topic?: unknown };
  shortString(check, 'destination', destination.queue ?? destination.topic, true);
  const sentAt = message.sentAt as unknown;
  if (!(sentAt instanceof Date) || !Number.isFinite(sentAt.getTime()) || sentAt.getTime() < 0)
    check.fail(
      'sentAt',
      'must be a valid Date from 1970 on (the AMQP timestamp is unsigned)',
      String(sentAt),
    );
  if (message.ttlMs !== undefined) check.int('ttlMs', message.ttlMs, 0, maxExpirationMs);
  const body = message.body as unknown;
  if (!(body instanceof Uint8Array)) check.fail('body', 'must be a Uint8Array (or Buffer)', typeof body);
  if (body.byteLength > limits.maxMessageBytes)
    check.fail(
      'body',
      `must be at most maxMessageBytes (${limits.maxMessageBytes} bytes)`,
      `${body.byteLength} bytes`,
    );
  const headers = check.record('headers', message.headers);
  let size = 64 + encodedSize(message.causationId ?? '');
  for (const [name, value] of Object.entries(headers)) {
    if (Buffer.byteLength(name) > 255)
      check.fail('headers', 'must have names of at most 255 bytes', `${name.slice(0, 40)}...`);
    if (typeof value !== 'string') check.fail(`headers.${name}`, 'must be a string', value);
    if (distributionHeaders.has(name))
      check.fail(
        `headers.${name}`,
        'must not be set: RabbitMQ reads CC and BCC as lists of queues to copy the message to, and closes the channel on one that is text',
        value,
      );
    size += 1 + Buffer.byteLength(name) + encodedSize(value);
  }
  if (size > limits.headerBudget)
    check.fail('headers', `must fit in ${limits.headerBudget} bytes on the wire`, `${size} bytes`);
}
