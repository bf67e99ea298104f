/**
 * The demo's DATABASE_URL mode on the real PostgreSQL: an order and its OrderPlaced event commit in one
 * transaction and the relay publishes it; the ChargeCard consumer records the charge through the inbox.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, TestVhost } from '../../../packages/rabbitmq/test/support/broker.js';
import { TestSchema } from '../../../packages/postgres/test/support/database.js';
import { order, post, startDemo } from './support/demo-process.js';

const brokers: [string, () => Promise<{ env: Record<string, string>; cleanup?: () => Promise<void> }>][] = [
  ['in memory', async () => ({ env: {} })],
  [
    'RabbitMQ',
    async () => {
      const vhost = await TestVhost.create('sluice-demo-db');
      return { env: { AMQP_URL: vhost.url }, cleanup: () => vhost.delete() };
    },
  ],
];

describe.each(brokers)('the orders demo with DATABASE_URL, broker %s', (_name, broker) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('stores the order with its event through the outbox and the charge through the inbox, once', async () => {
    const schema = await TestSchema.create('orders_demo');
    cleanups.push(() => schema.drop());
    const { env, cleanup } = await broker();
    if (cleanup) cleanups.push(cleanup);
    const demo = await startDemo({
      ...env,
      DATABASE_URL: schema.url,
      DATABASE_SCHEMA: schema.name,
      SEED_ORDERS: '0',
      PAYMENT_GATEWAY_FAIL_EVERY: '0',
    });
    cleanups.push(async () => {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    });
    const ready = await demo.waitForLog((l) => l.msg === 'orders demo ready', 'ready', 20_000);
    expect(ready.database).toBe('postgres (outbox and inbox)');

    const accepted = await post(`${demo.api}/orders`, order(1500));
    expect(accepted.status).toBe(202);
    const { orderId } = (await accepted.json()) as { orderId: string };
    await demo.waitForLog((l) => l.msg === 'card charged' && l.orderId === orderId, 'the charge', 20_000);

    const query = async (sql: string) => (await schema.pool.query(sql, [orderId])).rows;
    const t = (table: string) => `"${schema.name}".${table}`;
    expect(await query(`SELECT id, total_amount::float AS total FROM ${t('orders')} WHERE id = $1`)).toEqual([
      { id: orderId, total: 1500 },
    ]);
    await eventually(
      async () =>
        (
          await query(
            `SELECT 1 FROM ${t('sluice_outbox')} WHERE message_id = $1 AND published_at IS NOT NULL`,
          )
        ).length === 1,
      10_000,
      'the OrderPlaced row marked sent',
    );
    expect(await query(`SELECT aggregate FROM ${t('sluice_outbox')} WHERE message_id = $1`)).toEqual([
      { aggregate: orderId },
    ]);
    // "card charged" is logged inside the inbox transaction, before its commit.
    const charges = () =>
      query(`SELECT order_id, amount::float AS amount FROM ${t('charges')} WHERE order_id = $1`);
    await eventually(async () => (await charges()).length > 0, 10_000, 'the charge committed');
    expect(await charges()).toEqual([{ order_id: orderId, amount: 1500 }]);
    const inbox = await schema.pool.query(`SELECT queue FROM ${t('sluice_inbox')}`);
    expect(inbox.rows).toEqual([{ queue: 'payments' }]);

    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
  });
});
