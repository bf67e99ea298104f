/**
 * Content-header frames that never close a connection. amqplib decodes a message's header table
 * recursively inside its frame loop, and whatever that throws closes the whole connection. RabbitMQ
 * accepts tables nested far deeper than that recursion goes (a level is 7 bytes: a 128 KiB frame holds
 * 18,000 of them; about 4,000 overflow Node's stack), so one such message, from any publisher, closed
 * every channel of the connection that received it, and RabbitMQ handed it out first again on the
 * next one, for ever: every consumer of the connection was wedged, and the attempt counts that could
 * have bounded it are in the very headers that could not be read.
 *
 * On a guarded connection a content-header frame amqplib cannot decode is decoded again without its
 * header table: the message arrives with its other properties, no headers, and
 * {@link unreadableHeaders} saying why, and the consumer dead-letters it (`decode-failed`); the
 * content header as received stays with it ({@link unreadableContentHeader}), so that the DLQ
 * tooling can put it back exactly.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChannelModel } from 'amqplib';

/** One frame as amqplib parses it (`lib/frame.js`). */
interface Frame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

type FrameDecoder = (frame: Frame) => { fields?: unknown };

/** The part of amqplib's `Connection` that reads frames: the bytes received but not yet framed. */
interface FrameReader {
  rest: Buffer;
  recvFrame(): unknown;
}

/** AMQP 0-9-1 framing (section 4.2.3): type, channel, size, payload, frame-end. */
const frameHeaderBytes = 7;
const frameEnd = 0xce;
const contentHeaderFrame = 2;
/** Offset of the property flags in a content-header payload (class, weight, body size). */
const flagsOffset = 12;
const contentTypeFlag = 0x8000;
const contentEncodingFlag = 0x4000;
const headersFlag = 0x2000;

const why = Symbol('sluice.unreadableHeaders');
const verbatim = Symbol('sluice.contentHeader');

/** amqplib's own frame decoder: what a guarded connection falls back on is amqplib's reading too. */
function loadDecoder(): FrameDecoder | undefined {
  try {
    const require = createRequire(import.meta.url);
    const frame = require(join(dirname(require.resolve('amqplib')), 'lib', 'frame.js')) as {
      decodeFrame?: unknown;
    };
    return typeof frame.decodeFrame === 'function' ? (frame.decodeFrame as FrameDecoder) : undefined;
  } catch {
    return undefined;
  }
}

const amqplibDecoder = loadDecoder();

/** Why the header table of a message could not be read, when it could not (see the module). */
export function unreadableHeaders(properties: unknown): string | undefined {
  if (typeof properties !== 'object' || properties === null) return undefined;
  const reason = (properties as { [why]?: unknown })[why];
  return typeof reason === 'string' ? reason : undefined;
}

/**
 * The content-header payload, as received, of a message whose header table could not be read (see
 * {@link unreadableHeaders}): what an exact copy of it is sent with.
 */
export function unreadableContentHeader(properties: unknown): Buffer | undefined {
  if (typeof properties !== 'object' || properties === null) return undefined;
  const payload = (properties as { [verbatim]?: unknown })[verbatim];
  return Buffer.isBuffer(payload) ? payload : undefined;
}

/**
 * A frame decoded by amqplib's own decoder; when that throws on a content header's table, the header
 * decoded again without its table and marked with {@link unreadableHeaders}. Throws amqplib's error
 * for any other frame it cannot decode (a protocol error: the connection is rightly closed), and when
 * amqplib's decoder is not available.
 */
export function decodeFrame(frame: Frame): unknown {
  const decode = amqplibDecoder;
  if (decode === undefined) throw new Error("amqplib's frame decoder (lib/frame.js) is not available");
  try {
    return decode(frame);
  } catch (error) {
    return withoutUnreadableTable(frame, error, decode);
  }
}

/** After `decode` threw `error` on `frame`: the frame without its header table, else `error` thrown. */
function withoutUnreadableTable(frame: Frame, error: unknown, decode: FrameDecoder): unknown {
  const stripped = frame.type === contentHeaderFrame ? withoutHeaderTable(frame.payload) : undefined;
  if (stripped === undefined) throw error;
  let decoded: { fields?: unknown };
  try {
    decoded = decode({ type: frame.type, channel: frame.channel, payload: stripped.payload });
  } catch {
    throw error;
  }
  if (typeof decoded.fields !== 'object' || decoded.fields === null) throw error;
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  Object.defineProperty(decoded.fields, why, {
    value: `its header table (${stripped.tableBytes} bytes) cannot be read (${name}: ${message})`,
  });
  // Copied: the frame is a view of the connection's receive buffer.
  Object.defineProperty(decoded.fields, verbatim, { value: Buffer.from(frame.payload) });
  return decoded;
}

