/** The envelope on AMQP: what Sluice writes, and how messages from any publisher are read back. */
import { Headers, type OutgoingMessage } from '@sluice/core';
import type { Message, MessageProperties } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { copyOptions, decode, destinationName, publishOptions } from '../src/envelope.js';
import { stringifyHeader } from '../src/field-values.js';

function received(properties: Partial<MessageProperties>, redelivered = false): Message {
  return {
    content: Buffer.from('{}'),
    fields: { deliveryTag: 1, redelivered, exchange: '', routingKey: 'q' },
    properties: {
      contentType: undefined,
      contentEncoding: undefined,
      headers: undefined,
      deliveryMode: undefined,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
      ...properties,
    },
  };
}

describe('envelope', () => {
  const outgoing: OutgoingMessage = {
    messageId: 'm-1',
    type: 'orders.order-placed.v1',
    contentType: 'application/json',
    correlationId: 'c-1',
    causationId: 'cause-1',
    sentAt: new Date('2026-01-02T03:04:05.678Z'),
    headers: { tenant: 'acme' },
    body: Buffer.from('{}'),
    destination: { topic: 'orders.order-placed.v1' },
    mandatory: true,
    ttlMs: 5_000,
  };

  it('writes envelope fields as properties and the rest as headers', () => {
    expect(publishOptions(outgoing, true)).toEqual({
      messageId: 'm-1',
      type: 'orders.order-placed.v1',
      contentType: 'application/json',
      correlationId: 'c-1',
      timestamp: 1767323045,
      persistent: true,
      mandatory: true,
      expiration: '5000',
      headers: { tenant: 'acme', [Headers.sentAt]: '1767323045678', [Headers.causationId]: 'cause-1' },
    });
  });

  it('reads its own messages back exactly', () => {
    const options = publishOptions(outgoing, true);
    const { message, attempt } = decode(
      received({ ...options, headers: options.headers as Record<string, unknown> }),
    );
    expect(attempt).toBe(1);
    expect(message).toMatchObject({
      messageId: 'm-1',
      type: 'orders.order-placed.v1',
      correlationId: 'c-1',
      causationId: 'cause-1',
      headers: { tenant: 'acme' },
    });
    expect(message.sentAt.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(
      decode(
        received({ headers: { [Headers.sentAt]: '2026-01-02T03:04:05.678Z' } }),
      ).message.sentAt.getTime(),
    ).toBe(1767323045678);
    // Another publisher's number is read too; what is no time at all makes the envelope unreadable.
    expect(decode(received({ headers: { [Headers.sentAt]: 1767323045678 } })).message.sentAt.getTime()).toBe(
      1767323045678,
    );
    for (const sentAt of ['9999999999999999', 'soon', true]) {
      const { message, problems } = decode(received({ headers: { [Headers.sentAt]: sentAt } }));
      expect(problems.join(), String(sentAt)).toContain(Headers.sentAt);
      expect(Number.isFinite(message.sentAt.getTime())).toBe(true);
    }
    expect(decode(received({ timestamp: 1_767_323_045_000_000 })).problems.join()).toContain('timestamp');
  });

  it('gives messages from foreign publishers defaults and string headers', () => {
    const { message } = decode(
      received({
        timestamp: 1767323045,
        headers: {
          count: 3,
          ok: true,
          bytes: Buffer.from('héllo'),
          when: { '!': 'timestamp', value: 1767323045 },
          list: [1, 'two'],
          nothing: null,
          'x-death': [
            {
              count: 1,
              reason: 'expired',
              queue: 'q',
              time: { '!': 'timestamp', value: 1767323045 },
              exchange: '',
              'routing-keys': ['q'],
            },
          ],
        },
      }),
    );
    expect(message.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(message.type).toBe('');
    expect(message.contentType).toBe('application/octet-stream');
    expect(message.sentAt.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(message.headers).toEqual({
      count: '3',
      ok: 'true',
      bytes: 'héllo',
      when: '2026-01-02T03:04:05.000Z',
      list: '[1,"two"]',
      nothing: '',
    });
  });

  it('counts attempts from the attempt header and the broker redelivery count', () => {
    expect(decode(received({ headers: { [Headers.attempt]: '3' } })).attempt).toBe(3);
    expect(
      decode(received({ headers: { [Headers.attempt]: '3', 'x-delivery-count': 2 } }, true)).attempt,
    ).toBe(5);
    expect(decode(received({}, true)).attempt).toBe(2);
    expect(decode(received({ headers: { [Headers.attempt]: 'junk' } })).attempt).toBe(1);
  });

  it('reads the Sluice headers sent as byte arrays as their text', () => {
    const { message, attempt, problems } = decode(
      received({
        headers: {
          [Headers.sentAt]: Buffer.from('1767323045678'),
          [Headers.attempt]: Buffer.from('3'),
          [Headers.causationId]: Buffer.from('cause-1'),
        },
      }),
    );
    expect(problems).toEqual([]);
    expect(message.sentAt.toISOString()).toBe('2026-01-02T03:04:05.678Z');
    expect(attempt).toBe(3);
    expect(message.causationId).toBe('cause-1');
  });

  it('reads x-delivery-count on a redelivery only: on a first delivery its publisher set it', () => {
    const spoofed = decode(received({ headers: { 'x-delivery-count': 50 } }, false));
    expect(spoofed).toMatchObject({ attempt: 1, redeliveries: 0 });
    expect(decode(received({ headers: { 'x-delivery-count': 50 } }, true))).toMatchObject({
      attempt: 51,
      redeliveries: 50,
    });
  });

  it('copies a message with its typed headers, without broker bookkeeping or expiration', () => {
    const raw = received({
      messageId: 'm-1',
      type: 't.x.v1',
      contentType: 'application/json',
      expiration: '100',
      priority: 3,
      headers: { n: 7, [Headers.faultReason]: 'max-attempts', 'x-delivery-count': 1, 'x-death': [] },
    });
    const options = copyOptions(raw, decode(raw).message, { [Headers.attempt]: '2' }, (h) =>
      h.startsWith('sluice-fault-'),
    );
    expect(options.expiration).toBeUndefined();
    expect(options.priority).toBe(3);
    expect(options.persistent).toBe(true);
    expect(options.headers).toMatchObject({ n: 7, [Headers.attempt]: '2' });
    expect(Object.keys(options.headers as object).sort()).toEqual(
      [Headers.attempt, 'n', Headers.sentAt].sort(),
    );
  });

  it('names destinations as the OpenTelemetry conventions do', () => {
    expect(destinationName('orders.order-placed.v1', '')).toBe('orders.order-placed.v1');
    expect(destinationName('', 'payments')).toBe('payments');
    expect(destinationName('', '')).toBe('amq.default');
    expect(destinationName('', 'orders', 'orders')).toBe('orders:orders');
    expect(destinationName('shop', 'order.eu', 'shop.email')).toBe('shop:order.eu:shop.email');
  });
});

describe('stringifyHeader', () => {
  it('keeps strings and renders other values', () => {
    expect(stringifyHeader('x')).toBe('x');
    expect(stringifyHeader(10n)).toBe('10');
    expect(stringifyHeader({ '!': 'decimal', value: { places: 2, digits: 150 } })).toBe(
      '{"!":"decimal","value":{"places":2,"digits":150}}',
    );
  });
});
