/**
 * The publish fast path: while amqplib's `ConfirmChannel#publish` is its own (as amqplib 2.x writes it,
 * not wrapped by an instrumentation), a message is sent through the internals that method is made of:
 * encoded by `encodePublish` and written to the channel's frame buffer as amqplib's `sendMessage`
 * writes its own encoding, or for the shapes `encodePublish` leaves to amqplib, through `sendMessage`
 * with the headers passed as they are instead of amqplib's costly copy of them. Otherwise the public
 * `publish` is used, so instrumentations see every message.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';

/**
 * The amqplib internals `ConfirmChannel#publish` is made of: `Channel#sendMessage` for the frames,
 * `pushConfirmCallback` for the confirm; and, where amqplib's own write path was recognised, how to
 * write frames encoded here.
 */
export interface PublishInternals {
  sendMessage(fields: object, properties: object, content: Buffer): boolean;
  pushConfirmCallback(callback: (error: unknown) => void): void;
  /**
   * Writes one publish already encoded as frames (by `encodePublish` for {@link channelNumber} and
   * {@link frameMax}) the way amqplib's `Connection#sendMessage` writes its own; returns false when
   * the channel's buffer is full (wait for `drain`), throws as amqplib does once the channel is
   * closed. Undefined when that write path is not the one known here.
   */
  readonly writeFrames: ((frames: Buffer) => boolean) | undefined;
  readonly channelNumber: number;
  readonly frameMax: number;
}

/** amqplib 2.x's `ConfirmChannel#publish` and `Channel#publish`, whitespace collapsed. */
const amqplibConfirmPublish =
  'publish(exchange, routingKey, content, options, cb) { const result = super.publish(exchange, routingKey, content, options); this.pushConfirmCallback(cb); return result; }';
const amqplibChannelPublish =
  'publish(exchange, routingKey, content, options) { const fieldsAndProps = Args.publish(exchange, routingKey, options); return this.sendMessage(fieldsAndProps, fieldsAndProps, content); }';

/**
 * The installed amqplib's major version. The fast path below rebuilds what amqplib's `Args.publish`
 * does; it was written against 2.x and is only taken there, whatever the method sources say.
 */
function amqplibMajorVersion(): number {
  try {
    const main = createRequire(import.meta.url).resolve('amqplib');
    const { version } = JSON.parse(readFileSync(join(dirname(main), 'package.json'), 'utf8')) as {
      version: string;
    };
    return Number(version.split('.')[0]);
  } catch {
    return Number.NaN;
  }
}

const fastPathAllowed = amqplibMajorVersion() === 2;

function sourceOf(method: unknown): string {
  return typeof method === 'function' ? Function.prototype.toString.call(method).replace(/\s+/g, ' ') : '';
}

/** amqplib 2.x's `Channel#sendMessage`, whitespace collapsed. */
const amqplibChannelSendMessage =
  'sendMessage(fields, properties, content) { return this.connection.sendMessage(this.ch, defs.BasicPublish, fields, defs.BasicProperties, properties, content); }';
/**
 * SHA-256 of amqplib 2.x's `Connection#sendMessage`, whitespace collapsed: it encodes the frames, sets
 * `sentSinceLastCheck` (for heartbeats) and writes them to `channels[channel].buffer`.
 */
const amqplibConnectionSendMessage = '9ad7e7955728a413bbbf0d44c7323c897aaf813e5ba2fd7a892022841099f282';

interface ChannelInternals {
  publish: unknown;
  sendMessage(fields: object, properties: object, content: Buffer): boolean;
  pushConfirmCallback(callback: (error: unknown) => void): void;
  readonly ch: number;
  readonly connection: {
    sentSinceLastCheck: boolean;
    readonly frameMax: number;
    readonly channels: readonly ({ readonly buffer: { write(chunk: Buffer): boolean } } | null)[];
  };
}

/** The closest object in `from`'s prototype chain (itself included) that owns `name`. */
function owner(from: object, name: string): Record<string, unknown> | undefined {
  for (let at: object | null = from; at !== null; at = Object.getPrototypeOf(at) as object | null) {
    if (Object.hasOwn(at, name)) return at as Record<string, unknown>;
  }
  return undefined;
}

