/** Loopback helpers for tests: a free port, and an OTLP/HTTP receiver that decodes what it is sent. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** One span as received over OTLP/HTTP JSON, with its resource's service name. */
export interface ReceivedSpan {
  readonly serviceName: string | undefined;
  readonly name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
}

interface ExportTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: {
      spans?: { name: string; kind: number; traceId: string; spanId: string; parentSpanId?: string }[];
    }[];
  }[];
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>`: set it as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Every request: path, content type and decoded body. */
  readonly requests: readonly { path: string; contentType: string | undefined; body: unknown }[];
  /** The spans of every `/v1/traces` request so far. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port: 200 for a JSON export (gzipped or not), 400 otherwise. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: { path: string; contentType: string | undefined; body: unknown }[] = [];
  const server: Server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    try {
      const body = request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      requests.push({
        path: request.url ?? '',
        contentType: request.headers['content-type'],
        body: JSON.parse(body.toString('utf8')) as unknown,
      });
    } catch (error) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    spans: () =>
      requests
        .filter((r) => r.path === '/v1/traces')
        .flatMap((r) => (r.body as ExportTraceRequest).resourceSpans ?? [])
        .flatMap((resourceSpans) => {
          const serviceName = resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value
            .stringValue;
          return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
            (scope.spans ?? []).map((span) => ({
              serviceName,
              name: span.name,
              kind: span.kind,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
            })),
          );
        }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
