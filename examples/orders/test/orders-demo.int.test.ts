import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServiceBusStandIn, type ServiceBusStandIn } from '@sluice/service-bus-standin';
import { startOtlpReceiver } from '@sluice/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { order, post, startDemo, timeOf } from './support/demo-process.js';

let child: ChildProcess | undefined;
afterEach(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
});

let vhost: TestVhost | undefined;
let standIn: ServiceBusStandIn | undefined;
let caDirectory: string | undefined;
afterAll(async () => {
  await vhost?.delete();
  await standIn?.close();
  if (caDirectory !== undefined) await rm(caDirectory, { recursive: true, force: true });
});

const transports: [string, () => Promise<Record<string, string>>][] = [
  ['in-memory transport (no broker configured)', async () => ({})],
  [
    'RabbitMQ (AMQP_URL set), unchanged',
    async () => {
      vhost = await TestVhost.create('sluice-demo');
      return { AMQP_URL: vhost.url };
    },
  ],
  [
    'Azure Service Bus (SERVICEBUS_CONNECTION_STRING set: the stand-in, its CA in NODE_EXTRA_CA_CERTS), unchanged',
    async () => {
      standIn = await startServiceBusStandIn();
      caDirectory = await mkdtemp(join(tmpdir(), 'sluice-demo-ca-'));
      const ca = join(caDirectory, 'ca.pem');
      await writeFile(ca, standIn.ca);
      return { SERVICEBUS_CONNECTION_STRING: standIn.connectionString, NODE_EXTRA_CA_CERTS: ca };
    },
  ],
];

const transportNames: Record<string, string> = { RabbitMQ: 'rabbitmq', Azure: 'azure-service-bus' };

it('declares on RabbitMQ a work queue and a dead-letter queue per endpoint, and one retry queue per delay for them all', async () => {
  const own = await TestVhost.create('sluice-demo-queues');
  try {
    const demo = await startDemo({ AMQP_URL: own.url, SEED_ORDERS: '0' });
    child = demo.child;
    await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready');
    const endpoints = [
      'orders.email',
      'orders.inventory',
      'orders.payments',
      'orders.shipping',
      'orders.vip-desk',
      'payments',
    ];
    // payments retries after 500 and 1000 ms, the subscriptions after 1, 5, 25 and 125 s: 5 delays.
    const retryQueues = [500, 1_000, 5_000, 25_000, 125_000].map((ms) => `orders.retry.${ms}ms`);
    expect(await own.queues()).toEqual([...endpoints.flatMap((q) => [q, `${q}.dlq`]), ...retryQueues].sort());
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
  } finally {
    await own.delete();
  }
});

