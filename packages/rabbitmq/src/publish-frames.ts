/**
 * One `basic.publish` encoded as its three AMQP 0-9-1 frames (method, content header, one body frame)
 * in a single buffer: byte for byte what amqplib 2.x writes for the fields `publishFields` gives it,
 * without amqplib's intermediate buffers (a zero-filled one per frame, the body copied twice, the
 * header table through a scratch buffer, the timestamp through a BigInt), which were about a tenth of
 * the publishing client's CPU in `npm run bench:rabbitmq`. Only the shapes Sluice publishes are
 * encoded here: string header values, properties amqplib accepts as they are, a body that fits one
 * frame. For anything else `encodePublish` returns undefined and amqplib encodes the message (and
 * throws where it throws). https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf (sections 2.3.5, 4.2.6)
 */
import type { Options } from 'amqplib';
import { amqplibTableBuffer } from './field-values.js';

const methodFrame = 1;
const headerFrame = 2;
const bodyFrame = 3;
const frameEnd = 0xce;
/** Frame type (1), channel (2), payload size (4) and frame end (1). */
const frameOverhead = 8;
/** Class 60 (basic), method 40 (publish). */
const basicPublish = 0x003c0028;
/** Class 60 (basic), weight 0. */
const basicHeader = 0x003c0000;

/** Properties in the order of their flag bits (15 down to 3), each a short string or not. */
const shortStrings = ['contentType', 'contentEncoding'] as const;
const laterShortStrings = ['correlationId', 'replyTo', 'expiration', 'messageId'] as const;
const lastShortStrings = ['type', 'userId', 'appId'] as const;
const flagOf: Record<string, number> = {
  contentType: 0x8000,
  contentEncoding: 0x4000,
  headers: 0x2000,
  deliveryMode: 0x1000,
  priority: 0x0800,
  correlationId: 0x0400,
  replyTo: 0x0200,
  expiration: 0x0100,
  messageId: 0x0080,
  timestamp: 0x0040,
  type: 0x0020,
  userId: 0x0010,
  appId: 0x0008,
};

/** A short-string property: absent (undefined or null, as amqplib treats both), or its byte length. */
function shortLength(value: unknown): number | undefined | false {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return false;
  const length = Buffer.byteLength(value);
  return length < 256 ? length : false;
}

/** The header table's encoded size, or undefined when a value is not a string (amqplib's job then). */
function tableSize(headers: Record<string, unknown>): number | undefined {
  let size = 4;
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') return undefined;
    const keyLength = Buffer.byteLength(key);
    if (keyLength > 255) return undefined;
    size += 1 + keyLength + 1 + 4 + Buffer.byteLength(value);
  }
  return size <= amqplibTableBuffer ? size : undefined;
}

function writeShort(buffer: Buffer, offset: number, value: string, length: number): number {
  buffer[offset] = length;
  buffer.write(value, offset + 1, length, 'utf8');
  return offset + 1 + length;
}

/**
 * The frames of one publish on `channel`, or undefined for a message amqplib must encode itself (see
 * the module comment). `options` are read as `publishFields` reads them (`persistent` as the delivery
 * mode, `expiration` as a string, `mandatory`).
 */
