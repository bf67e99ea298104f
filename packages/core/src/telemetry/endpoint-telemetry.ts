/**
 * The consumer side of one consumer: the process span of each delivery (child of the producer's span
 * by default, always linked to it), failed calls as span events, settle / retry / dead-letter spans
 * with a PRODUCER span for the dead-lettered copy, and the processing metrics.
 */
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import type { Delivery, Fault, MessagingOperation } from '../transport.js';
import type { ConventionMetrics } from './convention-metrics.js';
import { Attr, OperationType } from './semconv.js';
import { errorType, fail, traceLogFields, type SpanFactory } from './span-factory.js';
import type { TransportDescription } from './transport-description.js';

/** The process span of one delivery, and what its log lines and settlement spans need. */
export interface ProcessTrace {
  /** Context the pipeline runs in (the process span active). */
  readonly context: Context;
  /** `trace_id` / `span_id` for log lines, when the context carries a valid span. */
  readonly logFields: Readonly<Record<string, string>>;
  readonly destination: string;
  readonly span: Span | undefined;
  readonly started: number;
  readonly traceparent: string | undefined;
}

/** Consumer-side telemetry of one consumer. */
export interface EndpointTelemetry {
  /** Starts the process span (in the context active now, for `instrumentation` ownership). */
  startProcess(delivery: Delivery): ProcessTrace;
  /** Records a failed handler call on the active (process) span. */
  recordFailure(error: Error, tryNumber: number): void;
  /** Ends the process span and records processing metrics. */
  endProcess(process: ProcessTrace, error: Error | undefined): void;
  /**
   * Runs a settlement inside a settle span. Settle, retry and dead-letter spans are children of the
   * process span, and none is started when it does not record (an unsampled trace).
   */
  settle(process: ProcessTrace, operation: 'ack' | 'release', run: () => Promise<void>): Promise<void>;
  /** Runs a redelivery request inside a `retry` span. */
  retry(process: ProcessTrace, delayMs: number, nextAttempt: number, run: () => Promise<void>): Promise<void>;
  /**
   * Dead-letters inside a settle span with a child PRODUCER span for the copy, named as the transport
   * names its sends and its dead-letter queue; the copy gets that span's trace context and keeps the
   * original `traceparent` in its own header. Where the broker moves dead letters itself
   * (`capabilities.nativeDeadLetterQueue`) nothing is sent: no PRODUCER span, and the dead letter gets
   * the settle span's trace context.
   */
  deadLetter(process: ProcessTrace, fault: Fault, run: (fault: Fault) => Promise<void>): Promise<void>;
}

/** What the consumer side is built from. */
export interface ConsumerTelemetryParts {
  readonly description: TransportDescription;
  readonly spans: SpanFactory;
  readonly metrics: ConventionMetrics;
  /** False when an instrumentation owns process spans: none is made, handlers run in its context. */
  readonly ownsSpans: boolean;
  /** True: the producer's span is the process span's parent; false: a new trace, linked. */
  readonly parentIsProducer: boolean;
}

export class ConsumerTelemetry implements EndpointTelemetry {
  private readonly consumerAttributes: Attributes;

  constructor(
    private readonly parts: ConsumerTelemetryParts,
    private readonly endpoint: { readonly queue: string; readonly subscription: string | undefined },
  ) {
    this.consumerAttributes = {
      [Attr.messagingSystem]: parts.description.system,
      [Attr.consumerGroupName]: endpoint.queue,
    };
  }

  startProcess(delivery: Delivery): ProcessTrace {
    const { description, spans, metrics } = this.parts;
    const { endpoint } = this;
    const { message } = delivery;
    const destination = description.consumeDestination(endpoint.queue, message);
    const started = performance.now();
    metrics.count('consumed', metrics.seriesFor('consumed', 'process', destination), 1);
    const traceparent = description.traceparent(message.headers);
    let span: Span | undefined;
    let processContext = context.active();
    if (this.parts.ownsSpans) {
      const producer = description.extract(message.headers);
      const producerSpan = trace.getSpanContext(producer);
      const links: Link[] =
        producerSpan !== undefined && isSpanContextValid(producerSpan) ? [{ context: producerSpan }] : [];
      span = spans.start(
        `process ${destination}`,
        SpanKind.CONSUMER,
        this.parts.parentIsProducer ? producer : ROOT_CONTEXT,
        links,
        () => {
          const attributes = spans.messageAttributes(
            message,
            spans.attributes('process', OperationType.process, destination),
          );
          attributes[Attr.consumerGroupName] = endpoint.queue;
          attributes['sluice.delivery.attempt'] = delivery.attempt;
          if (endpoint.subscription !== undefined) attributes[Attr.subscriptionName] = endpoint.subscription;
          const brokerAttributes = description.deliveryAttributes(delivery);
          if (brokerAttributes !== undefined) Object.assign(attributes, brokerAttributes);
          return attributes;
        },
      );
      processContext = trace.setSpan(processContext, span);
    }
    const logFields = traceLogFields(processContext);
    return { context: processContext, logFields, destination, span, started, traceparent };
  }

