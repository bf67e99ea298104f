/**
 * The checks every publish goes through before it is sent: each field RabbitMQ or amqplib would refuse
 * fails with SLUICE_INVALID_OPTION naming the field; a valid message passes.
 */
import { ErrorCodes, type OutgoingMessage } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { checkOutgoing } from '../src/publish-checks.js';

const limits = { maxMessageBytes: 1_024, headerBudget: 512 };

function message(overrides: Partial<Record<keyof OutgoingMessage, unknown>> = {}): OutgoingMessage {
  return {
    messageId: 'm-1',
    type: 'orders.order-placed.v1',
    contentType: 'application/json',
    sentAt: new Date(),
    headers: { tenant: 'acme' },
    body: Buffer.from('{}'),
    destination: { topic: 'orders.order-placed.v1' },
    mandatory: false,
    ...overrides,
  } as OutgoingMessage;
}

describe('checkOutgoing', () => {
  it('passes a valid message, short strings up to 255 bytes included', () => {
    expect(() => checkOutgoing(message(), '', limits)).not.toThrow();
    expect(() => checkOutgoing(message({ messageId: 'a'.repeat(255) }), '', limits)).not.toThrow();
    expect(() => checkOutgoing(message({ correlationId: 'é'.repeat(127) }), '', limits)).not.toThrow();
    expect(() =>
      checkOutgoing(message({ messageId: '\u{1f600}'.repeat(63) }), '\u{1f600}', limits),
    ).not.toThrow();
  });

  it.each<[string, string, Partial<Record<keyof OutgoingMessage, unknown>>, unknown?]>([
    ['an empty message id', 'messageId', { messageId: '' }],
    ['a message id of 256 bytes', 'messageId', { messageId: 'a'.repeat(256) }],
    ['a correlation id of 256 bytes in UTF-8', 'correlationId', { correlationId: 'é'.repeat(128) }],
    ['a type that is not a string', 'type', { type: 7 }],
    // A lone surrogate reaches RabbitMQ as U+FFFD: another id, queue or key than the one given.
    ['a lone surrogate in the message id', 'messageId', { messageId: 'm-\ud800' }],
    ['a lone surrogate in the queue', 'destination', { destination: { queue: 'q\udc00' } }],
    ['a lone surrogate in the type', 'type', { type: '\udc00orders.v1' }],
    ['a lone surrogate in the routing key', 'routing key', {}, 'order.\ud800'],
    ['a routing key of 256 bytes', 'routing key', {}, 'k'.repeat(256)],
    ['a time before 1970', 'sentAt', { sentAt: new Date(-1) }],
    ['an invalid time', 'sentAt', { sentAt: new Date(Number.NaN) }],
    ['a fractional TTL', 'ttlMs', { ttlMs: 1.5 }],
    ['a TTL over 2^32 - 1 ms', 'ttlMs', { ttlMs: 4_294_967_296 }],
    ['a body that is not bytes', 'body', { body: '{}' }],
    ['a body over maxMessageBytes', 'body', { body: Buffer.alloc(1_025) }],
    ['headers that are not an object', 'headers', { headers: 'x' }],
    ['a header that is not a string', 'headers.n', { headers: { n: 1 } }],
    ['a header name over 255 bytes', 'headers', { headers: { ['h'.repeat(256)]: 'x' } }],
    ['headers over the budget', 'headers', { headers: { big: 'x'.repeat(600) } }],
    ['a CC header', 'headers.CC', { headers: { CC: 'orders' } }],
    ['a BCC header', 'headers.BCC', { headers: { tenant: 'acme', BCC: 'audit' } }],
  ])('refuses %s, naming the field', (_case, option, overrides, routingKey = '') => {
    expect(() => checkOutgoing(message(overrides), routingKey, limits)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.INVALID_OPTION,
        message: expect.stringContaining(`option "${option}"`),
      }),
    );
  });
});
