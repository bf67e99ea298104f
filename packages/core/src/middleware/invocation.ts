/**
 * The middleware contract. Each consumer's pipeline is composed once at start-up; per message only the
 * composed functions run. Policy (retry, dedup, timeouts, breaker) lives here, never in a transport.
 */
import type { EndpointConfig } from '../endpoint-config.js';
import type { Delivery } from '../transport.js';

/** One delivery on its way through a consumer's pipeline. */
export interface Invocation {
  readonly delivery: Delivery;
  readonly endpoint: EndpointConfig;
  /** The decoded body, then (after validation) the typed payload. */
  payload: unknown;
  /** Aborted when the handler must stop: its timeout fired or the drain deadline passed. */
  signal: AbortSignal;
  /** Set when the message was skipped rather than handled. */
  skipped?: 'filtered' | 'duplicate';
}

/** A step around the rest of the pipeline. It may call `next` more than once (retries) or not at all. */
export type Middleware = (invocation: Invocation, next: () => Promise<void>) => Promise<void>;

/** Composes middleware (outermost first) around `terminal` into one function. */
export function compose(
  middleware: readonly Middleware[],
  terminal: (invocation: Invocation) => Promise<void>,
): (invocation: Invocation) => Promise<void> {
  return middleware.reduceRight<(invocation: Invocation) => Promise<void>>(
    (inner, step) => (invocation) => step(invocation, () => inner(invocation)),
    terminal,
  );
}
