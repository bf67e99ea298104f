/** The messages of the tests whose consumer processes record effects (`fixtures/consumer.mjs`). */
import { randomUUID } from 'node:crypto';
import type { OutgoingMessage } from '@sluice/core';

/** `count` messages of `type` to its topic, body `{ n }`, each with a unique message id. */
export function effectMessages(type: string, count: number): OutgoingMessage[] {
  return Array.from({ length: count }, (_, n) => ({
    messageId: `m-${n}-${randomUUID()}`,
    type,
    contentType: 'application/json',
    sentAt: new Date(),
    headers: {},
    body: Buffer.from(JSON.stringify({ n })),
    destination: { topic: type },
    mandatory: true,
  }));
}
