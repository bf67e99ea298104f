/**
 * Traces and metrics per the OpenTelemetry messaging conventions, through `@opentelemetry/api` only:
 * without an SDK every call is a cheap no-op. One instance serves a bus or a host; `forEndpoint` binds
 * the consumer side to one consumer. Attribute sets and metric series are built once per destination
 * and reused, since every span and every metric record otherwise copies and hashes them per message.
 */
import {
  context,
  isSpanContextValid,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Counter as OtelCounter,
  type Histogram as OtelHistogram,
  type Link,
  type Meter,
  type ObservableResult,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { MetricsRegistry } from '../metrics-registry.js';
import type {
  Delivery,
  Destination,
  Fault,
  MessagingOperation,
  OutgoingMessage,
  Transport,
  TransportMessage,
} from '../transport.js';
import { Attr, durationBuckets, Metric, OperationType } from './semconv.js';

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

const meterName = '@sluice/core';
const defaultOperationNames: Record<MessagingOperation, string> = {
  send: 'send',
  ack: 'ack',
  retry: 'retry',
  deadLetter: 'dead_letter',
  release: 'release',
};

type Kind = 'operation' | 'process' | 'sent' | 'consumed';

/** The Prometheus mirror of the semantic-convention metrics on the host's `/metrics`. */
function registerConventionMetrics(registry: MetricsRegistry) {
  const labels = ['messaging_system', 'messaging_operation_name', 'messaging_destination_name', 'error_type'];
  return {
    process: registry.histogram(
      'messaging_process_duration_seconds',
      'Duration of processing operations (messaging.process.duration).',
      labels,
      durationBuckets,
    ),
    operation: registry.histogram(
      'messaging_client_operation_duration_seconds',
      'Duration of send and settle operations (messaging.client.operation.duration).',
      labels,
      durationBuckets,
    ),
    sent: registry.counter(
      'messaging_client_sent_messages_total',
      'Messages a producer attempted to send (messaging.client.sent.messages).',
      labels,
    ),
    consumed: registry.counter(
      'messaging_client_consumed_messages_total',
      'Messages delivered to a consumer (messaging.client.consumed.messages).',
      labels,
    ),
  };
}

interface OtelInstruments {
  readonly meter: Meter;
  readonly process: OtelHistogram;
  readonly operation: OtelHistogram;
  readonly sent: OtelCounter;
  readonly consumed: OtelCounter;
  readonly retries: OtelCounter;
  readonly deadLetters: OtelCounter;
}

function createInstruments(): OtelInstruments {
  const meter = metrics.getMeter(meterName);
  const duration = { unit: 's', advice: { explicitBucketBoundaries: durationBuckets } };
  const messages = { unit: '{message}' };
  return {
    meter,
    process: meter.createHistogram(Metric.processDuration, {
      ...duration,
      description: 'Duration of processing operations.',
    }),
    operation: meter.createHistogram(Metric.operationDuration, {
      ...duration,
      description: 'Duration of messaging operations.',
    }),
    sent: meter.createCounter(Metric.sentMessages, {
      ...messages,
      description: 'Messages a producer attempted to send.',
    }),
    consumed: meter.createCounter(Metric.consumedMessages, {
      ...messages,
      description: 'Messages delivered to a consumer.',
    }),
    retries: meter.createCounter('sluice.messages.retried', {
      ...messages,
      description: 'Delayed redeliveries scheduled.',
    }),
    deadLetters: meter.createCounter('sluice.messages.dead_lettered', {
      ...messages,
      description: 'Messages dead-lettered.',
    }),
  };
}

/** Reads `traceparent` from an alias header (Service Bus `Diagnostic-Id`) when it is absent. */
function headerGetter(aliases: readonly string[]): TextMapGetter<Readonly<Record<string, string>>> {
  return {
    keys: (carrier) => Object.keys(carrier),
    get(carrier, key) {
      const value = carrier[key];
      if (value !== undefined || key !== 'traceparent') return value;
      for (const alias of aliases) if (carrier[alias] !== undefined) return carrier[alias];
      return undefined;
    },
  };
}

function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name || '_OTHER';
}

