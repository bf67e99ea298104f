/**
 * The inbox on the real PostgreSQL and RabbitMQ, in one process: a handler's writes, the messages it
 * sends and the "handled" record commit together or not at all.
 */
import { randomUUID } from 'node:crypto';
import { Consumer, defineCommand, silentLogger, type MessageContext } from '@sluice/core';
import { migrate, OutboxRelay, PostgresInbox, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { TestHarness } from '@sluice/testing';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestVhost } from '../../rabbitmq/test/support/broker.js';
import { TestSchema } from './support/database.js';

const id = randomUUID().slice(0, 8);
const Charge = defineCommand<{ orderId: string; failTimes: number }>(`pgtest.charge-${id}.v1`);
const Receipt = defineCommand<{ orderId: string }>(`pgtest.receipt-${id}.v1`);

describe('the transactional inbox', () => {
  let schema: TestSchema;
  let vhost: TestVhost;
  let harness: TestHarness;
  let inbox: PostgresInbox;
  let relay: OutboxRelay;
  let relayTransport: RabbitMqTransport;
  const calls = new Map<string, number>();

  beforeEach(async () => {
    schema = await TestSchema.create('inbox');
    vhost = await TestVhost.create('sluice-pg-inbox');
    await migrate({ pool: schema.pool, schema: schema.name });
    await schema.pool.query(`CREATE TABLE "${schema.name}".charges (order_id text PRIMARY KEY)`);
    const table = `"${schema.name}".charges`;

    @Consumer({
      queue: 'pgtest.charges',
      message: Charge,
      inject: [PostgresUnitOfWork],
      retry: { attempts: 3, immediate: 1, redelivery: { initialMs: 100 } },
    })
    class ChargeCard {
      constructor(private readonly work: PostgresUnitOfWork) {}
      async handle(command: { orderId: string; failTimes: number }, ctx: MessageContext) {
        const call = (calls.get(ctx.messageId) ?? 0) + 1;
        calls.set(ctx.messageId, call);
        // The unique key makes a second charge of an order fail loudly.
        await this.work.query(`INSERT INTO ${table} VALUES ($1)`, [command.orderId]);
        await harness.bus.send(
          Receipt,
          { orderId: command.orderId },
          { messageId: `receipt-${command.orderId}` },
        );
        if (call <= command.failTimes) throw new Error(`gateway timeout (call ${call})`);
      }
    }
    @Consumer({ queue: 'pgtest.receipts', message: Receipt })
    class Receipts {
      handle() {}
    }

    inbox = new PostgresInbox({ pool: schema.pool, schema: schema.name, consumers: [ChargeCard] });
    const container = new Container();
    container.bind(PostgresUnitOfWork).toConstantValue(inbox.unitOfWork);
    const transport = new PostgresOutbox({
      pool: schema.pool,
      schema: schema.name,
      transport: new RabbitMqTransport({ url: vhost.url, logger: silentLogger }),
    });
    harness = await TestHarness.start({
      serviceName: 'pgtest',
      transport,
      container,
      consumers: [ChargeCard, Receipts],
      middleware: [inbox.middleware],
      logger: silentLogger,
    });
    relayTransport = new RabbitMqTransport({ url: vhost.url, logger: silentLogger });
    relay = new OutboxRelay({
      pool: schema.pool,
      schema: schema.name,
      transport: relayTransport,
      logger: silentLogger,
    });
    await relay.start();
  });

  afterEach(async () => {
    await relay?.stop();
    await relayTransport?.close();
    await harness?.stop();
    await inbox?.close();
    await vhost?.delete();
    await schema?.drop();
  });

  async function charges(): Promise<string[]> {
    const { rows } = await schema.pool.query<{ order_id: string }>(
      `SELECT order_id FROM "${schema.name}".charges ORDER BY 1`,
    );
    return rows.map((r) => r.order_id);
  }

  it('handles a message delivered twice once: the second delivery is a duplicate', async () => {
    await harness.bus.send(Charge, { orderId: 'o-1', failTimes: 0 }, { messageId: 'charge-o-1' });
    await harness.waitForHandled('charge-o-1', 'ChargeCard', 15_000);
    await harness.bus.send(Charge, { orderId: 'o-1', failTimes: 0 }, { messageId: 'charge-o-1' });
    await harness.waitFor({ messageId: 'charge-o-1', outcome: 'duplicate' }, 15_000);
    await harness.waitForHandled('receipt-o-1', 'Receipts', 15_000);
    expect(calls.get('charge-o-1')).toBe(1);
    expect(await charges()).toEqual(['o-1']);
  });

  it('rolls back the writes, the sends and the record of a call that throws; the retry commits them once', async () => {
    await harness.bus.send(Charge, { orderId: 'o-2', failTimes: 2 }, { messageId: 'charge-o-2' });
    await harness.waitForHandled('charge-o-2', 'ChargeCard', 20_000);
    await harness.waitForHandled('receipt-o-2', 'Receipts', 15_000);
    expect(calls.get('charge-o-2')).toBe(3);
    expect(harness.outcomes({ messageId: 'charge-o-2', outcome: 'retried' })).toHaveLength(2);
    expect(await charges()).toEqual(['o-2']);
    // One receipt in the outbox, though every call sent one: the failed calls' rows rolled back.
    const { rows } = await schema.pool.query(`SELECT message_id FROM "${schema.name}".sluice_outbox`);
    expect(rows).toEqual([{ message_id: 'receipt-o-2' }]);
    expect(harness.outcomes({ messageId: 'receipt-o-2' })).toHaveLength(1);
  });
});
