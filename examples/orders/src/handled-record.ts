/**
 * An optional record of what the handlers finished, written from the consumer side: one line
 * `<consumer> <orderId>` per handler call that returned without throwing (a redelivered duplicate that
 * is handled again writes a second line). Load tests read it to count, per order, that every handler
 * ran, without trusting the producer's side.
 *
 * Each line is appended with one synchronous write before the handler's promise settles, so before the
 * host acknowledges the message: a process killed (SIGKILL) after an ack has its line in the file
 * already. A buffered stream would leave lines of acknowledged messages in memory, lost with a process
 * killed at the end of its termination grace, or cut off by the host's stop deadline before its
 * shutdown hook flushed them.
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Middleware } from '@sluice/core';

export interface HandledRecord {
  /** The file this process appends to. */
  readonly path: string;
  /** Host middleware that appends a line after each successful handler call of a message with an `orderId`. */
  readonly middleware: Middleware;
  /** Closes the file (every line is in it already). Idempotent. */
  close(): void;
}

/**
 * Appends to the file at `path` (created if missing); when `path` is a directory, to
 * `<path>/handled-<pid>.log`, so that processes started with the same setting (replicas) write files
 * of their own.
 */
export function openHandledRecord(path: string): HandledRecord {
  const file = statSync(path, { throwIfNoEntry: false })?.isDirectory()
    ? join(path, `handled-${process.pid}.log`)
    : path;
  let fd: number | undefined = openSync(file, 'a');
  return {
    path: file,
    middleware: async (invocation, next) => {
      await next();
      const orderId = (invocation.payload as { orderId?: unknown } | undefined)?.orderId;
      if (typeof orderId === 'string' && fd !== undefined) {
        writeSync(fd, `${invocation.endpoint.name} ${orderId}\n`);
      }
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
