/**
 * An optional record of what the handlers finished, written from the consumer side: one line
 * `<consumer> <orderId>` per handler call that returned without throwing (a redelivered duplicate that
 * is handled again writes a second line). Load tests read it to count, per order, that every handler
 * ran, without trusting the producer's side.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Middleware } from '@sluice/core';

export interface HandledRecord {
  /** Host middleware that appends a line after each successful handler call of a message with an `orderId`. */
  readonly middleware: Middleware;
  /** Flushes and closes the file; resolves when every line is written. */
  close(): Promise<void>;
}

/** Appends to the file at `path` (created if missing). */
export function openHandledRecord(path: string): HandledRecord {
  const stream = createWriteStream(path, { flags: 'a' });
  return {
    middleware: async (invocation, next) => {
      await next();
      const orderId = (invocation.payload as { orderId?: unknown } | undefined)?.orderId;
      if (typeof orderId === 'string') stream.write(`${invocation.endpoint.name} ${orderId}\n`);
    },
    async close() {
      stream.end();
      await once(stream, 'finish');
    },
  };
}
