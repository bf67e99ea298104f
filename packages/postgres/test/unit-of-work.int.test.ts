/** The unit of work on the real PostgreSQL: which transaction is current, and what the outbox writes in it. */
import { randomUUID } from 'node:crypto';
import { Bus, defineEvent, ErrorCodes, InMemoryTransport } from '@sluice/core';
import { migrate, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSchema } from './support/database.js';

const Happened = defineEvent<{ n: number }>(`pgtest.happened-${randomUUID().slice(0, 8)}.v1`);

describe('PostgresUnitOfWork', () => {
  let schema: TestSchema;
  let bus: Bus;
  let work: PostgresUnitOfWork;
  let broker: InMemoryTransport;

  beforeAll(async () => {
    schema = await TestSchema.create('unit_of_work');
    await migrate({ pool: schema.pool, schema: schema.name });
    broker = new InMemoryTransport();
    await broker.connect();
    bus = new Bus(new PostgresOutbox({ pool: schema.pool, schema: schema.name, transport: broker }));
    work = new PostgresUnitOfWork(schema.pool);
  });

  afterAll(async () => {
    await broker?.close();
    await schema?.drop();
  });

  const rows = async (messageId: string) =>
    (
      await schema.pool.query(`SELECT 1 FROM "${schema.name}".sluice_outbox WHERE message_id = $1`, [
        messageId,
      ])
    ).rowCount;

  it('refuses queries outside a transaction, naming what to do', async () => {
    await expect(work.query('SELECT 1')).rejects.toMatchObject({
      code: ErrorCodes.CLOSED,
      message: expect.stringContaining('inside an inbox handler, run() or enlist()'),
    });
  });

  it('refuses work a transaction left running after it committed, writing nothing', async () => {
    let late: Promise<void> | undefined;
    await work.run(async () => {
      late = new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        bus.publish(Happened, { n: 1 }, { messageId: 'late' }),
      );
    });
    await expect(late).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
    expect(await rows('late')).toBe(0);
  });

  it("writes into a caller's own transaction with enlist: nothing on rollback, one row on commit", async () => {
    const client = await schema.pool.connect();
    try {
      await client.query('BEGIN');
      await work.enlist(client, () => bus.publish(Happened, { n: 1 }, { messageId: 'enlisted-rolled-back' }));
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await work.enlist(client, async () => {
        expect((await work.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        await bus.publish(Happened, { n: 2 }, { messageId: 'enlisted-committed' });
      });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await rows('enlisted-rolled-back')).toBe(0);
    expect(await rows('enlisted-committed')).toBe(1);
  });

  it('publishes directly outside a transaction', async () => {
    const delivered: string[] = [];
    await broker.subscribe(
      { queue: 'pgtest.happened', topics: [Happened.type], prefetch: 1, retryDelaysMs: [] },
      async (d) => {
        delivered.push(d.message.messageId);
        await d.ack();
      },
    );
    await bus.publish(Happened, { n: 3 }, { messageId: 'direct' });
    expect(await rows('direct')).toBe(0);
    await expect.poll(() => delivered, { timeout: 5_000 }).toEqual(['direct']);
  });
});
