/**
 * The producer side: publishes through the transport with send spans around each publish, the trace
 * context in each message's headers, and records the send metrics. This is the per-message publish
 * path: without an SDK the spans have no valid context, and nothing is kept for them.
 */
import { context, SpanKind, trace, type Link, type Span } from '@opentelemetry/api';
import type { OutgoingMessage, Transport } from '../transport.js';
import type { ConventionMetrics } from './convention-metrics.js';
import { Attr, OperationType } from './semconv.js';
import { fail, hasValidContext, type SpanFactory } from './span-factory.js';
import type { TransportDescription } from './transport-description.js';

/** An outgoing message whose headers the tracing layer may still add trace context to. */
export type TracedMessage = OutgoingMessage & { headers: Record<string, string> };

export class SendTelemetry {
  constructor(
    private readonly transport: Transport,
    private readonly description: TransportDescription,
    private readonly spans: SpanFactory,
    private readonly metrics: ConventionMetrics,
    /** False when an instrumentation owns send spans: then none is made and nothing injected. */
    private readonly ownsSpans: boolean,
  ) {}

  /**
   * Publishes `messages` (one destination) through the transport with a PRODUCER `send` span around
   * it, or for a batch a PRODUCER `create` span per message plus a CLIENT `send` span linked to them;
   * injects each message's trace context into its headers first (sampled or not). The transport
   * publishes in the caller's context, not the send span's, as the amqplib instrumentation publishes
   * (https://github.com/open-telemetry/opentelemetry-js-contrib, `instrumentation-amqplib`): a span made
   * there, such as an outbox's INSERT under a database instrumentation, is the send span's sibling.
   * Activating the send span for it took about a sixth of what tracing a publish costs.
   */
  publish(messages: readonly TracedMessage[]): Promise<void> {
    const first = messages[0];
    if (first === undefined) return this.transport.publish(messages);
    const destination = this.description.sendDestination(first.destination);
    const started = performance.now();
    const spans = this.ownsSpans ? this.startSendSpans(messages, destination) : undefined;
    return this.transport.publish(messages).then(
      () => this.sendFinished(messages.length, destination, started, spans, undefined),
      (error: unknown) => {
        this.sendFinished(messages.length, destination, started, spans, error as Error);
        throw error;
      },
    );
  }

  /**
   * Starts the spans of one publish and injects their contexts. Undefined when the send span has no
   * valid context: there is nothing to inject or end.
   */
  private startSendSpans(messages: readonly TracedMessage[], destination: string): Span[] | undefined {
    const { spans: factory, description } = this;
    const operation = description.operationNames.send;
    const parent = context.active();
    const first = messages[0] as TracedMessage;
    if (messages.length === 1) {
      const span = factory.start(`${operation} ${destination}`, SpanKind.PRODUCER, parent, [], () =>
        factory.messageAttributes(first, factory.attributes(operation, OperationType.send, destination)),
      );
      if (!hasValidContext(span)) return undefined;
      description.inject(trace.setSpan(parent, span), first.headers);
      return [span];
    }
    const spans: Span[] = [];
    const links: Link[] = [];
    for (const message of messages) {
      const create = factory.start(`create ${destination}`, SpanKind.PRODUCER, parent, [], () =>
        factory.messageAttributes(message, factory.attributes('create', OperationType.create, destination)),
      );
      spans.push(create);
      links.push({ context: create.spanContext() });
      if (hasValidContext(create)) description.inject(trace.setSpan(parent, create), message.headers);
    }
    const send = factory.start(`${operation} ${destination}`, SpanKind.CLIENT, parent, links, () => {
      const attributes = factory.attributes(operation, OperationType.send, destination);
      attributes[Attr.batchMessageCount] = messages.length;
      return attributes;
    });
    if (!hasValidContext(send)) return undefined;
    spans.push(send);
    return spans;
  }

  /** Ends the spans of a publish and records its metrics. */
  private sendFinished(
    count: number,
    destination: string,
    started: number,
    spans: readonly Span[] | undefined,
    error: Error | undefined,
  ): void {
    if (spans !== undefined) {
      for (const span of spans) {
        if (error !== undefined) fail(span, error);
        span.end();
      }
    }
    const { metrics } = this;
    const operation = this.description.operationNames.send;
    metrics.count('sent', metrics.seriesFor('sent', operation, destination, error), count);
    metrics.recordDuration(
      'operation',
      metrics.seriesFor('operation', operation, destination, error),
      started,
    );
  }
}
