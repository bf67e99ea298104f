/**
 * The message being handled, carried through async calls, so that a `Bus` used anywhere inside a
 * handler (injected or not) stamps correlation and causation ids, and so that services resolved for the
 * message can read its context.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MessageContext } from './types.js';

const storage = new AsyncLocalStorage<MessageContext>();

/** The context of the message whose handling is running, or undefined outside a handler. */
export function currentMessageContext(): MessageContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `context` as the current message context. */
export function runInMessageScope<R>(context: MessageContext, fn: () => R): R {
  return storage.run(context, fn);
}
