/**
 * The orders demo. `npm start` runs it on the in-memory transport; with AMQP_URL set it runs on
 * RabbitMQ, with SERVICEBUS_CONNECTION_STRING set on Azure Service Bus, unchanged. API on PORT (default 3000), health and metrics on METRICS_PORT (default 9464).
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, traces go there (Jaeger: http://<host>:4318). With
 * HANDLED_RECORD set to a file path (or a directory: a file per process in it), every finished
 * handler call appends `<consumer> <orderId>` to it. With ORDERS_CONSUME=0 it serves the API without
 * consuming (the API tier, its consumers scaled apart).
 * With DATABASE_URL set, orders and charges are stored in PostgreSQL (schema DATABASE_SCHEMA, default
 * `orders`) with exactly-once effects: the order and its OrderPlaced event commit in one transaction
 * (the outbox), the charge and its message's "handled" record in another (the inbox).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasErrorCode, ErrorCodes } from '@sluice/core';
import { startTelemetry } from '@sluice/otel';
import { openHandledRecord } from './handled-record.js';
import { createLogger } from './logging.js';
import { OrderPlaced, type Order } from './messages.js';
import { createOrdersApp } from './orders-app.js';
import { openOrdersDatabase } from './orders-database.js';
import { createRelayTransport, createTransport } from './transport.js';

const env = process.env;
const logger = createLogger(env);

/** Listens on `port`; a port in use rejects with a message naming the variable that set it. */
function listen(server: Server, port: number, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'EADDRINUSE'
            ? `port ${port} (${variable}) is already in use; set ${variable} to a free port`
            : `cannot listen on port ${port} (${variable}): ${error.message}`,
        ),
      ),
    );
    server.listen(port, () => resolve());
  });
}

/** Errors a user can act on are shown as one line; anything else with its stack. */
function startFailure(error: unknown): Record<string, unknown> {
  const expected =
    error instanceof Error &&
    (hasErrorCode(error, ErrorCodes.INVALID_OPTION) ||
      hasErrorCode(error, ErrorCodes.CONNECTION_REFUSED) ||
      hasErrorCode(error, ErrorCodes.CONNECTION_LOST) ||
      error.message.includes('(PORT)'));
  return expected ? { reason: error.message } : { err: error };
}

const telemetry = env.OTEL_EXPORTER_OTLP_ENDPOINT
  ? await startTelemetry({
      serviceName: env.OTEL_SERVICE_NAME ?? 'orders',
      // The host's /metrics already serves the messaging metrics; a second Prometheus port only on request.
      prometheus: env.OTEL_EXPORTER_PROMETHEUS_PORT ? {} : false,
      logger,
    })
  : undefined;

let broker: Awaited<ReturnType<typeof createTransport>>;
try {
  broker = await createTransport(env, logger);
} catch (error) {
  logger.error(startFailure(error), 'orders demo could not start');
  await telemetry?.shutdown();
  process.exit(1);
}
let database: Awaited<ReturnType<typeof openOrdersDatabase>> | undefined;
try {
  database = env.DATABASE_URL
    ? await openOrdersDatabase(env.DATABASE_URL, env.DATABASE_SCHEMA ?? 'orders', logger)
    : undefined;
} catch (error) {
  logger.error(startFailure(error), 'orders demo could not start: the database (DATABASE_URL) failed');
  process.exit(1);
}
const transport = database?.outbox(broker) ?? broker;
const handledRecord = env.HANDLED_RECORD ? openHandledRecord(env.HANDLED_RECORD) : undefined;
const { host, api } = createOrdersApp({
  transport,
  logger,
  metricsPort: Number(env.METRICS_PORT ?? 9464),
  consume: env.ORDERS_CONSUME !== '0',
  middleware: handledRecord === undefined ? [] : [handledRecord.middleware],
  database,
  // Spans still buffered are exported, the handled record closed and the outbox relay stopped before
  // the process exits.
  shutdownHooks: [
    async () => telemetry?.shutdown(),
    () => handledRecord?.close(),
    async () => database?.close(),
  ],
});

try {
  // The API port first: a port in use stops the demo before it consumes anything.
  await listen(api, Number(env.PORT ?? 3000), 'PORT');
  await host.start();
  await database?.startRelay(await createRelayTransport(env, logger, broker));
} catch (error) {
  logger.error(startFailure(error), 'orders demo could not start');
  api.close();
  await host.stop();
  await telemetry?.shutdown();
  process.exit(1);
}
logger.info(
  {
    api: `http://localhost:${(api.address() as AddressInfo).port}`,
    metrics: `http://localhost:${host.httpPort}/metrics`,
    transport: transport.name,
    database: database === undefined ? 'none' : 'postgres (outbox and inbox)',
  },
  'orders demo ready',
);

/** A few orders so a first run shows every path: fan-out, the VIP filter, a gateway timeout that is
 * retried, and a card whose gateway is always down (retried, then dead-lettered). */
const seedOrders: Omit<Order, 'orderId'>[] = [
  {
    customerEmail: 'ada@example.com',
    items: [{ sku: 'book', quantity: 2, unitPrice: 25 }],
    totalAmount: 50,
    cardToken: 'tok_visa',
  },
  {
    customerEmail: 'grace@example.com',
    items: [{ sku: 'laptop', quantity: 1, unitPrice: 2400 }],
    totalAmount: 2400,
    cardToken: 'tok_amex',
  },
  {
    customerEmail: 'alan@example.com',
    items: [{ sku: 'pen', quantity: 10, unitPrice: 2 }],
    totalAmount: 20,
    cardToken: 'tok_mc',
  },
  {
    customerEmail: 'edsger@example.com',
    items: [{ sku: 'desk', quantity: 1, unitPrice: 300 }],
    totalAmount: 300,
    cardToken: 'tok_gateway_down',
  },
];
if (env.SEED_ORDERS !== '0') {
  for (const [i, order] of seedOrders.entries()) {
    const seeded = { orderId: `seed-${i + 1}`, ...order };
    const publish = (headers: Record<string, string> = {}) =>
      host.bus.publish(OrderPlaced, seeded, { messageId: seeded.orderId, headers });
    await (database === undefined ? publish() : database.orders.place(seeded, publish));
  }
}
