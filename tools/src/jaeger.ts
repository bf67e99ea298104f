/**
 * The real Jaeger (v2, the OpenTelemetry Collector based binary of jaeger v1.76) on free loopback
 * ports: OTLP/HTTP in, traces kept in memory, read back through Jaeger's own query API.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '@sluice/testing';
import { ToolProcess } from './tool-process.js';

/** One span as Jaeger's query API (`/api/v3/traces/<id>`) returns it. */
export interface JaegerSpan {
  /** `service.name` of the span's resource. */
  readonly serviceName: string | undefined;
  readonly name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  /** Attribute values as strings, numbers or booleans. */
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
}

export interface Jaeger {
  /** `http://127.0.0.1:<port>`: set it as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly otlpEndpoint: string;
  /** The query API and UI: `<queryUrl>/trace/<traceId>` shows a trace. */
  readonly queryUrl: string;
  /** The spans of trace `traceId` (32 hex digits) that Jaeger holds; empty when it holds none yet. */
  trace(traceId: string): Promise<JaegerSpan[]>;
  /** Stops Jaeger and removes its folder; resolves when it has exited. */
  stop(): Promise<void>;
}

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  name: string;
  kind?: number | string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: OtlpAnyValue }[];
  status?: { code?: number | string };
}
interface TracesResponse {
  result?: {
    resourceSpans?: {
      resource?: { attributes?: { key: string; value: OtlpAnyValue }[] };
      scopeSpans?: { spans?: OtlpSpan[] }[];
    }[];
  };
}

const spanKinds = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const statusCodes = ['UNSET', 'OK', 'ERROR'];

/** Enum values arrive as numbers or as their proto names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`). */
function enumValue(value: number | string | undefined, names: readonly string[]): number {
  if (typeof value === 'number') return value;
  if (value === undefined) return 0;
  const index = names.findIndex((name) => value.endsWith(`_${name}`));
  return index < 0 ? 0 : index;
}

function plain(value: OtlpAnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue ?? '';
}

function attributeMap(attributes: { key: string; value: OtlpAnyValue }[] = []) {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, plain(value)]));
}

/** Trace and span ids arrive as hex (OTLP JSON); base64 from a proto-JSON encoder is converted. */
function hexId(id: string, bytes: number): string {
  if (id.length === bytes * 2 && /^[0-9a-f]+$/i.test(id)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

function spansOf(response: TracesResponse): JaegerSpan[] {
  return (response.result?.resourceSpans ?? []).flatMap((resourceSpans) => {
    const serviceName = attributeMap(resourceSpans.resource?.attributes)['service.name'];
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        serviceName: typeof serviceName === 'string' ? serviceName : undefined,
        name: span.name,
        kind: enumValue(span.kind, spanKinds),
        traceId: hexId(span.traceId, 16),
        spanId: hexId(span.spanId, 8),
        parentSpanId: span.parentSpanId ? hexId(span.parentSpanId, 8) : undefined,
        attributes: attributeMap(span.attributes),
        statusCode: enumValue(span.status?.code, statusCodes),
      })),
    );
  });
}

/**
 * Starts `binary` (from `toolPath('jaeger')`) with in-memory storage, OTLP/HTTP and the query API on
 * free 127.0.0.1 ports and no other listener. Resolves once both answer; rejects with Jaeger's output
 * when it exits or does not answer within 60 s.
 */
export async function startJaeger(binary: string): Promise<Jaeger> {
  const [otlpPort, queryPort, queryGrpcPort] = [await freePort(), await freePort(), await freePort()];
  const otlpEndpoint = `http://127.0.0.1:${otlpPort}`;
  const queryUrl = `http://127.0.0.1:${queryPort}`;
  const tool = ToolProcess.start('jaeger', binary, (dir) => {
    // JSON is YAML: the collector's config loader reads it as is.
    const config = {
      service: {
        extensions: ['jaeger_storage', 'jaeger_query'],
        pipelines: { traces: { receivers: ['otlp'], exporters: ['jaeger_storage_exporter'] } },
        // The collector's own metrics would listen on :8888; nothing else here may.
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
      },
      extensions: {
        jaeger_storage: { backends: { memory_store: { memory: { max_traces: 100_000 } } } },
        jaeger_query: {
          storage: { traces: 'memory_store' },
          http: { endpoint: `127.0.0.1:${queryPort}` },
          grpc: { endpoint: `127.0.0.1:${queryGrpcPort}` },
        },
      },
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${otlpPort}` } } } },
      exporters: { jaeger_storage_exporter: { trace_storage: 'memory_store' } },
    };
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify(config, null, 2));
    return ['--config', join(dir, 'config.yaml')];
  });
  try {
    await tool.ready(async (signal) => {
      const services = await fetch(`${queryUrl}/api/v3/services`, { signal });
      const otlp = await fetch(`${otlpEndpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        signal,
      });
      return services.ok && otlp.ok;
    });
  } catch (error) {
    await tool.stop();
    throw error;
  }
  return {
    otlpEndpoint,
    queryUrl,
    async trace(traceId) {
      const response = await fetch(`${queryUrl}/api/v3/traces/${traceId}`);
      if (response.status === 404) return [];
      if (!response.ok) {
        throw new Error(`jaeger query of trace ${traceId}: HTTP ${response.status} ${await response.text()}`);
      }
      return spansOf((await response.json()) as TracesResponse);
    },
    stop: () => tool.stop(),
  };
}
