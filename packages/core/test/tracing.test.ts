import { context, SpanKind, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Consumer,
  deadLetterQueueName,
  defineCommand,
  defineEvent,
  EventHandler,
  Headers,
  InMemoryTransport,
  MessagingTelemetry,
  type Delivery,
  type Logger,
  type MessageContext,
  type TracingOptions,
} from '@sluice/core';
import {
  installTestTelemetry,
  parentSpanId as parentSpanId,
  spanKindName as spanKindName,
  type TestHarness,
} from '@sluice/testing';
import { collectQueue, rawMessage, startHost } from './support.js';

const telemetry = installTestTelemetry();
const OrderPlaced = defineEvent<{ orderId: string }>('orders.order-placed.v1');
const Charge = defineCommand<{ orderId: string }>('payments.charge.v1');

const logged: Record<string, unknown>[] = [];
function capturingLogger(bindings: Record<string, unknown> = {}): Logger {
  const write = (fields: object, msg?: string) => void logged.push({ ...bindings, ...fields, msg });
  return {
    debug: write,
    info: write,
    warn: write,
    error: write,
    child: (more) => capturingLogger({ ...bindings, ...more }),
  };
}

@EventHandler(OrderPlaced, { subscription: 'email' })
class Email {
  handle(_order: unknown, ctx: MessageContext) {
    ctx.logger.info({}, 'email handled');
  }
}

@EventHandler(OrderPlaced, { subscription: 'billing', retry: { attempts: 3, immediate: 1 } })
class Billing {
  handle() {
    throw new TypeError('card declined by a flaky gateway');
  }
}

let harness: TestHarness | undefined;
beforeEach(() => telemetry.reset());
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  logged.length = 0;
});

async function start(tracing?: TracingOptions) {
  const started = await startHost([Email, Billing], { logger: capturingLogger(), tracing });
  harness = started.harness;
  return started;
}

