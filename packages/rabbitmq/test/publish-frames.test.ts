/**
 * `encodePublish` against amqplib's own encoder: for any message of the shapes it encodes, the bytes
 * are exactly those amqplib 2.x writes for the fields `publishFields` gives it (method frame, content
 * header frame, body frame); for the shapes it leaves to amqplib, it returns undefined.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Options } from 'amqplib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { publishFields } from '../src/amqplib-fast-path.js';
import { encodePublish } from '../src/publish-frames.js';

const require = createRequire(import.meta.url);
const amqplibLib = join(dirname(require.resolve('amqplib')), 'lib');
const defs = require(join(amqplibLib, 'defs.js')) as {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
};
const frame = require(join(amqplibLib, 'frame.js')) as {
  makeBodyFrame(channel: number, payload: Buffer): Buffer;
};

const runs = Number(process.env.FUZZ_RUNS ?? 2_000);
const frameMax = 131_072;

/** What amqplib's `Connection#sendMessage` writes for one publish whose body fits a frame. */
function amqplibFrames(
  channel: number,
  exchange: string,
  routingKey: string,
  options: Options.Publish,
  body: Buffer,
): Buffer {
  const fields = publishFields(exchange, routingKey, options);
  return Buffer.concat([
    defs.encodeMethod(defs.BasicPublish, channel, fields),
    defs.encodeProperties(defs.BasicProperties, channel, body.length, fields),
    ...(body.length > 0 ? [frame.makeBodyFrame(channel, body)] : []),
  ]);
}

/** Strings of any code points, lone surrogates included (both encoders write them as U+FFFD). */
const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength });
const shortText = fc.oneof(text(60), fc.string({ maxLength: 255 }));

const options: fc.Arbitrary<Options.Publish> = fc.record(
  {
    contentType: shortText,
    contentEncoding: shortText,
    headers: fc.dictionary(fc.string({ maxLength: 40 }), text(300), { maxKeys: 8 }),
    persistent: fc.boolean(),
    priority: fc.integer({ min: 0, max: 255 }),
    correlationId: shortText,
    replyTo: shortText,
    expiration: fc.oneof(fc.nat(4_294_967_295), fc.string({ maxLength: 12 })),
    messageId: shortText,
    timestamp: fc.oneof(fc.nat(), fc.constant(4_102_444_800), fc.maxSafeNat()),
    type: shortText,
    userId: shortText,
    appId: shortText,
    mandatory: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('encodePublish', () => {
  it('writes exactly the bytes amqplib writes, for any message of the shapes it encodes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65_535 }),
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 80 }),
        options,
        fc.uint8Array({ maxLength: 3_000 }),
        (channel, exchange, routingKey, publish, bytes) => {
          const body = Buffer.from(bytes);
          const encoded = encodePublish(channel, frameMax, exchange, routingKey, publish, body);
          expect(encoded).toEqual(amqplibFrames(channel, exchange, routingKey, publish, body));
        },
      ),
      { numRuns: runs },
    );
  });

  it('writes what Sluice publishes as amqplib does, a 1 KiB body and its headers included', () => {
    const publish: Options.Publish = {
      messageId: '6f1c1c9e-3f55-4a55-9a2e-6b0d6c4b1a11',
      type: 'orders.order-placed.v1',
      contentType: 'application/json',
      timestamp: 1_764_590_000,
      persistent: true,
      mandatory: true,
      correlationId: '6f1c1c9e-3f55-4a55-9a2e-6b0d6c4b1a11',
      headers: {
        'sluice-sent-at': '1764590000123',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    };
    const body = Buffer.alloc(1024, 'x');
    expect(encodePublish(7, frameMax, 'orders.order-placed.v1', '', publish, body)).toEqual(
      amqplibFrames(7, 'orders.order-placed.v1', '', publish, body),
    );
  });

  it.each([
    ['a header value that is not a string', { headers: { attempt: 3 } }],
    ['a typed header value', { headers: { at: { '!': 'timestamp', value: 1 } } }],
    ['a short string longer than 255 bytes', { messageId: 'é'.repeat(128) }],
    ['a priority out of range', { priority: 256 }],
    ['a fractional priority', { priority: 1.5 }],
    ['a negative timestamp', { timestamp: -1 }],
    ['a fractional timestamp', { timestamp: 1.5 }],
    ['a header name longer than 255 bytes', { headers: { ['k'.repeat(256)]: 'v' } }],
  ] as const)('leaves %s to amqplib', (_case, publish) => {
    expect(
      encodePublish(1, frameMax, 'x', '', publish as Options.Publish, Buffer.from('{}')),
    ).toBeUndefined();
  });

  it('leaves a body larger than one frame to amqplib, which splits it', () => {
    expect(encodePublish(1, 4_096, 'x', '', {}, Buffer.alloc(4_089))).toBeUndefined();
    expect(encodePublish(1, 4_096, 'x', '', {}, Buffer.alloc(4_088))).toEqual(
      amqplibFrames(1, 'x', '', {}, Buffer.alloc(4_088)),
    );
  });
});