/** How frames encoded here are written, when amqplib's write path is the one known here. */
function frameWriter(channel: ChannelInternals): ((frames: Buffer) => boolean) | undefined {
  const prototype = owner(channel, 'sendMessage');
  const connectionSendMessage = (Object.getPrototypeOf(channel.connection) as { sendMessage?: unknown })
    .sendMessage;
  if (
    prototype === undefined ||
    prototype === (channel as unknown as Record<string, unknown>) ||
    sourceOf(prototype.sendMessage) !== amqplibChannelSendMessage ||
    createHash('sha256').update(sourceOf(connectionSendMessage)).digest('hex') !==
      amqplibConnectionSendMessage ||
    typeof channel.connection.channels[channel.ch]?.buffer.write !== 'function'
  ) {
    return undefined;
  }
  const own = prototype.sendMessage;
  return (frames) => {
    // amqplib puts a throwing `sendMessage` on a channel it closed: it then throws as amqplib would.
    if (channel.sendMessage !== own) return channel.sendMessage({}, {}, frames);
    const { connection } = channel;
    connection.sentSinceLastCheck = true;
    return (connection.channels[channel.ch] as { buffer: { write(chunk: Buffer): boolean } }).buffer.write(
      frames,
    );
  };
}

/**
 * The internals, when publishing through them does exactly what `channel.publish` would: only while
 * both publish methods are amqplib's own, as written above. A method wrapped by an instrumentation
 * (such as @opentelemetry/instrumentation-amqplib, which must see every publish) or changed by another
 * amqplib release fails the comparison, and the public `publish` is used.
 */
export function publishInternals(channel: ConfirmChannel): PublishInternals | undefined {
  const candidate = channel as unknown as Partial<ChannelInternals>;
  const channelPrototype = Object.getPrototypeOf(Object.getPrototypeOf(channel) as object) as {
    publish?: unknown;
  } | null;
  if (
    !fastPathAllowed ||
    sourceOf(candidate.publish) !== amqplibConfirmPublish ||
    sourceOf(channelPrototype?.publish) !== amqplibChannelPublish ||
    typeof candidate.sendMessage !== 'function' ||
    typeof candidate.pushConfirmCallback !== 'function' ||
    typeof candidate.ch !== 'number' ||
    typeof candidate.connection?.frameMax !== 'number'
  ) {
    return undefined;
  }
  const internals = candidate as ChannelInternals;
  return {
    sendMessage: (fields, properties, content) => internals.sendMessage(fields, properties, content),
    pushConfirmCallback: (callback) => internals.pushConfirmCallback(callback),
    writeFrames: frameWriter(internals),
    channelNumber: internals.ch,
    frameMax: internals.connection.frameMax,
  };
}

/**
 * The method and property fields amqplib's `publish` builds (`Args.publish`), but with the headers as
 * the table's own properties: amqplib copies them onto a new object's prototype, and encoding a table
 * through a prototype chain cost about 10 µs per message, a quarter of the publishing client's CPU, in
 * `npm run bench:rabbitmq`.
 */
export function publishFields(exchange: string, routingKey: string, options: Options.Publish): object {
  return {
    exchange,
    routingKey,
    mandatory: options.mandatory === true,
    immediate: false,
    ticket: undefined,
    contentType: options.contentType,
    contentEncoding: options.contentEncoding,
    headers: options.headers,
    deliveryMode: options.persistent === undefined ? undefined : options.persistent ? 2 : 1,
    priority: options.priority,
    correlationId: options.correlationId,
    replyTo: options.replyTo,
    expiration: options.expiration === undefined ? undefined : String(options.expiration),
    messageId: options.messageId,
    timestamp: options.timestamp,
    type: options.type,
    userId: options.userId,
    appId: options.appId,
    clusterId: undefined,
  };
}

/** The part of amqplib's connection that writes frames: its muxer over the socket. */
interface Muxed {
  readonly connection?: {
    readonly muxer?: {
      _readIncoming?: () => void;
      readonly out?: { cork?: () => void; uncork?: () => void };
    };
  };
}

const coalesced = new WeakSet<object>();

/**
 * Makes the frames amqplib's muxer writes in one pass over the channel buffers reach the socket in one
 * `writev` instead of one `write` (a system call) per frame: the muxer's pass is wrapped in
 * `cork()`/`uncork()`. The bytes, their order and the back-pressure are unchanged (the muxer still
 * stops when the socket's buffer is full, and `uncork` flushes what it wrote); with a confirm window of
 * 1,000 messages a pass often holds dozens of them, and the per-message `write` was a sixth of the
 * publishing client's CPU in `npm run bench:rabbitmq`. Only on amqplib 2.x with that muxer; otherwise
 * nothing is changed. Idempotent.
 */
export function coalesceWrites(model: ChannelModel): void {
  const muxer = (model as unknown as Muxed).connection?.muxer;
  const pass = muxer?._readIncoming;
  const out = muxer?.out;
  if (
    !fastPathAllowed ||
    muxer === undefined ||
    coalesced.has(muxer) ||
    typeof pass !== 'function' ||
    typeof out?.cork !== 'function' ||
    typeof out.uncork !== 'function'
  ) {
    return;
  }
  coalesced.add(muxer);
  const socket = out as { cork(): void; uncork(): void };
  muxer._readIncoming = () => {
    socket.cork();
    try {
      pass.call(muxer);
    } finally {
      socket.uncork();
    }
  };
}
