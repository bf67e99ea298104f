import { matchesFilter, type MessageFilter } from '../message-filter.js';
import type { Middleware } from './invocation.js';

/** Skips (and so acknowledges) messages whose properties do not match the subscription's filter. */
export function filterMiddleware(filter: MessageFilter): Middleware {
  return async (invocation, next) => {
    if (!matchesFilter(filter, invocation.delivery.message.headers)) {
      invocation.skipped = 'filtered';
      return;
    }
    await next();
  };
}
