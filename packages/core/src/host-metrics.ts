/** The metrics a consumer host exposes on `/metrics`, by consumer and queue. */
import type { MetricsRegistry } from './metrics-registry.js';
import type { FaultReason } from './transport.js';

/** Handles bound to one consumer's labels, so the per-message cost is a few additions. */
export interface EndpointMetrics {
  readonly handled: { inc(): void };
  readonly skipped: (kind: 'filtered' | 'duplicate') => void;
  readonly failed: { inc(): void };
  readonly retried: { inc(): void };
  readonly released: { inc(): void };
  readonly deadLettered: (reason: FaultReason) => void;
  readonly inFlight: { inc(): void; dec(): void };
  /** Handler calls still running past their timeout (they ignore their aborted signal). */
  readonly overdue: { inc(): void; dec(): void };
  readonly breakerOpen: { set(value: number): void };
}

export function registerHostMetrics(registry: MetricsRegistry) {
  const labels = ['consumer', 'queue'];
  const handled = registry.counter('sluice_messages_handled_total', 'Messages handled successfully.', labels);
  const skipped = registry.counter(
    'sluice_messages_skipped_total',
    'Messages acknowledged without calling the handler (filtered out or duplicate).',
    [...labels, 'reason'],
  );
  const failed = registry.counter(
    'sluice_messages_failed_total',
    'Failed handler calls (every try counts).',
    labels,
  );
  const retried = registry.counter(
    'sluice_messages_retried_total',
    'Messages handed back to the transport for a delayed redelivery.',
    labels,
  );
  const released = registry.counter(
    'sluice_messages_released_total',
    'Messages returned to their queue unhandled because the host was stopping.',
    labels,
  );
  const deadLettered = registry.counter(
    'sluice_messages_dead_lettered_total',
    'Messages moved to the dead-letter queue.',
    [...labels, 'reason'],
  );
  const inFlight = registry.gauge('sluice_messages_in_flight', 'Messages being handled now.', labels);
  const overdue = registry.gauge(
    'sluice_handlers_overdue',
    'Handler calls still running (up to) a second past their timeoutMs: they ignore their aborted signal and hold their concurrency slot.',
    labels,
  );
  const breakerOpen = registry.gauge(
    'sluice_circuit_breaker_open',
    '1 while the consumer is paused by its circuit breaker.',
    labels,
  );
  const queueDepth = registry.gauge(
    'sluice_queue_depth',
    'Messages ready in the queue (sampled on scrape).',
    ['queue'],
  );

  const deadLetterDepth = registry.gauge(
    'sluice_dead_letter_depth',
    "Messages in the queue's dead-letter queue (`Transport.deadLetterQueue`, sampled on scrape).",
    ['queue'],
  );

  return {
    queueDepth,
    deadLetterDepth,
    forEndpoint(consumer: string, queue: string): EndpointMetrics {
      const bound = { consumer, queue };
      return {
        handled: handled.with(bound),
        skipped: (reason) => skipped.inc({ ...bound, reason }),
        failed: failed.with(bound),
        retried: retried.with(bound),
        released: released.with(bound),
        deadLettered: (reason) => deadLettered.inc({ ...bound, reason }),
        inFlight: inFlight.with(bound),
        overdue: overdue.with(bound),
        breakerOpen: breakerOpen.with(bound),
      };
    },
  };
}

export type HostMetrics = ReturnType<typeof registerHostMetrics>;
