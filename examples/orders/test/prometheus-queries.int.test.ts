/**
 * The PromQL of the Helm chart (charts/sluice-consumer), taken from what `helm template` renders (the
 * ScaledObject's prometheus trigger and the PrometheusRule), run by the real Prometheus against the
 * demo's `/metrics` on RabbitMQ, returns what the broker's management API shows for the same queues:
 * the dead-letter growth of `payments.dlq` and the depth of `payments`. Prometheus is the binary built
 * by `npm run tools:build`; without it the test is skipped with one line, and fails in CI.
 */
import type { ChildProcess } from 'node:child_process';
import { startPrometheus, toolForTest, type Prometheus } from '@sluice/tools';
import amqp from 'amqplib';
import { afterAll, afterEach, expect, it } from 'vitest';
import { chartDir, renderChart } from '../../../packages/kube/test/support/chart.js';
import { TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { order, post, startDemo } from './support/demo-process.js';

const prometheusBinary = toolForTest('prometheus');
const managementUrl = 'http://127.0.0.1:15672';

let prometheus: Prometheus | undefined;
let vhost: TestVhost | undefined;
let child: ChildProcess | undefined;
afterEach(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
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

it.skipIf(prometheusBinary === undefined)(
  "the chart's trigger and alert queries return the depth and dead-letter growth the broker shows",
  async () => {
    const { depthQuery, deadLetterGrowth } = await chartQueries();
    vhost = await TestVhost.create('sluice-prometheus');
    const demo = await startDemo({ AMQP_URL: vhost.url, SEED_ORDERS: '0' });
    child = demo.child;
    await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready', 30_000);
    prometheus = await startPrometheus(prometheusBinary!, { targets: [new URL(demo.ops).host] });
    const value = async (promql: string, queue: string) =>
      (await prometheus!.query(promql)).find((s) => s.labels.queue === queue || promql.includes(`"${queue}"`))
        ?.value;
    const deadLettered = (count: number) =>
      demo.waitForLog(
        () => demo.logs.filter((l) => l.msg === 'message dead-lettered').length >= count,
        `${count} dead-letters`,
        60_000,
      );

    // One dead-letter first, scraped, so that the counter's series exists before the growth measured.
    expect((await post(`${demo.api}/orders`, order(40, 'tok_gateway_down'))).status).toBe(202);
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
      expect((await post(`${demo.api}/orders`, order(40, 'tok_gateway_down'))).status).toBe(202);
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

    // A backlog that stands still: on SIGTERM the host stops consuming first, then lets the uploads
    // finish while its transport and /metrics stay up; messages sent to `payments` meanwhile stay there.
    for (let i = 0; i < 4; i++) {
      expect((await post(`${demo.api}/uploads`, { name: `slow-${i}`, processingMs: 10_000 })).status).toBe(
        202,
      );
    }
    demo.child.kill('SIGTERM');
    await until(
      () => brokerQueue('payments'),
      (q) => q.consumers === 0,
      'payments without consumers',
      10_000,
    );
    const connection = await amqp.connect(vhost.url);
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < 7; i++) channel.sendToQueue('payments', Buffer.from('{}'), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();

    const depth = await until(
      () => value(depthQuery, 'payments'),
      (v) => v === 7,
      'the trigger query at 7',
      15_000,
    );
    const broker = await until(
      () => brokerQueue('payments'),
      (q) => q.ready === depth,
      'the broker at 7',
      15_000,
    );
    expect(broker.ready).toBe(7);
    expect(depth).toBe(broker.ready);
    expect(await demo.exited).toBe(0);
  },
  120_000,
);
