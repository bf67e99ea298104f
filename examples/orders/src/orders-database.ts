/**
 * The demo's DATABASE_URL mode: orders and charges in PostgreSQL, with exactly-once effects across
 * replicas. `POST /orders` stores the order and writes `OrderPlaced` to the outbox in one transaction
 * (an outbox relay publishes it after the commit); `ChargeCardConsumer` records the charge through the
 * inbox (the charge row and the message's "handled" record commit together); `idempotency: true`
 * consumers share a PostgreSQL idempotency store. Every table lives in one schema (DATABASE_SCHEMA,
 * default `orders`), created at start by Sluice's migration and the demo's own.
 */
import type { Logger, Transport } from '@sluice/core';
import {
  AggregateHeader,
  migrate,
  OutboxRelay,
  PostgresIdempotencyStore,
  PostgresInbox,
  PostgresOutbox,
  PostgresUnitOfWork,
} from '@sluice/postgres';
import pg from 'pg';
import { ChargeCardConsumer } from './handlers/charge-card-consumer.js';
import type { Order } from './messages.js';
import type { ChargeLedger } from './services.js';

/** Stores an order and publishes its event in one transaction. */
export interface OrderStore {
  /**
   * Resolves once the order row and the event written by `publish` have committed together. An order
   * stored before (same id: a seed order at a restart, a client's retry) is neither stored nor
   * published again.
   */
  place(order: Order, publish: (headers: Record<string, string>) => Promise<void>): Promise<void>;
}

export interface OrdersDatabase {
  readonly orders: OrderStore;
  readonly ledger: ChargeLedger;
  readonly inbox: PostgresInbox;
  readonly idempotencyStore: PostgresIdempotencyStore;
  /** The host's transport: sends in a transaction go to the outbox, everything else to `broker`. */
  outbox(broker: Transport): PostgresOutbox;
  /** Starts the relay on a transport (a broker connection) of its own. */
  startRelay(transport: Transport): Promise<void>;
  /** Stops the relay, then closes its transport and the pool. */
  close(): Promise<void>;
}

/** Connects, migrates (idempotently) and wires the database side of the demo. */
export async function openOrdersDatabase(
  url: string,
  schema: string,
  logger: Logger,
): Promise<OrdersDatabase> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', (error) => logger.warn({ err: error }, 'an idle PostgreSQL connection failed'));
  await migrate({ pool, schema });
  const orders = `"${schema}".orders`;
  const charges = `"${schema}".charges`;
  await pool.query(`CREATE TABLE IF NOT EXISTS ${orders} (
    id text PRIMARY KEY, customer_email text NOT NULL, total_amount numeric NOT NULL, body jsonb NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now())`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${charges} (
    order_id text PRIMARY KEY, charge_id text NOT NULL, amount numeric NOT NULL,
    charged_at timestamptz NOT NULL DEFAULT now())`);

  const unitOfWork = new PostgresUnitOfWork(pool);
  const inbox = new PostgresInbox({ pool, schema, consumers: [ChargeCardConsumer], logger });
  const idempotencyStore = new PostgresIdempotencyStore({ pool, schema, logger });
  let relay: OutboxRelay | undefined;
  let relayTransport: Transport | undefined;
  return {
    orders: {
      place: (order, publish) =>
        unitOfWork.run(async (client) => {
          const { rowCount } = await client.query(
            `INSERT INTO ${orders} (id, customer_email, total_amount, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING`,
            [order.orderId, order.customerEmail, order.totalAmount, JSON.stringify(order)],
          );
          // The order's events are published in the order they were written.
          if (rowCount === 1) await publish({ [AggregateHeader]: order.orderId });
        }),
    },
    ledger: {
      // In the inbox transaction of the ChargeCard call: the unique key would refuse a second charge.
      async record(orderId, chargeId, amount) {
        await unitOfWork.query(`INSERT INTO ${charges} (order_id, charge_id, amount) VALUES ($1, $2, $3)`, [
          orderId,
          chargeId,
          amount,
        ]);
      },
    },
    inbox,
    idempotencyStore,
    outbox: (broker) => new PostgresOutbox({ pool, schema, transport: broker }),
    async startRelay(transport) {
      relayTransport = transport;
      relay = new OutboxRelay({ pool, schema, transport, logger });
      await relay.start();
    },
    async close() {
      await relay?.stop();
      await relayTransport?.close();
      await inbox.close();
      await idempotencyStore.close();
      await pool.end();
    },
  };
}
