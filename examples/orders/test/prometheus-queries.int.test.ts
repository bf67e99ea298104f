/**
 * The PromQL of the Helm chart (charts/sluice-consumer), taken from what `helm template` renders (the
 * ScaledObject's prometheus trigger and the PrometheusRule), run by the real Prometheus against the
 * demo's `/metrics` on RabbitMQ, returns what the broker's management API shows for the same queues:
 * the dead-letter growth of `payments.dlq` and the depth of `payments`. The demo is the orders
 * application as main.ts wires it (`createOrdersApp` on `RabbitMqTransport`), in this process, so that
 * a backlog can be made to stand still while the consumer stays attached: a test middleware holds the
 * payment of every order paid with `tok_hold` until the end, so the payments consumer's prefetch (20)
 * fills up and every further payment waits in `payments`, ready, for as long as the test reads.
 * Prometheus is the binary built by `npm run tools:build`; without it the test is skipped with one
 * line, and fails in CI.
 */
import type { AddressInfo } from 'node:net';
import { resolveEndpointConfig, type HandlerClass, type Middleware } from '@sluice/core';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { RecordingLogger } from '@sluice/testing';
import { startPrometheus, toolForTest, type Prometheus } from '@sluice/tools';
import { afterAll, expect, it } from 'vitest';
import { chartDir, renderChart } from '../../../packages/kube/test/support/chart.js';
import { TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { ChargeCardConsumer } from '../src/handlers/charge-card-consumer.js';
import { createOrdersApp, type OrdersApp } from '../src/orders-app.js';
import { order, post } from './support/demo-process.js';

const prometheusBinary = toolForTest('prometheus');
const managementUrl = 'http://127.0.0.1:15672';

let prometheus: Prometheus | undefined;
let vhost: TestVhost | undefined;
let app: OrdersApp | undefined;
let release: () => void = () => undefined;
afterAll(async () => {
  release();
  await app?.host.stop();
  app?.api.close();
  await prometheus?.stop();
  await vhost?.delete();
});

/** Polls `read` every 250 ms until `accept` holds for its value; rejects after `timeoutMs`. */
async function until<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!accept(value)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    value = await read();
  }
  return value;
}

/** A queue's message counts and consumers as the management API shows them (-1: no such queue). */
async function brokerQueue(name: string): Promise<{ ready: number; messages: number; consumers: number }> {
  const response = await fetch(
    `${managementUrl}/api/queues/${encodeURIComponent(vhost!.name)}/${encodeURIComponent(name)}`,
    { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } },
  );
  if (!response.ok) return { ready: -1, messages: -1, consumers: -1 };
  const queue = (await response.json()) as { messages_ready?: number; messages?: number; consumers?: number };
  return {
    ready: queue.messages_ready ?? -1,
    messages: queue.messages ?? -1,
    consumers: queue.consumers ?? -1,
  };
}

/** The chart's queries as rendered for the orders demo's queues (the CI values variant). */
async function chartQueries() {
  const objects = await renderChart(['-f', `${chartDir}/ci/rabbitmq-prometheus-values.yaml`]);
  const scaledObject = objects.find((o) => o.kind === 'ScaledObject');
  const triggers = (scaledObject?.spec?.triggers ?? []) as { type: string; metadata: { query?: string } }[];
  const depthQuery = triggers.find((t) => t.type === 'prometheus' && t.metadata.query?.includes('"payments"'))
    ?.metadata.query;
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  const rules = ((rule?.spec?.groups ?? []) as { rules: { alert: string; expr: string }[] }[]).flatMap(
    (group) => group.rules,
  );
  const deadLetterGrowth = rules.find((r) => r.alert === 'SluiceDeadLettersGrowing')?.expr;
  expect(depthQuery, 'the ScaledObject has a prometheus trigger for payments').toBeDefined();
  expect(deadLetterGrowth, 'the PrometheusRule has SluiceDeadLettersGrowing').toBeDefined();
  return { depthQuery: depthQuery!, deadLetterGrowth: deadLetterGrowth! };
}

/** The payments consumer's prefetch: how many held payments it takes before the rest wait in the queue. */
const paymentsPrefetch = resolveEndpointConfig(ChargeCardConsumer as HandlerClass, 'orders').prefetch;

