/**
 * The publish fast path: while amqplib's `ConfirmChannel#publish` is its own (as amqplib 2.x writes it,
 * not wrapped by an instrumentation), a message is sent through the two internals that method is made
 * of, with the headers passed as they are instead of amqplib's costly copy of them. Otherwise the
 * public `publish` is used, so instrumentations see every message.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';

/**
 * The two amqplib internals `ConfirmChannel#publish` is made of: `Channel#sendMessage` for the frames,
 * `pushConfirmCallback` for the confirm.
 */
export interface PublishInternals {
  sendMessage(fields: object, properties: object, content: Buffer): boolean;
  pushConfirmCallback(callback: (error: unknown) => void): void;
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

/**
 * The internals, when publishing through them does exactly what `channel.publish` would: only while
 * both publish methods are amqplib's own, as written above. A method wrapped by an instrumentation
 * (such as @opentelemetry/instrumentation-amqplib, which must see every publish) or changed by another
 * amqplib release fails the comparison, and the public `publish` is used.
 */
export function publishInternals(channel: ConfirmChannel): PublishInternals | undefined {
  const candidate = channel as unknown as Partial<PublishInternals> & { publish: unknown };
  const channelPrototype = Object.getPrototypeOf(Object.getPrototypeOf(channel) as object) as {
    publish?: unknown;
  } | null;
  if (
    !fastPathAllowed ||
    sourceOf(candidate.publish) !== amqplibConfirmPublish ||
    sourceOf(channelPrototype?.publish) !== amqplibChannelPublish ||
    typeof candidate.sendMessage !== 'function' ||
    typeof candidate.pushConfirmCallback !== 'function'
  ) {
    return undefined;
  }
  return candidate as PublishInternals;
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
