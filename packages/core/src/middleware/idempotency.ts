import { ErrorCodes, SluiceError } from '../errors.js';
import type { IdempotencyStore } from '../idempotency-store.js';
import type { Middleware } from './invocation.js';

/**
 * Handles each message id once per consumer: a completed id is skipped; an id being handled by another
 * delivery right now fails this one (retried later, by which time the other has finished); a failure
 * releases the claim so the retry runs.
 */
export function idempotencyMiddleware(store: IdempotencyStore, ttlMs: number): Middleware {
  return async (invocation, next) => {
    const key = `${invocation.endpoint.queue}:${invocation.delivery.message.messageId}`;
    const claim = await store.claim(key, ttlMs);
    if (claim === 'completed') {
      invocation.skipped = 'duplicate';
      return;
    }
    if (claim === 'in-progress') {
      throw new SluiceError(
        ErrorCodes.IN_PROGRESS,
        `message ${invocation.delivery.message.messageId} is being handled by another delivery`,
      );
    }
    try {
      await next();
    } catch (error) {
      await store.release(key);
      throw error;
    }
    await store.complete(key, ttlMs);
  };
}
