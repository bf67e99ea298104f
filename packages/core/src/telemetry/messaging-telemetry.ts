/**
 * Traces and metrics per the OpenTelemetry messaging conventions, through `@opentelemetry/api` only:
 * without an SDK every call is a cheap no-op. One instance serves a bus or a host: `publish` is the
 * producer side (`send-telemetry.ts`), `forEndpoint` binds the consumer side to one consumer
 * (`endpoint-telemetry.ts`), `observeHost` the host's gauges (`host-gauges.ts`); they share the
 * transport's description, the span factory and the convention metrics.
 */
import type { MetricsRegistry } from '../metrics-registry.js';
import type { Transport } from '../transport.js';
import { ConventionMetrics } from './convention-metrics.js';
import {
  ConsumerTelemetry,
  type ConsumerTelemetryParts,
  type EndpointTelemetry,
} from './endpoint-telemetry.js';
import { observeHostGauges, type HostGauges } from './host-gauges.js';
import { SendTelemetry, type TracedMessage } from './send-telemetry.js';
import { SpanFactory } from './span-factory.js';
import { TransportDescription } from './transport-description.js';

export interface TracingOptions {
  /**
   * Who creates send and process spans. `sluice` (default): Sluice does and carries W3C trace context
   * in message headers. `instrumentation`: a library instrumentation (`@opentelemetry/instrumentation-amqplib`,
   * the Azure SDK's) already does; Sluice then creates neither and injects nothing, runs handlers in the
   * context active at delivery, and still records settle, retry and dead-letter spans, so there is
   * exactly one process span per delivery.
   */
  readonly spanOwnership?: 'sluice' | 'instrumentation';
  /**
   * Parent of a process span: `producer` (default; the send span, one trace from request to handler)
   * or `link` (a new trace). The producer's context is linked either way.
   */
  readonly processSpanParent?: 'producer' | 'link';
}

export class MessagingTelemetry {
  private readonly parts: ConsumerTelemetryParts;
  private readonly sending: SendTelemetry;

  constructor(transport: Transport, options: TracingOptions = {}, registry?: MetricsRegistry) {
    const description = new TransportDescription(transport);
    const spans = new SpanFactory(description);
    const metrics = new ConventionMetrics(description.system, registry);
    const ownsSpans = (options.spanOwnership ?? 'sluice') === 'sluice';
    const parentIsProducer = (options.processSpanParent ?? 'producer') === 'producer';
    this.parts = { description, spans, metrics, ownsSpans, parentIsProducer };
    this.sending = new SendTelemetry(transport, description, spans, metrics, ownsSpans);
  }

  /** Publishes `messages` (one destination) with send spans; see `SendTelemetry.publish`. */
  publish(messages: readonly TracedMessage[]): Promise<void> {
    return this.sending.publish(messages);
  }

  /** Consumer-side telemetry bound to one consumer. */
  forEndpoint(endpoint: {
    readonly queue: string;
    readonly subscription: string | undefined;
  }): EndpointTelemetry {
    return new ConsumerTelemetry(this.parts, endpoint);
  }

  /**
   * Observable `sluice.queue.depth` and `sluice.messages.in_flight`, read when metrics are collected.
   * Returns a function that stops observing (the host calls it when it stops).
   */
  observeHost(gauges: HostGauges): () => void {
    const { metrics, description } = this.parts;
    return observeHostGauges(metrics.instruments.meter, description.system, gauges);
  }
}
