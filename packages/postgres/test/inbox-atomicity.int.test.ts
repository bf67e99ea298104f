/**
 * The inbox's "both or neither" when the handler's transaction goes wrong from the inside, on the real
 * PostgreSQL: a statement that failed and whose error the handler caught, a handler that commits or
 * rolls back the unit of work itself, a nested `run`, a connection lost while the transaction waits,
 * and a commit that fails after the handler returned. Each call either commits the charge, its
 * receipt and the "handled" record together, or none of them and fails (and is tried again).
 */
import { randomUUID } from 'node:crypto';
import {
  Consumer,
  defineCommand,
  ErrorCodes,
  InMemoryTransport,
  silentLogger,
  type FailedEvent,
  type MessageContext,
} from '@sluice/core';
import { migrate, PostgresInbox, PostgresOutbox, PostgresUnitOfWork } from '@sluice/postgres';
import { ChangeSignal, TestHarness } from '@sluice/testing';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestSchema } from './support/database.js';

type Scenario =
  | 'caught-failure'
  | 'commits-itself'
  | 'rolls-back-itself'
  | 'nested-run'
  | 'connection-lost'
  | 'commit-fails';

const id = randomUUID().slice(0, 8);
const Charge = defineCommand<{ orderId: string; scenario: Scenario }>(`pgtest.atomic-charge-${id}.v1`);
const Receipt = defineCommand<{ orderId: string }>(`pgtest.atomic-receipt-${id}.v1`);

