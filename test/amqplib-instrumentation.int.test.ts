/**
 * Span ownership with @opentelemetry/instrumentation-amqplib registered: that instrumentation creates
 * a CONSUMER span per delivery, so Sluice must not create a second one.
 */
import { SpanKind } from '@opentelemetry/api';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { Consumer, ConsumerHost, defineCommand, type TracingOptions } from '@sluice/core';
import { installTestTelemetry, parentSpanId, TestHarness } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const telemetry = installTestTelemetry();
// Before amqplib is first loaded (below, dynamically), so its modules get patched.
registerInstrumentations({ instrumentations: [new AmqplibInstrumentation()] });
const { RabbitMqTransport } = await import('@sluice/rabbitmq');
const { TestVhost } = await import('../packages/rabbitmq/test/support/broker.js');

const Ping = defineCommand<{ n: number }>('instrumented.ping.v1');
@Consumer({ queue: 'instrumented-pings', message: Ping })
class PingConsumer {
  handle() {}
}

let vhost: Awaited<ReturnType<typeof TestVhost.create>>;
beforeAll(async () => {
  vhost = await TestVhost.create('sluice-instrumented');
});
afterAll(async () => {
  await vhost?.delete();
});

async function consumerSpansPerMessage(tracing: TracingOptions) {
  telemetry.reset();
  const host = new ConsumerHost({
    serviceName: 'instrumented',
    transport: new RabbitMqTransport({ url: vhost.url }),
    consumers: [PingConsumer],
    handleSignals: false,
    tracing,
  });
  const harness = new TestHarness(host);
  await host.start();
  const ids = ['a', 'b', 'c', 'd', 'e'].map((id) => `${id}-${tracing.spanOwnership}`);
  for (const [n, messageId] of ids.entries()) await host.bus.send(Ping, { n }, { messageId });
  await harness.waitForCount({ outcome: 'handled' }, ids.length, 10_000);
  await host.stop();
  const spans = await telemetry.spans();
  const consumerSpans = spans.filter((s) => s.kind === SpanKind.CONSUMER);
  return { spans, consumerSpans, deliveries: ids.length };
}

describe('with @opentelemetry/instrumentation-amqplib registered', () => {
  it('creates exactly one process span per delivery when the instrumentation owns spans', async () => {
    const { spans, consumerSpans, deliveries } = await consumerSpansPerMessage({
      spanOwnership: 'instrumentation',
    });
    expect(consumerSpans).toHaveLength(deliveries);
    expect(consumerSpans.every((s) => s.instrumentationScope.name.includes('amqplib'))).toBe(true);
    const producerSpans = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    expect(producerSpans).toHaveLength(deliveries);
    expect(producerSpans.every((s) => s.instrumentationScope.name.includes('amqplib'))).toBe(true);
    // Sluice's settle spans hang under the instrumentation's process span of the same delivery.
    const acks = spans.filter((s) => s.name.startsWith('ack '));
    expect(acks).toHaveLength(deliveries);
    const consumerIds = new Set(consumerSpans.map((s) => s.spanContext().spanId));
    expect(acks.every((a) => consumerIds.has(parentSpanId(a) ?? ''))).toBe(true);
  });

  it('would create two per delivery if Sluice owned them too (what the setting prevents)', async () => {
    const { consumerSpans, deliveries } = await consumerSpansPerMessage({ spanOwnership: 'sluice' });
    expect(consumerSpans).toHaveLength(2 * deliveries);
  });
});
