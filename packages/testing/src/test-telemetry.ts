/**
 * A process-global OpenTelemetry SDK for tests: W3C propagation, async-local context, spans kept in
 * memory and metrics read on demand. Install once per test file (vitest runs each file in its own
 * worker), before the code under test creates tracers or meters.
 */
import { context, metrics, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  MeterProvider,
  MetricReader,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';

class OnDemandReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface TestTelemetry {
  /** Finished spans, after pending exports completed. */
  spans(): Promise<ReadableSpan[]>;
  /** Forgets the spans recorded so far. */
  reset(): void;
  /** The current data of one metric, by its OpenTelemetry name. */
  metric(name: string): Promise<MetricData | undefined>;
}

export function installTestTelemetry(): TestTelemetry {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const reader = new OnDemandReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  return {
    async spans() {
      await provider.forceFlush();
      return exporter.getFinishedSpans();
    },
    reset: () => exporter.reset(),
    async metric(name: string) {
      const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
      return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
    },
  };
}

/** `PRODUCER`, `CONSUMER`, ... */
export const spanKindName = (span: ReadableSpan): string => SpanKind[span.kind];
/** The parent span id, undefined for a root span. */
export const parentSpanId = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