describe('the inbox when the transaction goes wrong inside the handler', () => {
  let schema: TestSchema;
  let harness: TestHarness;
  let inbox: PostgresInbox;
  const calls = new Map<string, number>();
  /** What the handler saw, by message id: the code of an error it caught. */
  const seen = new Map<string, string>();
  const failures: FailedEvent[] = [];
  /** Set by the connection-lost call: its backend pid, announced on `gone`. */
  const lost = { pid: undefined as number | undefined, gone: new ChangeSignal() };

  const t = (table: string) => `"${schema.name}".${table}`;

  beforeEach(async () => {
    calls.clear();
    seen.clear();
    failures.length = 0;
    schema = await TestSchema.create('inbox_atomic');
    await migrate({ pool: schema.pool, schema: schema.name });
    await schema.pool.query(`CREATE TABLE ${t('charges')} (order_id text PRIMARY KEY, call integer)`);
    await schema.pool.query(`CREATE TABLE ${t('audit')} (order_id text, note text)`);
    // Checked only at COMMIT: a second 'taken' row fails the commit after the handler returned.
    await schema.pool.query(`CREATE TABLE ${t('slots')} (slot text UNIQUE DEFERRABLE INITIALLY DEFERRED)`);
    await schema.pool.query(`INSERT INTO ${t('slots')} VALUES ('taken')`);

    @Consumer({
      queue: 'pgtest.atomic-charges',
      message: Charge,
      inject: [PostgresUnitOfWork],
      retry: { attempts: 1, immediate: 3, backoff: { initialMs: 10, jitter: 0 } },
    })
    class ChargeCard {
      constructor(private readonly work: PostgresUnitOfWork) {}

      async handle({ orderId, scenario }: { orderId: string; scenario: Scenario }, ctx: MessageContext) {
        const call = (calls.get(ctx.messageId) ?? 0) + 1;
        calls.set(ctx.messageId, call);
        const first = call === 1;
        await this.work.query(`INSERT INTO ${t('charges')} VALUES ($1, $2)`, [orderId, call]);
        await harness.bus.send(Receipt, { orderId }, { messageId: `receipt-${orderId}` });
        const late = async () => {
          try {
            await this.work.query(`INSERT INTO ${t('audit')} VALUES ($1, 'late')`, [orderId]);
          } catch (error) {
            seen.set(ctx.messageId, (error as { code?: string }).code ?? 'no code');
          }
        };
        if (!first) return;
        switch (scenario) {
          case 'caught-failure':
            // A statement fails and the handler decides that is fine: PostgreSQL has aborted the
            // transaction all the same.
            await this.work.query('SELECT 1 / 0').catch(() => undefined);
            return;
          case 'commits-itself':
            await this.work.query('COMMIT');
            return late();
          case 'rolls-back-itself':
            await this.work.query('ROLLBACK');
            return late();
          case 'nested-run':
            // A service that opens "its own" transaction joins the handler's.
            await this.work.run((client) =>
              client.query(`INSERT INTO ${t('audit')} VALUES ($1, 'nested')`, [orderId]),
            );
            // A nested run that fails rolls back its own work only.
            await this.work
              .run(async (client) => {
                await client.query(`INSERT INTO ${t('audit')} VALUES ($1, 'refused')`, [orderId]);
                throw new Error('refused by a business rule');
              })
              .catch(() => undefined);
            throw new Error('the gateway timed out after the audit was written');
          case 'connection-lost': {
            const { rows } = await this.work.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            const client = this.work.client;
            // Resolved by the end of the connection, which the test terminates while this call waits
            // on something else (a payment gateway, say) and no query of its runs.
            const ended = new Promise<void>((resolve) => client.once('end', resolve));
            lost.pid = rows[0]?.pid;
            lost.gone.notify();
            await ended;
            return;
          }
          case 'commit-fails':
            await this.work.query(`INSERT INTO ${t('slots')} VALUES ('taken')`);
            return;
        }
      }
    }
    @Consumer({ queue: 'pgtest.atomic-receipts', message: Receipt })
    class Receipts {
      handle() {}
    }

    inbox = new PostgresInbox({
      pool: schema.pool,
      schema: schema.name,
      consumers: [ChargeCard],
      cleanupIntervalMs: 0,
    });
    const container = new Container();
    container.bind(PostgresUnitOfWork).toConstantValue(inbox.unitOfWork);
    harness = await TestHarness.start({
      serviceName: 'pgtest',
      transport: new PostgresOutbox({
        pool: schema.pool,
        schema: schema.name,
        transport: new InMemoryTransport(),
      }),
      container,
      consumers: [ChargeCard, Receipts],
      middleware: [inbox.middleware],
      logger: silentLogger,
    });
    harness.host.on('failed', (event) => failures.push(event));
  });

  afterEach(async () => {
    await harness?.stop();
    await inbox?.close();
    await schema?.drop();
  });

  const rows = async (sql: string) => (await schema.pool.query(sql)).rows;

  /** Sends the scenario's charge and resolves with the outcome of its delivery. */
  async function charge(scenario: Scenario): Promise<{ orderId: string; messageId: string }> {
    const orderId = `order-${scenario}`;
    const messageId = `charge-${scenario}`;
    await harness.bus.send(Charge, { orderId, scenario }, { messageId });
    await harness.waitFor({ messageId, consumer: 'ChargeCard' }, 20_000);
    return { orderId, messageId };
  }

  it('fails a call whose statement failed and was caught, keeping nothing of it; the retry commits once', async () => {
    const { orderId, messageId } = await charge('caught-failure');
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'handled', attempt: 1 }]);
    expect(failures.map((f) => f.error)).toEqual([
      expect.objectContaining({ code: ErrorCodes.TRANSACTION_ABORTED }),
    ]);
    expect(calls.get(messageId)).toBe(2);
    expect(await rows(`SELECT order_id, call FROM ${t('charges')}`)).toEqual([
      { order_id: orderId, call: 2 },
    ]);
    // The receipt sent by the failed call was not kept; the retry's was, and went out once.
    expect(await rows(`SELECT message_id FROM ${t('sluice_outbox')}`)).toEqual([
      { message_id: `receipt-${orderId}` },
    ]);
    expect(await rows(`SELECT message_id FROM ${t('sluice_inbox')}`)).toEqual([{ message_id: messageId }]);
  });

  it('refuses work after a handler committed the unit of work itself, and fails the call; the retry is a duplicate', async () => {
    const { orderId, messageId } = await charge('commits-itself');
    expect(seen.get(messageId)).toBe(ErrorCodes.CLOSED);
    expect(failures.map((f) => f.error)).toEqual([
      expect.objectContaining({ code: ErrorCodes.TRANSACTION_ABORTED }),
    ]);
    // What it committed (charge, receipt, record) stays; the retry found the record.
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'duplicate' }]);
    expect(calls.get(messageId)).toBe(1);
    expect(await rows(`SELECT order_id FROM ${t('charges')}`)).toEqual([{ order_id: orderId }]);
    expect(await rows(`SELECT * FROM ${t('audit')}`)).toEqual([]);
  });

  it('refuses work after a handler rolled the unit of work back itself, and fails the call; the retry handles it', async () => {
    const { orderId, messageId } = await charge('rolls-back-itself');
    expect(seen.get(messageId)).toBe(ErrorCodes.CLOSED);
    expect(failures.map((f) => f.error)).toEqual([
      expect.objectContaining({ code: ErrorCodes.TRANSACTION_ABORTED }),
    ]);
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'handled' }]);
    expect(await rows(`SELECT order_id, call FROM ${t('charges')}`)).toEqual([
      { order_id: orderId, call: 2 },
    ]);
    // Nothing ran outside the transaction: the late write was refused, not committed on its own.
    expect(await rows(`SELECT * FROM ${t('audit')}`)).toEqual([]);
  });

  it("joins a nested run to the handler's transaction: it rolls back with the call, and a failing one alone", async () => {
    const { orderId, messageId } = await charge('nested-run');
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'handled' }]);
    expect(calls.get(messageId)).toBe(2);
    // The failed call's nested write rolled back with it; the retry wrote none.
    expect(await rows(`SELECT order_id, call FROM ${t('charges')}`)).toEqual([
      { order_id: orderId, call: 2 },
    ]);
    expect(await rows(`SELECT note FROM ${t('audit')}`)).toEqual([]);
  });

  it('survives the connection of an open inbox transaction being terminated while the handler waits; the retry commits once', async () => {
    const orderId = 'order-connection-lost';
    const messageId = 'charge-connection-lost';
    await harness.bus.send(Charge, { orderId, scenario: 'connection-lost' }, { messageId });
    const pid = await lost.gone.until(() => lost.pid, 20_000, 'the handler to report its backend');
    await schema.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await harness.waitFor({ messageId, consumer: 'ChargeCard' }, 20_000);
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'handled' }]);
    expect(failures).toHaveLength(1);
    expect(await rows(`SELECT order_id, call FROM ${t('charges')}`)).toEqual([
      { order_id: orderId, call: 2 },
    ]);
    expect(await rows(`SELECT message_id FROM ${t('sluice_inbox')}`)).toEqual([{ message_id: messageId }]);
    // The pool works on: the lost client was dropped, not handed out again.
    expect(await rows('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('keeps nothing of a call whose commit fails after the handler returned; the retry commits once', async () => {
    const { orderId, messageId } = await charge('commit-fails');
    expect(failures.map((f) => (f.error as { code?: string }).code)).toEqual(['23505']);
    expect(harness.outcomes({ messageId })).toMatchObject([{ outcome: 'handled' }]);
    expect(await rows(`SELECT order_id, call FROM ${t('charges')}`)).toEqual([
      { order_id: orderId, call: 2 },
    ]);
    expect(await rows(`SELECT slot FROM ${t('slots')}`)).toEqual([{ slot: 'taken' }]);
    expect(await rows(`SELECT message_id FROM ${t('sluice_outbox')}`)).toEqual([
      { message_id: `receipt-${orderId}` },
    ]);
  });
});
