/** The unit of work on the real PostgreSQL: which transaction is current, and what the outbox writes in it. */
import { randomUUID } from 'node:crypto';
import {
  Bus,
  defineEvent,
  ErrorCodes,
  InMemoryTransport,
  silentLogger,
  type OutgoingMessage,
  type TransportMessage,
} from '@sluice/core';
import { migrate, OutboxRelay, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestSchema } from './support/database.js';

const Happened = defineEvent<{ n: number }>(`pgtest.happened-${randomUUID().slice(0, 8)}.v1`);

describe('PostgresUnitOfWork', () => {
  let schema: TestSchema;
  let bus: Bus;
  let work: PostgresUnitOfWork;
  let broker: InMemoryTransport;

  beforeEach(async () => {
    schema = await TestSchema.create('unit_of_work');
    await migrate({ pool: schema.pool, schema: schema.name });
    broker = new InMemoryTransport();
    await broker.connect();
    bus = new Bus(new PostgresOutbox({ pool: schema.pool, schema: schema.name, transport: broker }));
    work = new PostgresUnitOfWork(schema.pool);
  });

  afterEach(async () => {
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

  it('refuses to enlist a client that is in no transaction, writing nothing', async () => {
    const client = await schema.pool.connect();
    try {
      await expect(
        work.enlist(client, () => bus.publish(Happened, { n: 1 }, { messageId: 'no-begin' })),
      ).rejects.toMatchObject({ code: ErrorCodes.CLOSED, message: expect.stringContaining('BEGIN') });
    } finally {
      client.release();
    }
    expect(await rows('no-begin')).toBe(0);
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

  it('keeps the envelope byte for byte through the outbox and the relay', async () => {
    const body = new Uint8Array(1_024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) % 256;
    const sent: OutgoingMessage = {
      messageId: `envelope-${randomUUID()}`,
      type: Happened.type,
      contentType: 'application/octet-stream',
      correlationId: 'flow-1',
      causationId: 'cause-1',
      sentAt: new Date('2026-01-02T03:04:05.678Z'),
      headers: {
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        note: 'ünïcödé ☃ "quoted"',
      },
      body,
      destination: { queue: 'pgtest.envelope' },
      mandatory: true,
      ttlMs: 86_400_000,
    };
    const outbox = new PostgresOutbox({ pool: schema.pool, schema: schema.name, transport: broker });
    await work.run(() => outbox.publish([sent]));
    const received: TransportMessage[] = [];
    await broker.subscribe(
      { queue: 'pgtest.envelope', topics: [], prefetch: 1, retryDelaysMs: [] },
      async (d) => {
        received.push(d.message);
        await d.ack();
      },
    );
    const relay = new OutboxRelay({
      pool: schema.pool,
      schema: schema.name,
      transport: new InMemoryTransport({ broker: broker.broker }),
      logger: silentLogger,
    });
    await relay.start();
    try {
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1);
    } finally {
      await relay.stop();
    }
    const [got] = received;
    expect(got).toMatchObject({
      messageId: sent.messageId,
      type: sent.type,
      contentType: sent.contentType,
      correlationId: 'flow-1',
      causationId: 'cause-1',
      sentAt: sent.sentAt,
      headers: sent.headers,
    });
    expect(Buffer.from(got?.body ?? []).equals(Buffer.from(body))).toBe(true);
  });
});
