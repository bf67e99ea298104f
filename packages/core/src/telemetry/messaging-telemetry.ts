/**
 * Traces and metrics per the OpenTelemetry messaging conventions, through `@opentelemetry/api` only:
 * without an SDK every call is a cheap no-op. One instance serves a bus or a host; `forEndpoint` binds
 * the consumer side to one consumer.
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
  type Span,
  type TextMapGetter,
  type UpDownCounter,
} from '@opentelemetry/api';
import type { MetricsRegistry } from '../metrics-registry.js';
import { deadLetterQueueName } from '../naming.js';
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

const tracerName = '@sluice/core';
const defaultOperationNames: Record<MessagingOperation, string> = {
  send: 'send',
  ack: 'ack',
  retry: 'retry',
  deadLetter: 'dead_letter',
  release: 'release',
};

type Labels = Record<string, string>;

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
  readonly process: OtelHistogram;
  readonly operation: OtelHistogram;
  readonly sent: OtelCounter;
  readonly consumed: OtelCounter;
  readonly inFlight: UpDownCounter;
  readonly retries: OtelCounter;
  readonly deadLetters: OtelCounter;
}

function createInstruments(): OtelInstruments {
  const meter = metrics.getMeter(tracerName);
  const duration = { unit: 's', advice: { explicitBucketBoundaries: durationBuckets } };
  return {
    process: meter.createHistogram(Metric.processDuration, {
      ...duration,
      description: 'Duration of processing operations.',
    }),
    operation: meter.createHistogram(Metric.operationDuration, {
      ...duration,
      description: 'Duration of messaging operations.',
    }),
    sent: meter.createCounter(Metric.sentMessages, {
      unit: '{message}',
      description: 'Messages a producer attempted to send.',
    }),
    consumed: meter.createCounter(Metric.consumedMessages, {
      unit: '{message}',
      description: 'Messages delivered to a consumer.',
    }),
    inFlight: meter.createUpDownCounter('sluice.messages.in_flight', {
      unit: '{message}',
      description: 'Messages being handled.',
    }),
    retries: meter.createCounter('sluice.messages.retried', {
      unit: '{message}',
      description: 'Delayed redeliveries scheduled.',
    }),
    deadLetters: meter.createCounter('sluice.messages.dead_lettered', {
      unit: '{message}',
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
  /** Runs a settlement inside a settle (or retry) span. */
  settle(process: ProcessTrace, operation: 'ack' | 'release', run: () => Promise<void>): Promise<void>;
  retry(process: ProcessTrace, delayMs: number, nextAttempt: number, run: () => Promise<void>): Promise<void>;
  /**
   * Dead-letters inside a settle span with a child PRODUCER span for the copy; the copy gets that
   * span's trace context and keeps the original `traceparent` in its own header.
   */
  deadLetter(process: ProcessTrace, fault: Fault, run: (fault: Fault) => Promise<void>): Promise<void>;
}

export class MessagingTelemetry {
  private readonly tracer = trace.getTracer(tracerName);
  private readonly system: string;
  private readonly operationNames: Record<MessagingOperation, string>;
  private readonly getter: TextMapGetter<Readonly<Record<string, string>>>;
  private readonly registryMetrics: ReturnType<typeof registerConventionMetrics> | undefined;
  private otel: OtelInstruments | undefined;
  readonly ownsSpans: boolean;
  private readonly parentIsProducer: boolean;

  constructor(
    private readonly transport: Transport,
    options: TracingOptions = {},
    registry?: MetricsRegistry,
  ) {
    const described = transport.telemetry;
    this.system = described?.system ?? transport.name;
    this.operationNames = { ...defaultOperationNames, ...described?.operationNames };
    this.getter = headerGetter(described?.traceparentAliases ?? []);
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

  private baseAttributes(operation: string, type: string, destination: string): Attributes {
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

  private record(
    kind: 'operation' | 'process',
    operation: string,
    destination: string,
    seconds: number,
    error: Error | undefined,
  ): void {
    const labels: Labels = {
      messaging_system: this.system,
      messaging_operation_name: operation,
      messaging_destination_name: destination,
      error_type: error === undefined ? '' : errorType(error),
    };
    this.registryMetrics?.[kind].with(labels).observe(seconds);
    const attributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.operationName]: operation,
      [Attr.destinationName]: destination,
    };
    if (error !== undefined) attributes[Attr.errorType] = errorType(error);
    this.instruments[kind].record(seconds, attributes);
  }

  private sendDestination(destination: Destination): string {
    return (
      this.transport.telemetry?.sendDestination?.(destination) ??
      ('topic' in destination ? destination.topic : destination.queue)
    );
  }

