import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Consumer, ConsumerHost, defineCommand, InMemoryTransport } from '@sluice/core';
import { startTelemetry } from '@sluice/otel';
import { afterAll, expect, it } from 'vitest';

interface ExportedSpan {
  name: string;
  kind: number;
  traceId: string;
}
interface ExportRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: ExportedSpan[] }[];
  }[];
}

/** A loopback OTLP/HTTP receiver that decodes the JSON payloads it is sent. */
async function startReceiver() {
  const requests: { path: string; contentType: string | undefined; body: ExportRequest }[] = [];
  const server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    requests.push({
      path: request.url ?? '',
      contentType: request.headers['content-type'],
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportRequest,
    });
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { requests, port: (server.address() as AddressInfo).port, close: () => server.close() };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const receiver = await startReceiver();
afterAll(() => receiver.close());

const Ping = defineCommand<{ n: number }>('otel.ping.v1');
let handled = 0;
@Consumer({ queue: 'otel-pings', message: Ping })
class PingConsumer {
  handle() {
    handled++;
  }
}

it('exports spans over OTLP/HTTP with the service name and serves Prometheus metrics', async () => {
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${receiver.port}`;
  const prometheusPort = await freePort();
  const telemetry = await startTelemetry({
    serviceName: 'otel-test-service',
    serviceVersion: '1.2.3',
    prometheus: { port: prometheusPort, host: '127.0.0.1' },
  });
  const host = new ConsumerHost({
    serviceName: 'otel',
    transport: new InMemoryTransport(),
    consumers: [PingConsumer],
    handleSignals: false,
  });
  await host.start();
  await host.bus.send(Ping, { n: 1 });
  await expect.poll(() => handled).toBe(1);
  const scrape = await (await fetch(`http://127.0.0.1:${prometheusPort}/metrics`)).text();
  expect(scrape).toContain('messaging_client_consumed_messages');
  expect(scrape).toContain('messaging_process_duration_bucket');
  expect(scrape).toMatch(/service_name="otel-test-service"/);
  await host.stop();
  await telemetry.shutdown();
  await telemetry.shutdown();

  const traces = receiver.requests.filter((r) => r.path === '/v1/traces');
  expect(traces.length).toBeGreaterThan(0);
  expect(traces[0]?.contentType).toBe('application/json');
  const resourceSpans = traces.flatMap((r) => r.body.resourceSpans);
  const serviceNames = resourceSpans.map(
    (rs) => rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
  );
  expect(new Set(serviceNames)).toEqual(new Set(['otel-test-service']));
  const spans = resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans));
  expect(spans.map((s) => s.name).sort()).toEqual([
    'ack otel-pings',
    'process otel-pings',
    'send otel.ping.v1',
  ]);
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
});
