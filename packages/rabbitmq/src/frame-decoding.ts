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
 * {@link unreadableHeaders} saying why, and the consumer dead-letters it (`decode-failed`).
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
  return decoded;
}

/** A content-header payload without its header table, or undefined when it has none or is cut short. */
function withoutHeaderTable(payload: Buffer): { payload: Buffer; tableBytes: number } | undefined {
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
  const tableBytes = payload.readUInt32BE(offset);
  const end = offset + 4 + tableBytes;
  if (end > payload.length) return undefined;
  const stripped = Buffer.concat([payload.subarray(0, offset), payload.subarray(end)]);
  stripped.writeUInt16BE(flags & ~headersFlag, flagsOffset);
  return { payload: stripped, tableBytes };
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