  /**
   * Publishes `messages` (one destination) inside a PRODUCER `send` span, or for a batch a PRODUCER
   * `create` span per message plus a CLIENT `send` span linked to them; injects each message's trace
   * context into its headers first.
   */
  async traceSend(
    messages: readonly (OutgoingMessage & { headers: Record<string, string> })[],
    publish: () => Promise<void>,
  ): Promise<void> {
    const first = messages[0];
    if (first === undefined) return publish();
    const destination = this.sendDestination(first.destination);
    const operation = this.operationNames.send;
    const started = performance.now();
    const batch = messages.length > 1;
    let error: Error | undefined;
    if (!this.ownsSpans) {
      try {
        await publish();
      } catch (thrown) {
        error = thrown as Error;
        throw thrown;
      } finally {
        this.afterSend(messages.length, operation, destination, started, error);
      }
      return;
    }
    const aliases = this.transport.telemetry?.traceparentAliases ?? [];
    const links: Link[] = [];
    const createSpans: Span[] = [];
    for (const message of messages) {
      const attributes = this.baseAttributes(
        batch ? 'create' : operation,
        batch ? OperationType.create : OperationType.send,
        destination,
      );
      attributes[Attr.messageId] = message.messageId;
      if (message.correlationId !== undefined) attributes[Attr.conversationId] = message.correlationId;
      attributes[Attr.bodySize] = message.body.byteLength;
      const span = batch
        ? this.tracer.startSpan(`create ${destination}`, { kind: SpanKind.PRODUCER, attributes })
        : undefined;
      const injectFrom = span === undefined ? undefined : trace.setSpan(context.active(), span);
      if (span !== undefined) {
        createSpans.push(span);
        links.push({ context: span.spanContext() });
      }
      // For a single message the send span itself is injected below.
      if (injectFrom !== undefined) this.inject(injectFrom, message.headers, aliases);
    }
    const sendAttributes = this.baseAttributes(operation, OperationType.send, destination);
    if (batch) sendAttributes[Attr.batchMessageCount] = messages.length;
    else {
      sendAttributes[Attr.messageId] = first.messageId;
      if (first.correlationId !== undefined) sendAttributes[Attr.conversationId] = first.correlationId;
      sendAttributes[Attr.bodySize] = first.body.byteLength;
    }
    const span = this.tracer.startSpan(`${operation} ${destination}`, {
      kind: batch ? SpanKind.CLIENT : SpanKind.PRODUCER,
      attributes: sendAttributes,
      links,
    });
    if (!batch) this.inject(trace.setSpan(context.active(), span), first.headers, aliases);
    try {
      await context.with(trace.setSpan(context.active(), span), publish);
    } catch (thrown) {
      error = thrown as Error;
      fail(span, error);
      for (const create of createSpans) fail(create, error);
      throw thrown;
    } finally {
      span.end();
      for (const create of createSpans) create.end();
      this.afterSend(messages.length, operation, destination, started, error);
    }
  }

  private inject(from: Context, headers: Record<string, string>, aliases: readonly string[]): void {
    propagation.inject(from, headers);
    const traceparent = headers.traceparent;
    if (traceparent !== undefined) for (const alias of aliases) headers[alias] = traceparent;
  }

