import { trace, type ProxyTracerProvider } from '@opentelemetry/api';
import { startTelemetry } from '@sluice/otel';
import { freePort, RecordingLogger } from '@sluice/testing';
import { expect, it } from 'vitest';

it('warns once, naming the endpoint, when the OTLP endpoint does not answer', async () => {
  const closedPort = await freePort(); // nothing listens there
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${closedPort}`;
  process.env.OTEL_EXPORTER_OTLP_TIMEOUT = '500'; // the exporter retries within this bound
  const logger = new RecordingLogger();
  const telemetry = await startTelemetry({ serviceName: 'otel-failing', prometheus: false, logger });
  const tracer = trace.getTracer('test');
  for (let round = 0; round < 3; round++) {
    tracer.startSpan(`span ${round}`).end();
    const provider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate() as unknown as {
      forceFlush(): Promise<void>;
    };
    await provider.forceFlush().catch(() => undefined);
  }
  await telemetry.shutdown().catch(() => undefined);
  const warnings = logger.lines.filter((line) => line.includes('traces cannot be exported'));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain(`http://127.0.0.1:${closedPort}/v1/traces`);
  expect(warnings[0]).toMatch(/^warn /);
}, 30_000);
