import { ErrorCodes, SluiceError, toError } from '../errors.js';
import type { IdempotencyStore } from '../idempotency-store.js';
import type { Logger } from '../logger.js';
import type { Middleware } from './invocation.js';

/** How long a completed key is kept, and the lease of a claim. */
export interface IdempotencySettings {
  readonly ttlMs: number;
  readonly leaseMs: number;
}

/**
 * Handles each message id once per consumer: a completed id is skipped; an id claimed by another
 * delivery right now fails this one with `SLUICE_IN_PROGRESS` (retried later, past the last attempt
 * too, until the other has finished or its lease has lapsed: see `settlementFor`). The claim's lease is renewed every third of it while the
 * rest of the pipeline runs (in-process retries included, and a timed-out call until it returned);
 * then the key is completed after success or released after failure. A store that fails to complete
 * or release is logged, not fatal: the message was handled (or failed) all the same, and the claim
 * lapses with its lease.
 */
export function idempotencyMiddleware(
  store: IdempotencyStore,
  { ttlMs, leaseMs }: IdempotencySettings,
  logger: Logger,
): Middleware {
  return async (invocation, next) => {
    const { messageId } = invocation.delivery.message;
    const key = `${invocation.endpoint.queue}:${messageId}`;
    const claim = await store.claim(key, leaseMs);
    if (claim.state === 'completed') {
      invocation.skipped = 'duplicate';
      return;
    }
    if (claim.state === 'in-progress') {
      throw new SluiceError(
        ErrorCodes.IN_PROGRESS,
        `message ${messageId} is being handled by another delivery`,
      );
    }
    const { token } = claim;
    const renewal = setInterval(
      () => {
        store.renew(key, token, leaseMs).then(
          (held) => {
            if (held) return;
            clearInterval(renewal);
            logger.warn(
              { messageId, leaseMs },
              'idempotency claim lost (its lease ended before it was renewed): a duplicate may be handled beside this call',
            );
          },
          (error: unknown) => {
            logger.warn({ messageId, err: toError(error) }, 'could not renew the idempotency claim');
          },
        );
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
    renewal.unref();
    try {
      await next();
    } catch (error) {
      clearInterval(renewal);
      await store.release(key, token).catch((releaseError: unknown) => {
        logger.warn(
          { messageId, err: toError(releaseError) },
          `could not release the idempotency claim: a retry waits for its lease (${leaseMs} ms) to lapse`,
        );
      });
      throw error;
    }
    clearInterval(renewal);
    await store.complete(key, token, ttlMs).catch((completeError: unknown) => {
      logger.warn(
        { messageId, err: toError(completeError) },
        `handled, but the idempotency record could not be stored: a duplicate arriving after the claim's lease (${leaseMs} ms) is handled again`,
      );
    });
  };
}
