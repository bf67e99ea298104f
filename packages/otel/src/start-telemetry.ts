/**
 * One call to start OpenTelemetry for a Sluice service: the Node SDK with service name and resource,
 * OTLP/HTTP trace export (Jaeger v2 takes OTLP on 4318) through a batch span processor, a Prometheus
 * metrics endpoint, configuration from the standard `OTEL_*` variables, and a shutdown that flushes.
 * Call it before the application imports what it instruments.
 */
import type { Attributes } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import { defaultLogger, type Logger } from '@sluice/core';
import { ReportingSpanExporter } from './reporting-exporter.js';

export interface TelemetryOptions {
  /** `service.name`. Default: `OTEL_SERVICE_NAME`; one of the two is required. */
  readonly serviceName?: string;
  /** `service.version`. */
  readonly serviceVersion?: string;
  /** More resource attributes; `OTEL_RESOURCE_ATTRIBUTES` is read as well. */
  readonly resourceAttributes?: Attributes;
  /**
   * Where spans go. Default: OTLP/HTTP JSON to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
   * `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else `http://localhost:4318/v1/traces`.
   */
  readonly traceExporter?: SpanExporter;
  /**
   * Prometheus scrape endpoint for OpenTelemetry metrics. Default port `OTEL_EXPORTER_PROMETHEUS_PORT`,
   * else 9464, on `OTEL_EXPORTER_PROMETHEUS_HOST` (default all interfaces). `false`: no metrics reader.
   */
  readonly prometheus?: { readonly port?: number; readonly host?: string } | false;
  /** Library instrumentations (HTTP, amqplib, ...). Default none. */
  readonly instrumentations?: readonly Instrumentation[];
  /** Where a failing export is reported (once per outage). Default: warnings to stderr. */
  readonly logger?: Logger;
}

/** Where the default OTLP exporter sends spans, as it reads the `OTEL_*` variables. */
function otlpTracesEndpoint(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT)
    return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`;
  return 'http://localhost:4318/v1/traces';
}

export interface Telemetry {
  readonly sdk: NodeSDK;
  /** The Prometheus port, when metrics are on. */
  readonly prometheusPort: number | undefined;
  /** Exports every finished span and metric, then stops the SDK. Idempotent. */
  shutdown(): Promise<void>;
}

function portFrom(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`OTEL_EXPORTER_PROMETHEUS_PORT must be a port number (got ${JSON.stringify(value)})`);
  }
  return port;
}

/** Starts the SDK; resolves once the Prometheus endpoint (if any) listens. */
export async function startTelemetry(options: TelemetryOptions = {}): Promise<Telemetry> {
  const { env } = process;
  const serviceName = options.serviceName ?? env.OTEL_SERVICE_NAME;
  if (serviceName === undefined || serviceName === '') {
    throw new Error('startTelemetry: option "serviceName" (or OTEL_SERVICE_NAME) is required');
  }
  const attributes: Attributes = { 'service.name': serviceName, ...options.resourceAttributes };
  if (options.serviceVersion !== undefined) attributes['service.version'] = options.serviceVersion;

  let prometheus: PrometheusExporter | undefined;
  let prometheusPort: number | undefined;
  if (options.prometheus !== false) {
    const port = options.prometheus?.port ?? portFrom(env.OTEL_EXPORTER_PROMETHEUS_PORT, 9464);
    const host = options.prometheus?.host ?? env.OTEL_EXPORTER_PROMETHEUS_HOST;
    await new Promise<void>((resolve, reject) => {
      prometheus = new PrometheusExporter({ port, ...(host ? { host } : {}) }, (error) =>
        error === undefined ? resolve() : reject(error),
      );
    });
    prometheusPort = port;
  }

  const sdk = new NodeSDK({
    serviceName,
    resource: resourceFromAttributes(attributes),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new ReportingSpanExporter(
          options.traceExporter ?? new OTLPTraceExporter(),
          options.traceExporter === undefined ? otlpTracesEndpoint(env) : 'the configured trace exporter',
          options.logger ?? defaultLogger,
        ),
      }),
    ],
    ...(prometheus === undefined ? {} : { metricReaders: [prometheus] }),
    instrumentations: [...(options.instrumentations ?? [])],
  });
  sdk.start();

  let stopping: Promise<void> | undefined;
  return {
    sdk,
    prometheusPort,
    shutdown: () => (stopping ??= sdk.shutdown()),
  };
}