export function encodePublish(
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  options: Options.Publish,
  body: Buffer,
): Buffer | undefined {
  const exchangeLength = shortLength(exchange);
  const keyLength = shortLength(routingKey);
  if (exchangeLength === false || keyLength === false) return undefined;
  if (body.length + frameOverhead > frameMax) return undefined;
  const expiration = options.expiration === undefined ? undefined : String(options.expiration);
  const strings: Record<string, string | undefined> = {
    contentType: options.contentType,
    contentEncoding: options.contentEncoding,
    correlationId: options.correlationId,
    replyTo: options.replyTo,
    expiration,
    messageId: options.messageId,
    type: options.type,
    userId: options.userId,
    appId: options.appId,
  };
  const lengths: Record<string, number> = {};
  let properties = 0;
  for (const name in strings) {
    const length = shortLength(strings[name]);
    if (length === false) return undefined;
    if (length !== undefined) {
      lengths[name] = length;
      properties += 1 + length;
    }
  }
  const headers = options.headers as Record<string, unknown> | undefined | null;
  let headersSize: number | undefined;
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object') return undefined;
    headersSize = tableSize(headers);
    if (headersSize === undefined) return undefined;
    properties += headersSize;
  }
  const deliveryMode = options.persistent === undefined ? undefined : options.persistent ? 2 : 1;
  if (deliveryMode !== undefined) properties += 1;
  const { priority, timestamp } = options;
  if (priority !== undefined && priority !== null) {
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) return undefined;
    properties += 1;
  }
  if (timestamp !== undefined && timestamp !== null) {
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) return undefined;
    properties += 8;
  }

  const methodSize = 2 + 2 + 2 + 1 + (exchangeLength ?? 0) + 1 + (keyLength ?? 0) + 1;
  const headerSize = 2 + 2 + 8 + 2 + properties;
  const total =
    frameOverhead +
    methodSize +
    frameOverhead +
    headerSize +
    (body.length > 0 ? frameOverhead + body.length : 0);
  // Every byte is written below.
  const buffer = Buffer.allocUnsafe(total);

  let offset = 0;
  buffer[offset] = methodFrame;
  buffer.writeUInt16BE(channel, offset + 1);
  buffer.writeUInt32BE(methodSize, offset + 3);
  offset += 7;
  buffer.writeUInt32BE(basicPublish, offset);
  buffer.writeUInt16BE(0, offset + 4);
  offset = writeShort(buffer, offset + 6, exchange, exchangeLength ?? 0);
  offset = writeShort(buffer, offset, routingKey, keyLength ?? 0);
  buffer[offset++] = options.mandatory === true ? 1 : 0;
  buffer[offset++] = frameEnd;

  buffer[offset] = headerFrame;
  buffer.writeUInt16BE(channel, offset + 1);
  buffer.writeUInt32BE(headerSize, offset + 3);
  offset += 7;
  buffer.writeUInt32BE(basicHeader, offset);
  buffer.writeUInt32BE(Math.floor(body.length / 2 ** 32), offset + 4);
  buffer.writeUInt32BE(body.length % 2 ** 32, offset + 8);
  const flagsAt = offset + 12;
  offset += 14;
  let flags = 0;
  const short = (name: string) => {
    const length = lengths[name];
    if (length === undefined) return;
    flags |= flagOf[name] as number;
    offset = writeShort(buffer, offset, strings[name] as string, length);
  };
  for (const name of shortStrings) short(name);
  if (headersSize !== undefined && headers !== undefined && headers !== null) {
    flags |= flagOf.headers as number;
    buffer.writeUInt32BE(headersSize - 4, offset);
    offset += 4;
    for (const key in headers) {
      const value = headers[key] as string | undefined;
      if (value === undefined) continue;
      offset = writeShort(buffer, offset, key, Buffer.byteLength(key));
      buffer[offset] = 0x53; // 'S', a long string
      const length = buffer.write(value, offset + 5, 'utf8');
      buffer.writeUInt32BE(length, offset + 1);
      offset += 5 + length;
    }
  }
  if (deliveryMode !== undefined) {
    flags |= flagOf.deliveryMode as number;
    buffer[offset++] = deliveryMode;
  }
  if (priority !== undefined && priority !== null) {
    flags |= flagOf.priority as number;
    buffer[offset++] = priority;
  }
  for (const name of laterShortStrings) short(name);
  if (timestamp !== undefined && timestamp !== null) {
    flags |= flagOf.timestamp as number;
    buffer.writeUInt32BE(Math.floor(timestamp / 2 ** 32), offset);
    buffer.writeUInt32BE(timestamp % 2 ** 32, offset + 4);
    offset += 8;
  }
  for (const name of lastShortStrings) short(name);
  buffer.writeUInt16BE(flags, flagsAt);
  buffer[offset++] = frameEnd;

  if (body.length > 0) {
    buffer[offset] = bodyFrame;
    buffer.writeUInt16BE(channel, offset + 1);
    buffer.writeUInt32BE(body.length, offset + 3);
    body.copy(buffer, offset + 7);
    offset += 7 + body.length;
    buffer[offset++] = frameEnd;
  }
  return buffer;
}
