/**
 * An unsampled delivery: when the process span does not record, its settle, retry and dead-letter
 * spans are not started either (a child of an unsampled span would be an orphan in the trace), while
 * the trace context still travels: a dead-letter copy stays in the producer's trace. The sampler here
 * records everything but CONSUMER spans, so a settle span started under an unsampled process span
 * would be recorded and seen. And a send, sampled or not: the transport publishes in the caller's
 * context, while the send's trace context goes in the message's headers.
 */
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Bus,
  Consumer,
  deadLetterQueueName,
  defineCommand,
  InMemoryBroker,
  InMemoryTransport,
  UnrecoverableError,
} from '@sluice/core';
import { parentSpanId, type TestHarness } from '@sluice/testing';
import { collectQueue, startHost } from './support.js';

const notConsumers: Sampler = {
  shouldSample: (_context, _traceId, name, kind) => ({
    decision:
      kind === SpanKind.CONSUMER || name.includes('unsampled-send')
        ? SamplingDecision.NOT_RECORD
        : SamplingDecision.RECORD_AND_SAMPLED,
  }),
  toString: () => 'every span but CONSUMER ones and unsampled-send ones',
};
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({
  sampler: notConsumers,
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const Charge = defineCommand<{ fail: boolean }>('payments.unsampled-charge.v1');
const Unsampled = defineCommand<{ fail: boolean }>('payments.unsampled-send.v1');

@Consumer({ queue: 'unsampled-charges', message: Charge, retry: { attempts: 1 } })
class ChargeConsumer {
  handle(charge: { fail: boolean }) {
    if (charge.fail) throw new UnrecoverableError('card refused');
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  exporter.reset();
});

async function spanNames(): Promise<string[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans().map((span) => span.name);
}

describe('an unsampled delivery', () => {
  it('starts no settle span under a process span that does not record', async () => {
    ({ harness } = await startHost([ChargeConsumer]));
    await harness.bus.send(Charge, { fail: false }, { messageId: 'u-1' });
    await harness.waitForHandled('u-1', 'ChargeConsumer');
    const names = await spanNames();
    expect(names).toContain('send payments.unsampled-charge.v1');
    expect(names.filter((name) => name.startsWith('process '))).toEqual([]);
    expect(names.filter((name) => name.startsWith('ack '))).toEqual([]);
  });

  it('dead-letters without a settle span, the copy carrying the process span trace context', async () => {
    let broker;
    ({ harness, broker } = await startHost([ChargeConsumer]));
    const dead = await collectQueue(broker, deadLetterQueueName('unsampled-charges'));
    await harness.bus.send(Charge, { fail: true }, { messageId: 'u-2' });
    const [copy] = await dead.waitForCount(1, 10_000);
    const names = await spanNames();
    expect(names.filter((name) => name.startsWith('dead_letter '))).toEqual([]);
    const send = exporter.getFinishedSpans().find((s) => s.name === 'send payments.unsampled-charge.v1');
    // The copy stays in the producer's trace (its send span is sampled here: not a CONSUMER span).
    expect(copy?.message.headers.traceparent).toMatch(
      new RegExp(`^00-${send?.spanContext().traceId ?? 'none'}-[0-9a-f]{16}-0[01]$`),
    );
  });
});

describe('a send, sampled or not', () => {
  it("publishes in the caller's context: a span made during the publish is the send span's sibling", async () => {
    const broker = new InMemoryBroker();
    const transport = new InMemoryTransport({ broker });
    await transport.connect();
    await (
      await transport.subscribe(
        { queue: 'unsampled-sends', topics: [Charge.type, Unsampled.type], prefetch: 1, retryDelaysMs: [] },
        (delivery) => delivery.release(),
      )
    ).close();
    const sent = await collectQueue(broker, 'unsampled-sends');
    // As a database instrumentation under an outbox would: a span from the context active at publish.
    const publish = transport.publish.bind(transport);
    transport.publish = (messages) => {
      trace.getTracer('test').startSpan('INSERT outbox').end();
      return publish(messages);
    };
    const bus = new Bus(transport);
    const caller = trace.getTracer('test').startSpan('POST /charges', { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(context.active(), caller), async () => {
      await bus.send(Charge, { fail: false });
      await bus.send(Unsampled, { fail: false });
    });
    caller.end();
    const { traceId, spanId: callerId } = caller.spanContext();
    const finished = exporter.getFinishedSpans();
    const inserts = finished.filter((span) => span.name === 'INSERT outbox');
    expect(inserts.map((span) => parentSpanId(span))).toEqual([callerId, callerId]);
    const recorded = finished.find((span) => span.name === 'send payments.unsampled-charge.v1');
    expect(recorded && parentSpanId(recorded)).toBe(callerId);
    expect(finished.some((span) => span.name.includes('unsampled-send'))).toBe(false);
    const deliveries = await sent.waitForCount(2, 10_000);
    expect(deliveries[0]?.message.headers.traceparent).toBe(
      `00-${traceId}-${recorded?.spanContext().spanId ?? 'none'}-01`,
    );
    // The unsampled send's context still travels, in the caller's trace.
    expect(deliveries[1]?.message.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    await transport.close();
  });
});
