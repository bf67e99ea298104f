/** A process-global OpenTelemetry SDK for tests: spans into memory, metrics read on demand. */
import { context, metrics, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
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

export function installTestTelemetry() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const reader = new OnDemandReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  return {
    /** Finished spans, after pending exports completed. */
    async spans(): Promise<ReadableSpan[]> {
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

export const kindName = (span: ReadableSpan) => SpanKind[span.kind];
export const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId;
