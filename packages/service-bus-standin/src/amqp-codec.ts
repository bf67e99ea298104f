import { randomUUID } from 'node:crypto';
import rhea, { type Message } from 'rhea';
import type { Lock, StoredMessage } from './message-queue.js';

/** `message_format` of a transfer that carries several messages, one per data section. */
const batchMessageFormat = 0x80013700;

const messageStateCodes = { active: 0, deferred: 1, scheduled: 2 } as const;

/** A copy of `message` with `changes` applied (the original is never modified). */
export function copyMessage(message: Message, changes: Partial<Message>): Message {
  return Object.assign(Object.create(Object.getPrototypeOf(message) as object) as Message, message, changes);
}

/** The messages a transfer carries: the one decoded message (format 0) or a batch's messages. */
export function messagesOfTransfer(payload: Message | Buffer, format: number | undefined): Message[] {
  if (!Buffer.isBuffer(payload)) return [payload];
  if (format !== batchMessageFormat) throw new Error(`message format ${format} is not supported`);
  const body: unknown = rhea.message.decode(payload).body;
  const section = body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  if (section?.typecode !== 0x75) throw new Error('a batch must carry data sections');
  const parts = section.multiple === true ? (section.content as Buffer[]) : [section.content as Buffer];
  return parts.map(decodeMessage);
}

/** Decodes one encoded AMQP message. */
export function decodeMessage(bytes: Buffer): Message {
  return rhea.message.decode(bytes) as unknown as Message;
}

/** The encoded size of `message` in bytes. */
export function encodedSize(message: Message): number {
  return rhea.message.encode(message).length;
}

/** `message` with a broker-assigned `message_id` when the sender set none. */
export function withMessageId(message: Message): Message {
  if (message.message_id !== undefined && message.message_id !== null) return message;
  return copyMessage(message, { message_id: randomUUID().replace(/-/g, '') });
}

/**
 * The message as a receiver gets it: the header's `delivery_count` and the broker annotations
 * (`x-opt-sequence-number`, `x-opt-enqueued-time`, `x-opt-message-state`, and `x-opt-locked-until`
 * for a locked delivery) added to what the sender wrote.
 */
export function deliveredMessage(stored: StoredMessage, lock: Lock | undefined): Message {
  const annotations: Record<string, unknown> = {
    ...stored.message.message_annotations,
    'x-opt-sequence-number': rhea.types.wrap_long(stored.sequenceNumber),
    'x-opt-enqueued-time': new Date(stored.enqueuedAt),
    'x-opt-message-state': rhea.types.wrap_int(messageStateCodes[stored.state]),
  };
  if (lock !== undefined) annotations['x-opt-locked-until'] = new Date(lock.lockedUntil);
  return copyMessage(stored.message, {
    delivery_count: stored.deliveryCount,
    message_annotations: annotations,
  });
}

/** `deliveredMessage` encoded, as `$management` replies carry messages. */
export function encodeDelivered(stored: StoredMessage, lock: Lock | undefined): Buffer {
  return rhea.message.encode(deliveredMessage(stored, lock));
}
