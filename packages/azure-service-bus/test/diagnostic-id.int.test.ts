/**
 * Trace context on Service Bus with tracing on: a message the host sends carries `Diagnostic-Id`
 * (what Azure SDKs and Application Insights read) beside the W3C `traceparent`, equal to it, as
 * application properties the plain SDK sees; and a message that carries only `Diagnostic-Id` (sent
 * by another Azure client) continues its trace in the handler.
 */
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { Consumer, defineCommand, type MessageContext } from '@sluice/core';
import { installTestTelemetry, TestHarness } from '@sluice/testing';
import { expect, it } from 'vitest';
import { uniqueName, useServiceBus } from './support/service-bus.js';

installTestTelemetry();
const fx = useServiceBus('sb-trace');

it('writes Diagnostic-Id beside traceparent, and reads a trace that comes with Diagnostic-Id alone', async () => {
  const Work = defineCommand<{ n: number }>(`sbtest.traced-${randomUUID().slice(0, 6)}.v1`);
  const queue = uniqueName('sb-trace');
  fx.defer(() => fx.bus.deleteEndpoint(queue, [Work.type]));
  const seen: { headers: Readonly<Record<string, string>>; traceId: string | undefined }[] = [];
  @Consumer({ queue, message: Work })
  class Traced {
    handle(_work: { n: number }, ctx: MessageContext) {
      seen.push({ headers: ctx.headers, traceId: trace.getActiveSpan()?.spanContext().traceId });
    }
  }
  const harness = await TestHarness.start({
    serviceName: 'sbtest',
    transport: fx.bus.transport(),
    consumers: [Traced],
    processMetrics: false,
  });
  fx.defer(() => harness.stop());
  await harness.bus.send(Work, { n: 1 }, { messageId: 'traced-1' });
  await harness.waitForHandled('traced-1', 'Traced', 10_000);
  const { traceparent, 'Diagnostic-Id': diagnosticId } = seen[0]?.headers ?? {};
  expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  expect(diagnosticId).toBe(traceparent);

  const foreign = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  await fx.bus.client.createSender(Work.type).sendMessages({
    messageId: 'traced-2',
    body: Buffer.from('{"n":2}'),
    contentType: 'application/json',
    subject: Work.type,
    applicationProperties: { 'Diagnostic-Id': foreign },
  });
  await harness.waitForHandled('traced-2', 'Traced', 10_000);
  expect(seen[1]?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
});
