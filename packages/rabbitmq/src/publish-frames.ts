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

type Kind = 'short' | 'table' | 'octet' | 'timestamp';

/** The content-header properties in wire order, with their flag bits (clusterId, bit 2, is never sent). */
const properties: readonly (readonly [name: string, flag: number, kind: Kind])[] = [
  ['contentType', 0x8000, 'short'],
  ['contentEncoding', 0x4000, 'short'],
  ['headers', 0x2000, 'table'],
  ['deliveryMode', 0x1000, 'octet'],
  ['priority', 0x0800, 'octet'],
  ['correlationId', 0x0400, 'short'],
  ['replyTo', 0x0200, 'short'],
  ['expiration', 0x0100, 'short'],
  ['messageId', 0x0080, 'short'],
  ['timestamp', 0x0040, 'timestamp'],
  ['type', 0x0020, 'short'],
  ['userId', 0x0010, 'short'],
  ['appId', 0x0008, 'short'],
];

/** Per property of the message being encoded: its value, and its encoded size (-1: absent). Reused. */
const values: unknown[] = properties.map(() => undefined);
const sizes = new Int32Array(properties.length);

/** A property as `publishFields` gives it to amqplib. */
function fieldOf(options: Options.Publish, name: string): unknown {
  if (name === 'deliveryMode')
    return options.persistent === undefined ? undefined : options.persistent ? 2 : 1;
  if (name === 'expiration') return options.expiration === undefined ? undefined : String(options.expiration);
  return (options as Record<string, unknown>)[name];
}

/** The encoded size of a present property, or -1 when this module does not encode it. */
function sizeOf(kind: Kind, value: unknown): number {
  switch (kind) {
    case 'short': {
      const length = shortLength(value);
      return typeof length === 'number' ? 1 + length : -1;
    }
    case 'table':
      return typeof value === 'object' ? (tableSize(value as Record<string, unknown>) ?? -1) : -1;
    case 'octet':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 255 ? 1 : -1;
    case 'timestamp':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? 8 : -1;
  }
}

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

/** Writes a header table of string values whose encoded size (`tableSize`) is `size`. */
function writeTable(buffer: Buffer, offset: number, headers: Record<string, unknown>, size: number): number {
  buffer.writeUInt32BE(size - 4, offset);
  let at = offset + 4;
  for (const key in headers) {
    const value = headers[key] as string | undefined;
    if (value === undefined) continue;
    at = writeShort(buffer, at, key, Buffer.byteLength(key));
    buffer[at] = 0x53; // 'S', a long string
    const length = buffer.write(value, at + 5, 'utf8');
    buffer.writeUInt32BE(length, at + 1);
    at += 5 + length;
  }
  return at;
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
  let propertyBytes = 0;
  for (let i = 0; i < properties.length; i++) {
    const [name, , kind] = properties[i] as (typeof properties)[number];
    const value = fieldOf(options, name);
    values[i] = value;
    // amqplib leaves out a property that is undefined or null.
    if (value === undefined || value === null) {
      sizes[i] = -1;
      continue;
    }
    const size = sizeOf(kind, value);
    if (size < 0) return undefined;
    sizes[i] = size;
    propertyBytes += size;
  }

  const methodSize = 2 + 2 + 2 + 1 + (exchangeLength ?? 0) + 1 + (keyLength ?? 0) + 1;
  const headerSize = 2 + 2 + 8 + 2 + propertyBytes;
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
  for (let i = 0; i < properties.length; i++) {
    const size = sizes[i] as number;
    if (size < 0) continue;
    const [, flag, kind] = properties[i] as (typeof properties)[number];
    const value = values[i];
    values[i] = undefined;
    flags |= flag;
    if (kind === 'short') offset = writeShort(buffer, offset, value as string, size - 1);
    else if (kind === 'octet') buffer[offset++] = value as number;
    else if (kind === 'timestamp') {
      buffer.writeUInt32BE(Math.floor((value as number) / 2 ** 32), offset);
      buffer.writeUInt32BE((value as number) % 2 ** 32, offset + 4);
      offset += 8;
    } else offset = writeTable(buffer, offset, value as Record<string, unknown>, size);
  }
  buffer.writeUInt16BE(flags, flagsAt);
  buffer[offset++] = frameEnd;

  if (body.length > 0) {
    buffer[offset] = bodyFrame;
    buffer.writeUInt16BE(channel, offset + 1);
    buffer.writeUInt32BE(body.length, offset + 3);
    body.copy(buffer, offset + 7);
    buffer[offset + 7 + body.length] = frameEnd;
  }
  return buffer;
}

/**
 * The frames of a publish (not mandatory) on `channel` whose content header is `contentHeader` as it
 * is (a message's properties copied byte for byte, its body size included), its body in frames of at
 * most `frameMax`.
 */
export function encodeVerbatimPublish(
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  contentHeader: Buffer,
  body: Buffer,
): Buffer | undefined {
  const exchangeLength = shortLength(exchange);
  const keyLength = shortLength(routingKey);
  if (exchangeLength === false || keyLength === false) return undefined;
  if (contentHeader.length + frameOverhead > frameMax || frameMax <= frameOverhead) return undefined;
  const methodSize = 2 + 2 + 2 + 1 + (exchangeLength ?? 0) + 1 + (keyLength ?? 0) + 1;
  const method = Buffer.alloc(frameOverhead + methodSize);
  method[0] = methodFrame;
  method.writeUInt16BE(channel, 1);
  method.writeUInt32BE(methodSize, 3);
  method.writeUInt32BE(basicPublish, 7);
  let offset = writeShort(method, 13, exchange, exchangeLength ?? 0);
  offset = writeShort(method, offset, routingKey, keyLength ?? 0);
  method[offset] = 0; // not mandatory
  method[offset + 1] = frameEnd;
  const frames = [method, frame(headerFrame, channel, contentHeader)];
  const room = frameMax - frameOverhead;
  for (let at = 0; at < body.length; at += room)
    frames.push(frame(bodyFrame, channel, body.subarray(at, at + room)));
  return Buffer.concat(frames);
}

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const buffer = Buffer.alloc(frameOverhead + payload.length);
  buffer[0] = type;
  buffer.writeUInt16BE(channel, 1);
  buffer.writeUInt32BE(payload.length, 3);
  payload.copy(buffer, 7);
  buffer[7 + payload.length] = frameEnd;
  return buffer;
}