it.skipIf(prometheusBinary === undefined)(
  "the chart's trigger and alert queries return the depth and dead-letter growth the broker shows",
  async () => {
    const { depthQuery, deadLetterGrowth } = await chartQueries();
    vhost = await TestVhost.create('sluice-prometheus');
    const held = new Promise<void>((resolve) => (release = resolve));
    const holdPayments: Middleware = async (invocation, next) => {
      const payment = invocation.payload as { cardToken?: unknown } | undefined;
      if (invocation.endpoint.queue === 'payments' && payment?.cardToken === 'tok_hold') await held;
      await next();
    };
    app = createOrdersApp({
      transport: new RabbitMqTransport({ url: vhost.url }),
      logger: new RecordingLogger(),
      metricsPort: 0,
      handleSignals: false,
      middleware: [holdPayments],
    });
    let deadLetteredCount = 0;
    app.host.on('settled', (event) => {
      if (event.outcome === 'dead-lettered' && event.queue === 'payments') deadLetteredCount++;
    });
    await app.host.start();
    await new Promise<void>((resolve) => app!.api.listen(0, '127.0.0.1', resolve));
    const api = `http://127.0.0.1:${(app.api.address() as AddressInfo).port}`;
    prometheus = await startPrometheus(prometheusBinary!, { targets: [`127.0.0.1:${app.host.httpPort}`] });
    const value = async (promql: string, queue: string) =>
      (await prometheus!.query(promql)).find((s) => s.labels.queue === queue || promql.includes(`"${queue}"`))
        ?.value;
    const deadLettered = (count: number) =>
      until(
        () => Promise.resolve(deadLetteredCount),
        (n) => n >= count,
        `${count} dead-letters`,
        60_000,
      );

    // One dead-letter first, scraped, so that the counter's series exists before the growth measured.
    expect((await post(`${api}/orders`, order(40, 'tok_gateway_down'))).status).toBe(202);
    await deadLettered(1);
    await until(
      () => value('sluice_messages_dead_lettered_total', 'payments'),
      (v) => v === 1,
      'first scrape',
    );
    const before = await until(
      () => brokerQueue('payments.dlq'),
      (q) => q.messages === 1,
      'one in the DLQ',
    );

    for (let i = 0; i < 3; i++) {
      expect((await post(`${api}/orders`, order(40, 'tok_gateway_down'))).status).toBe(202);
    }
    await deadLettered(4);
    await until(
      () => value('sluice_messages_dead_lettered_total', 'payments'),
      (v) => v === 4,
      'counter at 4',
    );
    const after = await until(
      () => brokerQueue('payments.dlq'),
      (q) => q.messages === 4,
      'four in the DLQ',
    );
    // increase() extrapolates the growth it sampled to the window's edges, by up to a scrape interval
    // in all: over a series of 20 samples or more, 3 reads as 3 to 3.2.
    await until(
      () => value('count_over_time(sluice_messages_dead_lettered_total{queue="payments"}[10m])', 'payments'),
      (count) => count !== undefined && count >= 20,
      '20 samples of the counter',
    );
    const growth = await value(deadLetterGrowth, 'payments');
    expect(growth).toBeGreaterThanOrEqual(after.messages - before.messages);
    expect(Math.round(growth!)).toBe(after.messages - before.messages);

    // A backlog that stands still while the consumer stays attached: the held payments fill its
    // prefetch, and the 7 after them wait in `payments`, ready.
    const waiting = 7;
    for (let i = 0; i < paymentsPrefetch + waiting; i++) {
      expect((await post(`${api}/orders`, order(40, 'tok_hold'))).status).toBe(202);
    }
    const broker = await until(
      () => brokerQueue('payments'),
      (q) => q.ready === waiting && q.messages === paymentsPrefetch + waiting && q.consumers === 1,
      `${waiting} payments ready behind ${paymentsPrefetch} held`,
      30_000,
    );
    const depth = await until(
      () => value(depthQuery, 'payments'),
      (v) => v === waiting,
      `the trigger query at ${waiting}`,
      15_000,
    );
    expect(depth).toBe(broker.ready);
    // Still standing: the broker shows the same a scrape later.
    expect((await brokerQueue('payments')).ready).toBe(waiting);
    release();
  },
  120_000,
);