/** Where the header table of a content-header payload starts and ends, when it has a whole one. */
function headerTableAt(payload: Buffer): { start: number; end: number } | undefined {
  if (payload.length < flagsOffset + 2) return undefined;
  const flags = payload.readUInt16BE(flagsOffset);
  if ((flags & headersFlag) === 0) return undefined;
  let offset = flagsOffset + 2;
  for (const flag of [contentTypeFlag, contentEncodingFlag]) {
    if ((flags & flag) === 0) continue;
    if (offset >= payload.length) return undefined;
    offset += 1 + (payload[offset] as number);
  }
  if (offset + 4 > payload.length) return undefined;
  const end = offset + 4 + payload.readUInt32BE(offset);
  return end > payload.length ? undefined : { start: offset, end };
}

/** A content-header payload without its header table, or undefined when it has none or is cut short. */
function withoutHeaderTable(payload: Buffer): { payload: Buffer; tableBytes: number } | undefined {
  const table = headerTableAt(payload);
  if (table === undefined) return undefined;
  const stripped = Buffer.concat([payload.subarray(0, table.start), payload.subarray(table.end)]);
  stripped.writeUInt16BE(payload.readUInt16BE(flagsOffset) & ~headersFlag, flagsOffset);
  return { payload: stripped, tableBytes: table.end - table.start - 4 };
}

/** Bytes of a field value after its type tag, for the fixed-size AMQP 0-9-1 types RabbitMQ writes. */
const fixedSizes: Readonly<Record<string, number>> = {
  t: 1,
  b: 1,
  B: 1,
  s: 2,
  u: 2,
  I: 4,
  i: 4,
  f: 4,
  D: 5,
  l: 8,
  d: 8,
  T: 8,
  V: 0,
};
/** Types whose value is a 4-byte length and that many bytes (long strings, byte arrays, tables, arrays). */
const sizedTypes = new Set(['S', 'x', 'F', 'A']);

/**
 * `payload` (a content header) with the top-level header entries named in `names` left out, read
 * without descending into any value (a nested table is skipped by its length), or undefined when its
 * table cannot be walked so.
 */
export function withoutTopLevelHeaders(payload: Buffer, names: ReadonlySet<string>): Buffer | undefined {
  const table = headerTableAt(payload);
  if (table === undefined) return undefined;
  const kept: Buffer[] = [];
  let offset = table.start + 4;
  while (offset < table.end) {
    const keyEnd = offset + 1 + (payload[offset] as number);
    if (keyEnd >= table.end) return undefined;
    const key = payload.toString('utf8', offset + 1, keyEnd);
    const type = String.fromCharCode(payload[keyEnd] as number);
    let valueEnd = keyEnd + 1;
    if (sizedTypes.has(type)) {
      if (valueEnd + 4 > table.end) return undefined;
      valueEnd += 4 + payload.readUInt32BE(valueEnd);
    } else if (Object.hasOwn(fixedSizes, type)) valueEnd += fixedSizes[type] as number;
    else return undefined;
    if (valueEnd > table.end) return undefined;
    if (!names.has(key)) kept.push(payload.subarray(offset, valueEnd));
    offset = valueEnd;
  }
  const entries = Buffer.concat(kept);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(entries.length);
  return Buffer.concat([payload.subarray(0, table.start), length, entries, payload.subarray(table.end)]);
}

/** The whole frame at the front of `bytes`, when it is all there, well formed, and a content header. */
function contentHeaderAt(bytes: Buffer): (Frame & { readonly length: number }) | undefined {
  if (bytes.length < frameHeaderBytes || bytes[0] !== contentHeaderFrame) return undefined;
  const size = bytes.readUInt32BE(3);
  const length = frameHeaderBytes + size + 1;
  if (bytes.length < length || bytes[length - 1] !== frameEnd) return undefined;
  return {
    type: contentHeaderFrame,
    channel: bytes.readUInt16BE(1),
    payload: bytes.subarray(frameHeaderBytes, frameHeaderBytes + size),
    length,
  };
}

const guarded = new WeakSet<object>();

/**
 * Makes `model`'s connection read a content-header frame amqplib cannot decode as described in the
 * module, instead of closing. Every other frame, and every frame amqplib decodes, is read exactly as
 * amqplib reads it. Without amqplib's frame reader as 2.x has it, nothing is changed. Idempotent.
 */
export function guardFrameDecoding(model: ChannelModel): void {
  const reader = (model as unknown as { connection?: Partial<FrameReader> }).connection;
  const decode = amqplibDecoder;
  const receive = reader?.recvFrame;
  if (
    decode === undefined ||
    reader === undefined ||
    guarded.has(reader) ||
    typeof receive !== 'function' ||
    !Buffer.isBuffer(reader.rest)
  ) {
    return;
  }
  guarded.add(reader);
  reader.recvFrame = function recvFrame(this: FrameReader): unknown {
    // amqplib reads more bytes only when no whole frame is buffered, and then reads again through
    // this method: a frame whole here is the one this call decodes.
    const before = this.rest;
    const pending = contentHeaderAt(before);
    try {
      return receive.call(this);
    } catch (error) {
      // Only a frame amqplib took off the buffer failed in decoding (a frame it refuses whole, such
      // as one over the frame size, stays there and still closes the connection).
      if (pending === undefined || this.rest.length !== before.length - pending.length) throw error;
      return withoutUnreadableTable(pending, error, decode);
    }
  };
}
