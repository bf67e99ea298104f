/**
 * The producer side: publishes through the transport inside send spans, with the trace context in
 * each message's headers, and records the send metrics. This is the per-message publish path: without
 * an SDK the spans have no valid context, and nothing is kept or activated for them.
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
   * Publishes `messages` (one destination) through the transport inside a PRODUCER `send` span, or for
   * a batch a PRODUCER `create` span per message plus a CLIENT `send` span linked to them; injects each
   * message's trace context into its headers first (sampled or not). The send span is the active one
   * during the transport's publish when it records.
   */
  publish(messages: readonly TracedMessage[]): Promise<void> {
    const first = messages[0];
    if (first === undefined) return this.transport.publish(messages);
    const destination = this.description.sendDestination(first.destination);
    const started = performance.now();
    const spans = this.ownsSpans ? this.startSendSpans(messages, destination) : undefined;
    const send = spans?.[spans.length - 1];
    // The send span is active while the transport publishes, so that spans made there are its
    // children. Not an unsampled one: its children would not be sampled either, and activating a
    // context is a good part of what an unsampled publish costs.
    const publishing =
      send === undefined || !send.isRecording()
        ? this.transport.publish(messages)
        : context.with(trace.setSpan(context.active(), send), () => this.transport.publish(messages));
    return publishing.then(
      () => this.sendFinished(messages.length, destination, started, spans, undefined),
      (error: unknown) => {
        this.sendFinished(messages.length, destination, started, spans, error as Error);
        throw error;
      },
    );
  }

  /**
   * Starts the spans of one publish and injects their contexts; the send span comes last. Undefined
   * when the send span has no valid context: there is nothing to inject, activate or end.
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