describe('tracing', () => {
  it('traces one flow from the incoming request through every subscriber, the retries and the dead-letter send', async () => {
    const { broker } = await start();
    const dlq = await collectQueue(broker, deadLetterQueueName('test.billing'));
    const server = trace.getTracer('test').startSpan('POST /orders', { kind: SpanKind.SERVER });
    await context.with(trace.setSpan(context.active(), server), () =>
      harness!.bus.publish(OrderPlaced, { orderId: 'o-1' }, { messageId: 'm-1' }),
    );
    server.end();
    await harness!.waitForHandled('m-1', 'Email');
    await harness!.waitForDeadLettered('m-1', 'Billing');
    const [copy] = await dlq.waitForCount(1, 2_000);

    const spans = await telemetry.spans();
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(
      new Set([server.spanContext().traceId]),
    );
    const byName = (name: string) => spans.filter((s) => s.name === name);

    const [send] = byName('send orders.order-placed.v1');
    expect(send && spanKindName(send)).toBe('PRODUCER');
    expect(parentSpanId(send!)).toBe(server.spanContext().spanId);
    expect(send!.attributes).toMatchObject({
      'messaging.system': 'in-memory',
      'messaging.operation.name': 'send',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'orders.order-placed.v1',
      'messaging.message.id': 'm-1',
      'messaging.message.conversation_id': 'm-1',
    });

    const emailProcess = byName('process test.email');
    expect(emailProcess).toHaveLength(1);
    const billingProcess = byName('process test.billing');
    expect(billingProcess).toHaveLength(3);
    for (const process of [...emailProcess, ...billingProcess]) {
      expect(spanKindName(process)).toBe('CONSUMER');
      expect(parentSpanId(process)).toBe(send!.spanContext().spanId);
      expect(process.links.map((l) => l.context.spanId)).toEqual([send!.spanContext().spanId]);
      expect(process.attributes).toMatchObject({
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.consumer.group.name': process.attributes['messaging.destination.name'],
        'messaging.message.id': 'm-1',
      });
    }
    expect(emailProcess[0]!.attributes['messaging.destination.subscription.name']).toBe('email');
    expect(billingProcess.map((p) => p.attributes['sluice.delivery.attempt'])).toEqual([1, 2, 3]);
    expect(
      billingProcess.every((p) => p.status.code === 2 && p.attributes['error.type'] === 'TypeError'),
    ).toBe(true);

    const acks = byName('ack test.email');
    expect(
      acks.map((a) => [spanKindName(a), parentSpanId(a), a.attributes['messaging.operation.type']]),
    ).toEqual([['CLIENT', emailProcess[0]!.spanContext().spanId, 'settle']]);
    const retries = byName('retry test.billing');
    expect(retries.map((r) => parentSpanId(r))).toEqual(
      billingProcess.slice(0, 2).map((p) => p.spanContext().spanId),
    );
    expect(retries.map((r) => r.attributes['sluice.retry.attempt'])).toEqual([2, 3]);

    const [deadLetter] = byName('dead_letter test.billing');
    expect(parentSpanId(deadLetter!)).toBe(billingProcess[2]!.spanContext().spanId);
    expect(deadLetter!.attributes).toMatchObject({
      'messaging.operation.type': 'settle',
      'sluice.fault.reason': 'max-attempts',
    });
    const [dlqSend] = byName(`send ${deadLetterQueueName('test.billing')}`);
    expect(spanKindName(dlqSend!)).toBe('PRODUCER');
    expect(parentSpanId(dlqSend!)).toBe(deadLetter!.spanContext().spanId);

    const sentTraceparent = `00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01`;
    expect(copy?.message.headers[Headers.faultTraceparent]).toBe(sentTraceparent);
    expect(copy?.message.headers.traceparent).toBe(
      `00-${dlqSend!.spanContext().traceId}-${dlqSend!.spanContext().spanId}-01`,
    );

    const emailLog = logged.find((l) => l.msg === 'email handled');
    expect(emailLog).toMatchObject({
      trace_id: server.spanContext().traceId,
      span_id: emailProcess[0]!.spanContext().spanId,
    });
    const deadLog = logged.find((l) => l.msg === 'message dead-lettered');
    expect(deadLog?.trace_id).toBe(server.spanContext().traceId);
  });

  it('starts a new trace per process span with link-only parenting, keeping the link', async () => {
    await start({ processSpanParent: 'link' });
    await harness!.bus.publish(OrderPlaced, { orderId: 'o-2' }, { messageId: 'm-2' });
    await harness!.waitForHandled('m-2', 'Email');
    const spans = await telemetry.spans();
    const send = spans.find((s) => s.name === 'send orders.order-placed.v1')!;
    const process = spans.find((s) => s.name === 'process test.email')!;
    expect(process.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(parentSpanId(process)).toBeUndefined();
    expect(process.links[0]?.context.spanId).toBe(send.spanContext().spanId);
  });

  it('creates no send or process spans when an instrumentation owns them', async () => {
    await start({ spanOwnership: 'instrumentation' });
    await harness!.bus.publish(OrderPlaced, { orderId: 'o-3' }, { messageId: 'm-3' });
    await harness!.waitForHandled('m-3', 'Email');
    const names = (await telemetry.spans()).map((s) => s.name);
    expect(names.filter((n) => n.startsWith('send ') || n.startsWith('process '))).toEqual([]);
    expect(names).toContain('ack test.email');
  });

  it('traces a batch with a create span per message and one linked send span', async () => {
    @Consumer({ queue: 'charges', message: Charge })
    class ChargeConsumer {
      handle() {}
    }
    ({ harness } = await startHost([ChargeConsumer]));
    await harness.bus.sendBatch(Charge, [{ orderId: 'a' }, { orderId: 'b' }]);
    await harness.waitForCount({ outcome: 'handled' }, 2);
    const spans = await telemetry.spans();
    const creates = spans.filter((s) => s.name === 'create payments.charge.v1');
    const [send] = spans.filter((s) => s.name === 'send payments.charge.v1');
    expect(creates.map(spanKindName)).toEqual(['PRODUCER', 'PRODUCER']);
    expect(spanKindName(send!)).toBe('CLIENT');
    expect(send!.attributes['messaging.batch.message_count']).toBe(2);
    expect(send!.links.map((l) => l.context.spanId).sort()).toEqual(
      creates.map((c) => c.spanContext().spanId).sort(),
    );
    const processParents = spans
      .filter((s) => s.name === 'process charges')
      .map(parentSpanId)
      .sort();
    expect(processParents).toEqual(creates.map((c) => c.spanContext().spanId).sort());
  });

  it('records the conventions metrics through OpenTelemetry', async () => {
    await start();
    await harness!.bus.publish(OrderPlaced, { orderId: 'o-4' }, { messageId: 'm-4' });
    await harness!.waitForHandled('m-4', 'Email');
    const consumed = await telemetry.metric('messaging.client.consumed.messages');
    expect(consumed?.dataPoints.length).toBeGreaterThan(0);
    const sent = await telemetry.metric('messaging.client.sent.messages');
    expect(sent?.dataPoints[0]?.attributes).toMatchObject({
      'messaging.destination.name': 'orders.order-placed.v1',
    });
    const processDuration = await telemetry.metric('messaging.process.duration');
    expect(processDuration?.descriptor.unit).toBe('s');
    expect(await telemetry.metric('messaging.client.operation.duration')).toBeDefined();
    expect((await telemetry.metric('sluice.messages.in_flight'))?.dataPoints[0]?.value).toBe(0);
    const depth = await telemetry.metric('sluice.queue.depth');
    expect(depth?.dataPoints.map((p) => p.attributes['messaging.destination.name']).sort()).toEqual([
      'test.billing',
      'test.email',
    ]);
  });
});

describe('traceparent aliases (Service Bus Diagnostic-Id)', () => {
  const aliased = Object.assign(new InMemoryTransport(), {
    telemetry: { system: 'servicebus', traceparentAliases: ['Diagnostic-Id'] },
  });

  it('writes the W3C traceparent into the alias header too', async () => {
    await aliased.connect();
    const messaging = new MessagingTelemetry(aliased);
    // Not mandatory: nobody subscribes to `t`.
    const message = { ...rawMessage('t', '{}'), mandatory: false, headers: {} as Record<string, string> };
    await messaging.publish([message]);
    expect(message.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(message.headers['Diagnostic-Id']).toBe(message.headers.traceparent);
  });

  it('reads W3C first and falls back to the alias', async () => {
    const messaging = new MessagingTelemetry(aliased).forEndpoint({ queue: 'q', subscription: undefined });
    const w3c = '00-11111111111111111111111111111111-2222222222222222-01';
    const diagnostic = '00-33333333333333333333333333333333-4444444444444444-01';
    const delivery = (headers: Record<string, string>) =>
      ({ message: { ...rawMessage('t', '{}'), headers }, queue: 'q', attempt: 1 }) as unknown as Delivery;
    const both = messaging.startProcess(delivery({ traceparent: w3c, 'Diagnostic-Id': diagnostic }));
    const aliasOnly = messaging.startProcess(delivery({ 'Diagnostic-Id': diagnostic }));
    messaging.endProcess(both, undefined);
    messaging.endProcess(aliasOnly, undefined);
    expect(both.logFields.trace_id).toBe('11111111111111111111111111111111');
    expect(aliasOnly.logFields.trace_id).toBe('33333333333333333333333333333333');
    expect(aliasOnly.traceparent).toBe(diagnostic);
  });
});