  private afterSend(
    count: number,
    operation: string,
    destination: string,
    started: number,
    error: Error | undefined,
  ) {
    const labels: Labels = {
      messaging_system: this.system,
      messaging_operation_name: operation,
      messaging_destination_name: destination,
      error_type: error === undefined ? '' : errorType(error),
    };
    this.registryMetrics?.sent.with(labels).inc(count);
    const attributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.operationName]: operation,
      [Attr.destinationName]: destination,
    };
    if (error !== undefined) attributes[Attr.errorType] = errorType(error);
    this.instruments.sent.add(count, attributes);
    this.record('operation', operation, destination, (performance.now() - started) / 1000, error);
  }

  /** Consumer-side telemetry bound to one consumer. */
  forEndpoint(endpoint: {
    readonly queue: string;
    readonly subscription: string | undefined;
  }): EndpointTelemetry {
    const described = this.transport.telemetry;
    const destinationOf = (message: TransportMessage) =>
      described?.consumeDestination?.(endpoint.queue, message) ?? endpoint.queue;
    const inFlightAttributes: Attributes = {
      [Attr.messagingSystem]: this.system,
      [Attr.consumerGroupName]: endpoint.queue,
    };

    const settleSpan = async (
      process: ProcessTrace,
      operation: MessagingOperation,
      type: string,
      extra: Attributes,
      run: (span: Span) => Promise<void>,
    ) => {
      const name = this.operationNames[operation];
      const attributes = { ...this.baseAttributes(name, type, process.destination), ...extra };
      const span = this.tracer.startSpan(
        `${name} ${process.destination}`,
        { kind: SpanKind.CLIENT, attributes },
        process.context,
      );
      const started = performance.now();
      let error: Error | undefined;
      try {
        await context.with(trace.setSpan(process.context, span), () => run(span));
      } catch (thrown) {
        error = thrown as Error;
        fail(span, error);
        throw thrown;
      } finally {
        span.end();
        this.record('operation', name, process.destination, (performance.now() - started) / 1000, error);
      }
    };

    return {
      startProcess: (delivery) => {
        const { message } = delivery;
        const destination = destinationOf(message);
        const started = performance.now();
        this.instruments.consumed.add(1, {
          [Attr.messagingSystem]: this.system,
          [Attr.destinationName]: destination,
        });
        this.registryMetrics?.consumed
          .with({
            messaging_system: this.system,
            messaging_operation_name: 'process',
            messaging_destination_name: destination,
            error_type: '',
          })
          .inc();
        this.instruments.inFlight.add(1, inFlightAttributes);
        const traceparent =
          message.headers.traceparent ??
          (this.getter.get(message.headers, 'traceparent') as string | undefined);
        let span: Span | undefined;
        let processContext: Context;
        if (this.ownsSpans) {
          const producer = propagation.extract(ROOT_CONTEXT, message.headers, this.getter);
          const producerSpan = trace.getSpanContext(producer);
          const links: Link[] =
            producerSpan !== undefined && isSpanContextValid(producerSpan) ? [{ context: producerSpan }] : [];
          const attributes: Attributes = {
            ...this.baseAttributes('process', OperationType.process, destination),
            [Attr.consumerGroupName]: endpoint.queue,
            [Attr.messageId]: message.messageId,
            [Attr.bodySize]: message.body.byteLength,
            'sluice.delivery.attempt': delivery.attempt,
            ...described?.deliveryAttributes?.(delivery),
          };
          if (endpoint.subscription !== undefined) attributes[Attr.subscriptionName] = endpoint.subscription;
          if (message.correlationId !== undefined) attributes[Attr.conversationId] = message.correlationId;
          span = this.tracer.startSpan(
            `process ${destination}`,
            { kind: SpanKind.CONSUMER, attributes, links },
            this.parentIsProducer ? producer : ROOT_CONTEXT,
          );
          processContext = trace.setSpan(context.active(), span);
        } else {
          processContext = context.active();
        }
        const spanContext = trace.getSpanContext(processContext);
        const logFields: Readonly<Record<string, string>> =
          spanContext !== undefined && isSpanContextValid(spanContext)
            ? { trace_id: spanContext.traceId, span_id: spanContext.spanId }
            : {};
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
        this.instruments.inFlight.add(-1, inFlightAttributes);
        this.record(
          'process',
          'process',
          process.destination,
          (performance.now() - process.started) / 1000,
          error,
        );
      },

      settle: (process, operation, run) =>
        settleSpan(process, operation, OperationType.settle, {}, () => run()),

      retry: (process, delayMs, nextAttempt, run) => {
        this.instruments.retries.add(1, inFlightAttributes);
        return settleSpan(
          process,
          'retry',
          OperationType.send,
          { 'sluice.retry.delay_ms': delayMs, 'sluice.retry.attempt': nextAttempt },
          () => run(),
        );
      },

      deadLetter: (process, fault, run) => {
        this.instruments.deadLetters.add(1, { ...inFlightAttributes, 'sluice.fault.reason': fault.reason });
        return settleSpan(
          process,
          'deadLetter',
          OperationType.settle,
          { 'sluice.fault.reason': fault.reason },
          async (settle) => {
            if (!this.ownsSpans) return run({ ...fault, originalTraceparent: process.traceparent });
            const dlq = deadLetterQueueName(endpoint.queue);
            const send = this.tracer.startSpan(
              `send ${dlq}`,
              { kind: SpanKind.PRODUCER, attributes: this.baseAttributes('send', OperationType.send, dlq) },
              trace.setSpan(process.context, settle),
            );
            const traceHeaders: Record<string, string> = {};
            this.inject(
              trace.setSpan(process.context, send),
              traceHeaders,
              this.transport.telemetry?.traceparentAliases ?? [],
            );
            try {
              await run({ ...fault, originalTraceparent: process.traceparent, traceHeaders });
            } catch (thrown) {
              fail(send, thrown as Error);
              throw thrown;
            } finally {
              send.end();
            }
          },
        );
      },
    };
  }
}
