/**
 * The demo (built, in a child process) exports to the real Jaeger, configured by `OTEL_*` variables
 * only, and the order's whole trace is read back from Jaeger's own query API: from `POST /orders`
 * through every subscriber's process span to the dead-letter send. Jaeger is the binary built by
 * `npm run tools:build`; without it the test is skipped with one line, and fails in CI.
 */
import type { ChildProcess } from 'node:child_process';
import { startJaeger, toolForTest, type Jaeger, type JaegerSpan } from '@sluice/tools';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { order, post, startDemo } from './support/demo-process.js';

const jaegerBinary = toolForTest('jaeger');
const serviceName = 'orders-jaeger-test';
const subscriptions = ['email', 'inventory', 'shipping', 'vip-desk', 'payments'];
const kind = { server: 2, client: 3, producer: 4, consumer: 5 };

let jaeger: Jaeger;
let child: ChildProcess | undefined;
const vhosts: TestVhost[] = [];

beforeAll(async () => {
  if (jaegerBinary !== undefined) jaeger = await startJaeger(jaegerBinary);
});
afterEach(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await jaeger?.stop();
  for (const vhost of vhosts) await vhost.delete();
});

/** Polls Jaeger (every 250 ms, up to `timeoutMs`) until the trace holds what `complete` asks for. */
async function traceFromJaeger(
  traceId: string,
  complete: (spans: JaegerSpan[]) => boolean,
  timeoutMs = 30_000,
): Promise<JaegerSpan[]> {
  const deadline = Date.now() + timeoutMs;
  let spans: JaegerSpan[] = [];
  while (Date.now() < deadline) {
    spans = await jaeger.trace(traceId);
    if (complete(spans)) return spans;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `trace ${traceId} incomplete in Jaeger after ${timeoutMs} ms; it holds: ${spans.map((s) => s.name).join(', ')}`,
  );
}

/** The dead-letter queue's producer span: `send payments.dlq` in memory, `publish payments.dlq` on RabbitMQ. */
const isDeadLetterSend = (s: JaegerSpan) => s.kind === kind.producer && s.name.endsWith(' payments.dlq');

const processSpansOf = (spans: JaegerSpan[], subscription: string) =>
  spans.filter(
    (s) =>
      s.kind === kind.consumer && s.attributes['messaging.destination.subscription.name'] === subscription,
  );

const cases: [name: string, system: string, environment: () => Promise<Record<string, string>>][] = [
  ['the in-memory transport', 'in-memory', async () => ({})],
  [
    'RabbitMQ (AMQP_URL, a vhost of its own)',
    'rabbitmq',
    async () => {
      const vhost = await TestVhost.create('sluice-jaeger');
      vhosts.push(vhost);
      return { AMQP_URL: vhost.url };
    },
  ],
];

describe.skipIf(jaegerBinary === undefined).each(cases)(
  'the demo on %s, traced into the real Jaeger',
  (_name, system, environment) => {
    it('shows one trace from POST /orders through every subscriber to the dead-letter send, with the service name', async () => {
      const demo = await startDemo({
        ...(await environment()),
        SEED_ORDERS: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
        OTEL_SERVICE_NAME: serviceName,
        OTEL_BSP_SCHEDULE_DELAY: '200',
      });
      child = demo.child;
      await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready', 30_000);

      const response = await post(`${demo.api}/orders`, order(1300, 'tok_gateway_down'));
      expect(response.status).toBe(202);
      const { orderId, traceId } = (await response.json()) as { orderId: string; traceId: string };
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);

      const spans = await traceFromJaeger(
        traceId,
        (found) =>
          found.some((s) => isDeadLetterSend(s)) &&
          subscriptions.every((subscription) => processSpansOf(found, subscription).length > 0),
      );

      expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set([serviceName]));
      expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const one = (predicate: (s: JaegerSpan) => boolean, what: string): JaegerSpan => {
        const found = spans.filter(predicate);
        expect(found, what).toHaveLength(1);
        return found[0] as JaegerSpan;
      };

      const request = one((s) => s.name === 'POST /orders', 'POST /orders');
      expect(request.kind).toBe(kind.server);
      expect(request.parentSpanId).toBeUndefined();

      const publish = one(
        (s) => s.kind === kind.producer && s.name.endsWith(' orders.order-placed.v1'),
        'the OrderPlaced send',
      );
      expect(publish.parentSpanId).toBe(request.spanId);
      expect(publish.attributes).toMatchObject({
        'messaging.system': system,
        'messaging.message.id': orderId,
      });

      for (const subscription of subscriptions) {
        const [process, ...more] = processSpansOf(spans, subscription);
        expect(more, `${subscription}: one process span`).toHaveLength(0);
        expect(process?.parentSpanId, subscription).toBe(publish.spanId);
        expect(process?.attributes['messaging.operation.type']).toBe('process');
      }

      const requestPayment = processSpansOf(spans, 'payments')[0] as JaegerSpan;
      const sendCharge = one(
        (s) => s.kind === kind.producer && s.name.endsWith(' payments.charge-card.v1'),
        'the ChargeCard send',
      );
      expect(sendCharge.parentSpanId).toBe(requestPayment.spanId);

      const attempts = spans
        .filter((s) => s.kind === kind.consumer && s.parentSpanId === sendCharge.spanId)
        .sort(
          (a, b) =>
            Number(a.attributes['sluice.delivery.attempt']) - Number(b.attributes['sluice.delivery.attempt']),
        );
      expect(attempts.map((s) => s.attributes['sluice.delivery.attempt'])).toEqual([1, 2, 3]);
      for (const attempt of attempts) {
        expect(attempt.statusCode).toBe(2);
        expect(attempt.attributes['error.type']).toBe('TransientGatewayError');
      }

      const deadLetter = one((s) => s.name.startsWith('dead_letter '), 'the dead-letter settlement');
      expect(deadLetter.kind).toBe(kind.client);
      expect(deadLetter.parentSpanId).toBe(attempts[2]?.spanId);
      expect(deadLetter.attributes['sluice.fault.reason']).toBe('max-attempts');
      const dlqSend = one(isDeadLetterSend, 'the payments.dlq send');
      expect(dlqSend.parentSpanId).toBe(deadLetter.spanId);

      // Every span hangs off the request: one tree, no orphan.
      for (const span of spans) {
        let current: JaegerSpan | undefined = span;
        for (let depth = 0; current?.parentSpanId !== undefined && depth < 20; depth++) {
          current = byId.get(current.parentSpanId);
        }
        expect(current?.spanId, `root of ${span.name}`).toBe(request.spanId);
      }

      demo.child.kill('SIGTERM');
      expect(await demo.exited).toBe(0);
    });
  },
);