function fail(span: Span, error: Error): void {
  span.setAttribute(Attr.errorType, errorType(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** `trace_id` and `span_id` of the span active in `ctx`, for log lines; empty without a valid span. */
export function traceLogFields(ctx: Context): Readonly<Record<string, string>> {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext !== undefined && isSpanContextValid(spanContext)
    ? { trace_id: spanContext.traceId, span_id: spanContext.spanId }
    : {};
}

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
  /** Runs a settlement inside a settle span. */
  settle(process: ProcessTrace, operation: 'ack' | 'release', run: () => Promise<void>): Promise<void>;
  /** Runs a redelivery request inside a `retry` span. */
  retry(process: ProcessTrace, delayMs: number, nextAttempt: number, run: () => Promise<void>): Promise<void>;
  /**
   * Dead-letters inside a settle span with a child PRODUCER span for the copy; the copy gets that
   * span's trace context and keeps the original `traceparent` in its own header.
   */
  deadLetter(process: ProcessTrace, fault: Fault, run: (fault: Fault) => Promise<void>): Promise<void>;
}

/** Gauges the host feeds: queue depth and in-flight messages per queue, read at collection. */
export interface HostGauges {
  readonly queues: readonly string[];
  inFlight(queue: string): number;
  depth(queue: string): Promise<number>;
}

/** An outgoing message whose headers the tracing layer may still add trace context to. */
export type TracedMessage = OutgoingMessage & { headers: Record<string, string> };

/** Metric series and attribute sets of one (operation, destination), built once. */
interface Series {
  readonly attributes: Attributes;
  readonly histogram?: { observe(value: number): void } | undefined;
  readonly counter?: { inc(by?: number): void } | undefined;
}

export class MessagingTelemetry {
  private readonly tracer = trace.getTracer(meterName);
  private readonly system: string;
  private readonly operationNames: Record<MessagingOperation, string>;
  private readonly aliases: readonly string[];
  private readonly getter: TextMapGetter<Readonly<Record<string, string>>>;
  private readonly registryMetrics: ReturnType<typeof registerConventionMetrics> | undefined;
  /** kind -> operation -> destination -> error type -> series. */
  private readonly series: Record<Kind, Map<string, Map<string, Map<string, Series>>>> = {
    operation: new Map(),
    process: new Map(),
    sent: new Map(),
    consumed: new Map(),
  };
  private otel: OtelInstruments | undefined;
  private readonly ownsSpans: boolean;
  private readonly parentIsProducer: boolean;

  constructor(
    private readonly transport: Transport,
    options: TracingOptions = {},
    registry?: MetricsRegistry,
  ) {
    const described = transport.telemetry;
    this.system = described?.system ?? transport.name;
    this.operationNames = { ...defaultOperationNames, ...described?.operationNames };
    this.aliases = described?.traceparentAliases ?? [];
    this.getter = headerGetter(this.aliases);
    this.registryMetrics = registry === undefined ? undefined : registerConventionMetrics(registry);
    this.ownsSpans = (options.spanOwnership ?? 'sluice') === 'sluice';
    this.parentIsProducer = (options.processSpanParent ?? 'producer') === 'producer';
  }

  /**
   * OpenTelemetry instruments come from the global MeterProvider at first use, so an SDK started
   * before the first message is picked up.
   */
  private get instruments(): OtelInstruments {
    this.otel ??= createInstruments();
    return this.otel;
  }

  /**
   * Observable `sluice.queue.depth` and `sluice.messages.in_flight`, read when metrics are collected.
   * Returns a function that stops observing (the host calls it when it stops).
   */
  observeHost(gauges: HostGauges): () => void {
    const { meter } = this.instruments;
    const base = { [Attr.messagingSystem]: this.system };
    const depthGauge = meter.createObservableGauge('sluice.queue.depth', {
      unit: '{message}',
      description: 'Messages ready in the queue.',
    });
    const observeDepth = async (result: ObservableResult) => {
      const depths = await Promise.allSettled(gauges.queues.map((queue) => gauges.depth(queue)));
      depths.forEach((depth, i) => {
        if (depth.status === 'fulfilled')
          result.observe(depth.value, { ...base, [Attr.destinationName]: gauges.queues[i] });
      });
    };
    const inFlightGauge = meter.createObservableUpDownCounter('sluice.messages.in_flight', {
      unit: '{message}',
      description: 'Messages being handled.',
    });
    const observeInFlight = (result: ObservableResult) => {
      for (const queue of gauges.queues)
        result.observe(gauges.inFlight(queue), { ...base, [Attr.consumerGroupName]: queue });
    };
    depthGauge.addCallback(observeDepth);
    inFlightGauge.addCallback(observeInFlight);
    return () => {
      depthGauge.removeCallback(observeDepth);
      inFlightGauge.removeCallback(observeInFlight);
    };
  }

  private seriesFor(kind: Kind, operation: string, destination: string, error?: Error): Series {
    const type = error === undefined ? '' : errorType(error);
    // Nested maps keyed by strings that already exist (their hashes are cached): no key is built per
    // message on this path.
    let byOperation = this.series[kind].get(operation);
    if (byOperation === undefined) {
      byOperation = new Map();
      this.series[kind].set(operation, byOperation);
    }
    let byType = byOperation.get(destination);
    if (byType === undefined) {
      byType = new Map();
      byOperation.set(destination, byType);
    }
    let found = byType.get(type);
    if (found === undefined) {
      found = this.createSeries(kind, operation, destination, type);
      byType.set(type, found);
    }
    return found;
  }

  private createSeries(kind: Kind, operation: string, destination: string, type: string): Series {
    const labels = {
      messaging_system: this.system,
      messaging_operation_name: operation,
      messaging_destination_name: destination,
      error_type: type,
    };
    const attributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.operationName]: operation,
      [Attr.destinationName]: destination,
    };
    if (type !== '') attributes[Attr.errorType] = type;
    const metrics = this.registryMetrics;
    return kind === 'sent' || kind === 'consumed'
      ? { attributes, counter: metrics?.[kind].with(labels) }
      : { attributes, histogram: metrics?.[kind].with(labels) };
  }

  private recordDuration(kind: 'operation' | 'process', series: Series, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    series.histogram?.observe(seconds);
    this.instruments[kind].record(seconds, series.attributes);
  }

  private count(kind: 'sent' | 'consumed', series: Series, by: number): void {
    series.counter?.inc(by);
    this.instruments[kind].add(by, series.attributes);
  }

  private spanAttributes(operation: string, type: string, destination: string): Attributes {
    const described = this.transport.telemetry;
    const attributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.operationName]: operation,
      [Attr.operationType]: type,
      [Attr.destinationName]: destination,
    };
    if (described?.serverAddress !== undefined) attributes[Attr.serverAddress] = described.serverAddress;
    if (described?.serverPort !== undefined) attributes[Attr.serverPort] = described.serverPort;
    return attributes;
  }

  /**
   * Attributes are built only for spans that record: without an SDK, or in an unsampled trace, a
   * message then costs next to nothing here. (Samplers do not see them at creation; the built-in
   * parent-based and ratio samplers do not look at attributes.)
   */
  private startSpan(
    name: string,
    kind: SpanKind,
    parent: Context,
    links: Link[],
    attributes: () => Attributes,
  ): Span {
    const span = this.tracer.startSpan(name, { kind, links }, parent);
    if (span.isRecording()) span.setAttributes(attributes());
    return span;
  }

  private sendDestination(destination: Destination): string {
    return (
      this.transport.telemetry?.sendDestination?.(destination) ??
      ('topic' in destination ? destination.topic : destination.queue)
    );
  }

  private inject(from: Context, headers: Record<string, string>): void {
    propagation.inject(from, headers);
    const traceparent = headers.traceparent;
    if (traceparent !== undefined) for (const alias of this.aliases) headers[alias] = traceparent;
  }

  private messageAttributes(message: TransportMessage, attributes: Attributes): Attributes {
    attributes[Attr.messageId] = message.messageId;
    attributes[Attr.bodySize] = message.body.byteLength;
    if (message.correlationId !== undefined) attributes[Attr.conversationId] = message.correlationId;
    return attributes;
  }

  /**
   * Publishes `messages` (one destination) through the transport inside a PRODUCER `send` span, or for
   * a batch a PRODUCER `create` span per message plus a CLIENT `send` span linked to them; injects each
   * message's trace context into its headers first. This is the per-message publish path: without an
   * SDK the spans have no valid context, and nothing is kept or activated for them.
   */
  publish(messages: readonly TracedMessage[]): Promise<void> {
    const first = messages[0];
    if (first === undefined) return this.transport.publish(messages);
    const destination = this.sendDestination(first.destination);
    const started = performance.now();
    const spans = this.ownsSpans ? this.startSendSpans(messages, destination) : undefined;
    const publishing =
      spans === undefined
        ? this.transport.publish(messages)
        : context.with(trace.setSpan(context.active(), spans[spans.length - 1] as Span), () =>
            this.transport.publish(messages),
          );
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
    const operation = this.operationNames.send;
    const parent = context.active();
    const first = messages[0] as TracedMessage;
    if (messages.length === 1) {
      const span = this.startSpan(`${operation} ${destination}`, SpanKind.PRODUCER, parent, [], () =>
        this.messageAttributes(first, this.spanAttributes(operation, OperationType.send, destination)),
      );
      if (!isSpanContextValid(span.spanContext())) return undefined;
      this.inject(trace.setSpan(parent, span), first.headers);
      return [span];
    }
    const spans: Span[] = [];
    const links: Link[] = [];
    for (const message of messages) {
      const create = this.startSpan(`create ${destination}`, SpanKind.PRODUCER, parent, [], () =>
        this.messageAttributes(message, this.spanAttributes('create', OperationType.create, destination)),
      );
      spans.push(create);
      links.push({ context: create.spanContext() });
      if (isSpanContextValid(create.spanContext()))
        this.inject(trace.setSpan(parent, create), message.headers);
    }
    const send = this.startSpan(`${operation} ${destination}`, SpanKind.CLIENT, parent, links, () => {
      const attributes = this.spanAttributes(operation, OperationType.send, destination);
      attributes[Attr.batchMessageCount] = messages.length;
      return attributes;
    });
    if (!isSpanContextValid(send.spanContext())) return undefined;
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
    for (const span of spans ?? []) {
      if (error !== undefined) fail(span, error);
      span.end();
    }
    const operation = this.operationNames.send;
    this.count('sent', this.seriesFor('sent', operation, destination, error), count);
    this.recordDuration('operation', this.seriesFor('operation', operation, destination, error), started);
  }

  /** Consumer-side telemetry bound to one consumer. */
  forEndpoint(endpoint: {
    readonly queue: string;
    readonly subscription: string | undefined;
  }): EndpointTelemetry {
    const described = this.transport.telemetry;
    const consumerAttributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.consumerGroupName]: endpoint.queue,
    };
    const startSettleSpan = (process: ProcessTrace, name: string, type: string, extra?: Attributes) =>
      this.startSpan(`${name} ${process.destination}`, SpanKind.CLIENT, process.context, [], () => {
        const attributes = this.spanAttributes(name, type, process.destination);
        if (extra !== undefined) Object.assign(attributes, extra);
        return attributes;
      });
    const settleSpan = async (
      process: ProcessTrace,
      operation: MessagingOperation,
      type: string,
      extra: Attributes | undefined,
      run: (span: Span) => Promise<void>,
    ) => {
      const name = this.operationNames[operation];
      const span = startSettleSpan(process, name, type, extra);
      const started = performance.now();
      let error: Error | undefined;
      try {
        // Not made active: settlement runs no code that creates spans, and the dead-letter send
        // takes the settle span as its explicit parent. Saves a context switch per message.
        await run(span);
      } catch (thrown) {
        error = thrown as Error;
        fail(span, error);
        throw thrown;
      } finally {
        span.end();
        this.recordDuration(
          'operation',
          this.seriesFor('operation', name, process.destination, error),
          started,
        );
      }
    };

    return {
      startProcess: (delivery) => {
        const { message } = delivery;
        const destination = described?.consumeDestination?.(endpoint.queue, message) ?? endpoint.queue;
        const started = performance.now();
        this.count('consumed', this.seriesFor('consumed', 'process', destination), 1);
        const traceparent = this.getter.get(message.headers, 'traceparent') as string | undefined;
        let span: Span | undefined;
        let processContext = context.active();
        if (this.ownsSpans) {
          const producer = propagation.extract(ROOT_CONTEXT, message.headers, this.getter);
          const producerSpan = trace.getSpanContext(producer);
          const links: Link[] =
            producerSpan !== undefined && isSpanContextValid(producerSpan) ? [{ context: producerSpan }] : [];
          span = this.startSpan(
            `process ${destination}`,
            SpanKind.CONSUMER,
            this.parentIsProducer ? producer : ROOT_CONTEXT,
            links,
            () => {
              const attributes = this.messageAttributes(
                message,
                this.spanAttributes('process', OperationType.process, destination),
              );
              attributes[Attr.consumerGroupName] = endpoint.queue;
              attributes['sluice.delivery.attempt'] = delivery.attempt;
              if (endpoint.subscription !== undefined)
                attributes[Attr.subscriptionName] = endpoint.subscription;
              const brokerAttributes = described?.deliveryAttributes?.(delivery);
              if (brokerAttributes !== undefined) Object.assign(attributes, brokerAttributes);
              return attributes;
            },
          );
          processContext = trace.setSpan(processContext, span);
        }
        const logFields = traceLogFields(processContext);
        return { context: processContext, logFields, destination, span, started, traceparent };
      },

      recordFailure: (error, tryNumber) => {
        const span = trace.getActiveSpan();
        span?.recordException(error);
        span?.addEvent('sluice.handler.failed', {
          'sluice.try': tryNumber,
          [Attr.errorType]: errorType(error),
        });
      },

      endProcess: (process, error) => {
        if (process.span !== undefined) {
          if (error !== undefined) fail(process.span, error);
          process.span.end();
        }
        this.recordDuration(
          'process',
          this.seriesFor('process', 'process', process.destination, error),
          process.started,
        );
      },

      settle: (process, operation, run) =>
        settleSpan(process, operation, OperationType.settle, undefined, run),

      retry: (process, delayMs, nextAttempt, run) => {
        this.instruments.retries.add(1, consumerAttributes);
        const extra = { 'sluice.retry.delay_ms': delayMs, 'sluice.retry.attempt': nextAttempt };
        return settleSpan(process, 'retry', OperationType.send, extra, run);
      },

      deadLetter: (process, fault, run) => {
        this.instruments.deadLetters.add(1, { ...consumerAttributes, 'sluice.fault.reason': fault.reason });
        const extra = { 'sluice.fault.reason': fault.reason };
        return settleSpan(process, 'deadLetter', OperationType.settle, extra, async (settle) => {
          const original = { ...fault, originalTraceparent: process.traceparent };
          if (!this.ownsSpans) return run(original);
          const dlq = this.sendDestination({ queue: this.transport.deadLetterQueue(endpoint.queue) });
          const operation = this.operationNames.send;
          const sendContext = trace.setSpan(process.context, settle);
          const send = this.startSpan(`${operation} ${dlq}`, SpanKind.PRODUCER, sendContext, [], () =>
            this.spanAttributes(operation, OperationType.send, dlq),
          );
          const traceHeaders: Record<string, string> = {};
          this.inject(trace.setSpan(sendContext, send), traceHeaders);
          try {
            await run({ ...original, traceHeaders });
          } catch (thrown) {
            fail(send, thrown as Error);
            throw thrown;
          } finally {
            send.end();
          }
        });
      },
    };
  }
}