describe.each(transports)('orders demo on the %s', (transportName, environment) => {
  it('answers HTTP and /metrics within 10 s, handles orders, retries and dead-letters, and drains on SIGTERM', async () => {
    const demo = await startDemo(await environment());
    child = demo.child;
    const ready = await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready');
    expect(ready.transport).toBe(transportNames[transportName.split(' ')[0] as string] ?? 'in-memory');
    expect((await fetch(`${demo.ops}/metrics`)).status).toBe(200);
    expect(Date.now() - demo.started).toBeLessThan(10_000);

    const accepted = await post(`${demo.api}/orders`, order(1500));
    expect(accepted.status).toBe(202);
    const { orderId } = (await accepted.json()) as { orderId: string };
    await demo.waitForLog((l) => l.msg === 'VIP desk notified' && l.orderId === orderId, 'VIP handler');
    await demo.waitForLog((l) => l.msg === 'card charged' && l.orderId === orderId, 'charge');
    await demo.waitForLog((l) => l.msg === 'email sent' && l.to === 'test@example.com', 'email');
    await demo.waitForLog((l) => l.msg === 'inventory reserved' && l.orderId === orderId, 'inventory');

    // The seeded order whose gateway is always down is retried, then dead-lettered.
    await demo.waitForLog((l) => l.msg === 'handler failed; redelivery in 500 ms', 'a redelivery');
    const dead = await demo.waitForLog((l) => l.msg === 'message dead-lettered', 'a dead-letter');
    expect(dead).toMatchObject({ consumer: 'ChargeCardConsumer', reason: 'max-attempts', attempt: 3 });
    const metrics = await (await fetch(`${demo.ops}/metrics`)).text();
    expect(metrics).toMatch(
      /sluice_messages_dead_lettered_total\{consumer="ChargeCardConsumer",queue="payments",reason="max-attempts"\} 1/,
    );
    expect(metrics).toMatch(
      /sluice_messages_retried_total\{consumer="ChargeCardConsumer",queue="payments"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /sluice_messages_handled_total\{consumer="NotifyVipDesk",queue="orders.vip-desk"\} 2/,
    );
    expect(metrics).toContain('sluice_queue_depth{queue="payments"}');

    expect((await post(`${demo.api}/orders`, { totalAmount: -1 })).status).toBe(400);

    const uploads = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post(`${demo.api}/uploads`, { name: `file-${i}`, processingMs: 300 }),
      ),
    );
    const statuses = uploads.map((r) => r.status);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(20);
    expect(statuses).toContain(503);

    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(demo.logs.filter((l) => l.msg === 'upload processed').length).toBe(
      statuses.filter((s) => s === 202).length,
    );
    // Every upload finished before the host reported it had stopped (times are taken at the log call;
    // the logger writes asynchronously, so line order alone does not show it).
    const stopped = demo.logs.find((l) => l.msg === 'consumer host stopped');
    expect(stopped).toBeDefined();
    const uploadTimes = demo.logs.filter((l) => l.msg === 'upload processed').map(timeOf);
    expect(Math.max(...uploadTimes)).toBeLessThanOrEqual(timeOf(stopped));
  });
});

describe('running the demo', () => {
  it('`npm start` hands SIGTERM on to the service, which drains and exits 0', async () => {
    const demo = await startDemo({ SEED_ORDERS: '0' }, { viaNpm: true });
    child = demo.child;
    await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready', 60_000);
    demo.child.kill('SIGTERM'); // the npm process, as a container runtime or systemd signals it
    await demo.waitForLog((l) => l.msg === 'signal received; draining', 'the signal reaching the service');
    expect(await demo.exited).toBe(0);
    expect(demo.logs.some((l) => l.msg === 'consumer host stopped')).toBe(true);
  }, 90_000);

  it('a PORT in use stops the demo with one line naming it, before anything is consumed', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const demo = await startDemo({ PORT: String(port), SEED_ORDERS: '0' });
      child = demo.child;
      expect(await demo.exited).toBe(1);
      const failure = demo.logs.find((l) => l.msg === 'orders demo could not start');
      expect(failure?.reason).toBe(`port ${port} (PORT) is already in use; set PORT to a free port`);
      expect(failure?.err).toBeUndefined(); // no stack for a cause the user can act on
      expect(demo.logs.some((l) => l.msg === 'consumer host started')).toBe(false);
    } finally {
      taken.close();
    }
  });
});

describe('orders demo with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it('exports the trace of an order, from POST /orders on, before it exits', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const demo = await startDemo({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, SEED_ORDERS: '0' });
      child = demo.child;
      await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready');
      const response = await post(`${demo.api}/orders`, order(1500));
      const { orderId, traceId } = (await response.json()) as { orderId: string; traceId: string };
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      await demo.waitForLog((l) => l.msg === 'card charged' && l.orderId === orderId, 'charge');
      demo.child.kill('SIGTERM');
      expect(await demo.exited).toBe(0);

      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      expect(new Set(spans.map((s) => s.serviceName))).toEqual(new Set(['orders']));
      const names = spans.map((s) => s.name);
      expect(names).toContain('POST /orders');
      expect(names).toContain('send orders.order-placed.v1');
      expect(names.filter((n) => n.startsWith('process ')).length).toBeGreaterThanOrEqual(6);
      expect(names).toContain('send payments.charge-card.v1');
      const handlerLog = demo.logs.find((l) => l.msg === 'card charged' && l.orderId === orderId);
      expect(handlerLog?.trace_id).toBe(traceId);
    } finally {
      await receiver.close();
    }
  });
});