  recordFailure(error: Error, tryNumber: number): void {
    const span = trace.getActiveSpan();
    span?.recordException(error);
    span?.addEvent('sluice.handler.failed', { 'sluice.try': tryNumber, [Attr.errorType]: errorType(error) });
  }

  endProcess(process: ProcessTrace, error: Error | undefined): void {
    if (process.span !== undefined) {
      if (error !== undefined) fail(process.span, error);
      process.span.end();
    }
    const { metrics } = this.parts;
    metrics.recordDuration(
      'process',
      metrics.seriesFor('process', 'process', process.destination, error),
      process.started,
    );
  }

  settle(process: ProcessTrace, operation: 'ack' | 'release', run: () => Promise<void>): Promise<void> {
    return this.settleSpan(process, operation, OperationType.settle, undefined, run);
  }

  retry(
    process: ProcessTrace,
    delayMs: number,
    nextAttempt: number,
    run: () => Promise<void>,
  ): Promise<void> {
    this.parts.metrics.instruments.retries.add(1, this.consumerAttributes);
    const extra = { 'sluice.retry.delay_ms': delayMs, 'sluice.retry.attempt': nextAttempt };
    return this.settleSpan(process, 'retry', OperationType.send, extra, run);
  }

  deadLetter(process: ProcessTrace, fault: Fault, run: (fault: Fault) => Promise<void>): Promise<void> {
    const { description, spans, metrics, ownsSpans } = this.parts;
    metrics.instruments.deadLetters.add(1, {
      ...this.consumerAttributes,
      'sluice.fault.reason': fault.reason,
    });
    const extra = { 'sluice.fault.reason': fault.reason };
    return this.settleSpan(process, 'deadLetter', OperationType.settle, extra, async (settle) => {
      const original = { ...fault, originalTraceparent: process.traceparent };
      if (!ownsSpans) return run(original);
      if (description.nativeDeadLetterQueue) {
        // The broker moves the message itself: the settle span is the last hop of its trace.
        const traceHeaders: Record<string, string> = {};
        description.inject(trace.setSpan(process.context, settle), traceHeaders);
        return run({ ...original, traceHeaders });
      }
      const dlq = description.deadLetterDestination(this.endpoint.queue);
      const operation = description.operationNames.send;
      const sendContext = trace.setSpan(process.context, settle);
      const send = spans.start(`${operation} ${dlq}`, SpanKind.PRODUCER, sendContext, [], () =>
        spans.attributes(operation, OperationType.send, dlq),
      );
      const traceHeaders: Record<string, string> = {};
      description.inject(trace.setSpan(sendContext, send), traceHeaders);
      try {
        await run({ ...original, traceHeaders });
      } catch (thrown) {
        fail(send, thrown as Error);
        throw thrown;
      } finally {
        send.end();
      }
    });
  }

  /**
   * Runs `run` inside a settle-type span, child of the process span. When the process span does not
   * record (its trace is not sampled), none is started: a child of an unsampled span is not sampled
   * by the SDK's parent-based samplers either, and an unsampled message then costs no span here;
   * `run` gets the process span, whose (unsampled) trace context a dead-letter copy carries on.
   */
  private async settleSpan(
    process: ProcessTrace,
    operation: MessagingOperation,
    type: string,
    extra: Attributes | undefined,
    run: (span: Span) => Promise<void>,
  ): Promise<void> {
    const { description, spans, metrics } = this.parts;
    const name = description.operationNames[operation];
    const unsampled = process.span !== undefined && !process.span.isRecording();
    const span = unsampled
      ? (process.span as Span)
      : spans.start(`${name} ${process.destination}`, SpanKind.CLIENT, process.context, [], () => {
          const attributes = spans.attributes(name, type, process.destination);
          if (extra !== undefined) Object.assign(attributes, extra);
          return attributes;
        });
    const started = performance.now();
    let error: Error | undefined;
    try {
      // Not made active: settlement runs no code that creates spans, and the dead-letter send takes
      // the settle span as its explicit parent. Saves a context switch per message.
      await run(span);
    } catch (thrown) {
      error = thrown as Error;
      if (!unsampled) fail(span, error);
      throw thrown;
    } finally {
      if (!unsampled) span.end();
      metrics.recordDuration(
        'operation',
        metrics.seriesFor('operation', name, process.destination, error),
        started,
      );
    }
  }
}
