import { Consumer, ConsumerHost, defineCommand, InMemoryTransport } from '@sluice/core';
import { startTelemetry } from '@sluice/otel';
import { freePort, startOtlpReceiver } from '@sluice/testing';
import { afterAll, expect, it } from 'vitest';

const receiver = await startOtlpReceiver();
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
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
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
  const spans = receiver.spans();
  expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(['otel-test-service']));
  expect(spans.map((s) => s.name).sort()).toEqual([
    'ack otel-pings',
    'process otel-pings',
    'send otel.ping.v1',
  ]);
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
});
