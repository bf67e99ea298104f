/**
 * The messaging conventions' metrics: OpenTelemetry instruments (from the global MeterProvider) and
 * their Prometheus mirror on the host's `/metrics`. Attribute sets and metric series are built once
 * per (kind, operation, destination, error type) and reused, since every record otherwise copies and
 * hashes them per message.
 */
import {
  metrics,
  type Attributes,
  type Counter as OtelCounter,
  type Histogram as OtelHistogram,
  type Meter,
} from '@opentelemetry/api';
import type { MetricsRegistry } from '../metrics-registry.js';
import { Attr, durationBuckets, Metric } from './semconv.js';
import { errorType } from './span-factory.js';

const meterName = '@sluice/core';

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

/** The OpenTelemetry instruments Sluice records to. */
export interface OtelInstruments {
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

/** Metric series and attribute sets of one (operation, destination, error type), built once. */
export interface Series {
  readonly attributes: Attributes;
  readonly histogram?: { observe(value: number): void } | undefined;
  readonly counter?: { inc(by?: number): void } | undefined;
}

export class ConventionMetrics {
  private readonly registryMetrics: ReturnType<typeof registerConventionMetrics> | undefined;
  /** kind -> operation -> destination -> error type -> series. */
  private readonly series: Record<Kind, Map<string, Map<string, Map<string, Series>>>> = {
    operation: new Map(),
    process: new Map(),
    sent: new Map(),
    consumed: new Map(),
  };
  private otel: OtelInstruments | undefined;

  constructor(
    private readonly system: string,
    registry: MetricsRegistry | undefined,
  ) {
    this.registryMetrics = registry === undefined ? undefined : registerConventionMetrics(registry);
  }

  /**
   * OpenTelemetry instruments come from the global MeterProvider at first use, so an SDK started
   * before the first message is picked up.
   */
  get instruments(): OtelInstruments {
    this.otel ??= createInstruments();
    return this.otel;
  }

  /** The series of (kind, operation, destination), by the error type of `error` when there is one. */
  seriesFor(kind: Kind, operation: string, destination: string, error?: Error): Series {
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

  /** Records the seconds since `started` (a `performance.now()`) on a duration series. */
  recordDuration(kind: 'operation' | 'process', series: Series, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    series.histogram?.observe(seconds);
    this.instruments[kind].record(seconds, series.attributes);
  }

  /** Adds `by` messages to a count series. */
  count(kind: 'sent' | 'consumed', series: Series, by: number): void {
    series.counter?.inc(by);
    this.instruments[kind].add(by, series.attributes);
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
    const registered = this.registryMetrics;
    return kind === 'sent' || kind === 'consumed'
      ? { attributes, counter: registered?.[kind].with(labels) }
      : { attributes, histogram: registered?.[kind].with(labels) };
  }
}
