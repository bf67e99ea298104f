/**
 * The orders application, wired: container, consumer host, background queue and HTTP API. `main.ts`
 * runs it; tests run it in process on a transport of their choice.
 */
import {
  BackgroundTaskQueue,
  ConsumerHost,
  type ConsumerHostOptions,
  type Logger,
  type Middleware,
  type Transport,
} from '@sluice/core';
import { Container } from 'inversify';
import type { Server } from 'node:http';
import { ChargeCardConsumer } from './handlers/charge-card-consumer.js';
import { NotifyVipDesk } from './handlers/notify-vip-desk.js';
import { PrepareShipment } from './handlers/prepare-shipment.js';
import { RequestPayment } from './handlers/request-payment.js';
import { ReserveInventory } from './handlers/reserve-inventory.js';
import { SendConfirmationEmail } from './handlers/send-confirmation-email.js';
import { createApi } from './http-api.js';
import { PendingWorkReporter, ReporterTokens } from './pending-work-reporter.js';
import type { OrdersDatabase } from './orders-database.js';
import { FlakyPaymentGateway, InMemoryChargeLedger, Inventory, Mailer, ServiceTokens } from './services.js';

export interface OrdersAppOptions {
  readonly transport: Transport;
  readonly logger: Logger;
  /** Health and metrics port; `false` for none. */
  readonly metricsPort: number | false;
  /** Awaited when the host has stopped (flush telemetry). */
  readonly shutdownHooks?: readonly (() => Promise<void> | void)[];
  /** Stop on SIGTERM / SIGINT and exit. Default true. */
  readonly handleSignals?: boolean;
  /** The payment gateway times out on every n-th call; 0: never. Default 3. */
  readonly gatewayFailEvery?: number;
  /**
   * Consume the service's queues. Default true; false: the API tier alone (the HTTP API publishing
   * orders, the uploads queue, the pending-work reporter), with the consumers scaled apart.
   */
  readonly consume?: boolean;
  /** Host middleware around every handler call (the demo's `HANDLED_RECORD`). Default none. */
  readonly middleware?: readonly Middleware[];
  /**
   * The DATABASE_URL mode: orders stored with their event through the outbox (`transport` should be
   * the database's outbox), charges recorded through the inbox, a shared idempotency store. Default:
   * none, everything in memory.
   */
  readonly database?: OrdersDatabase;
}

export interface OrdersApp {
  readonly host: ConsumerHost;
  readonly api: Server;
  readonly uploads: BackgroundTaskQueue;
}

/**
 * The consumer host's options of the orders service (container, consumers, worker, background queue),
 * as `createOrdersApp` runs them and as `sluice-app.ts` hands them to the `sluice` CLI.
 */
export function ordersHostOptions(options: OrdersAppOptions): {
  options: ConsumerHostOptions;
  uploads: BackgroundTaskQueue;
} {
  const { transport, logger } = options;
  const uploads = new BackgroundTaskQueue({
    name: 'uploads',
    capacity: 20,
    concurrency: 2,
    whenFull: 'reject',
    logger,
  });

  const container = new Container();
  container.bind(ServiceTokens.Logger).toConstantValue(logger);
  container
    .bind(ServiceTokens.PaymentGateway)
    .toConstantValue(new FlakyPaymentGateway(options.gatewayFailEvery));
  container.bind(ServiceTokens.Inventory).toConstantValue(new Inventory());
  container.bind(ServiceTokens.Mailer).toConstantValue(new Mailer());
  container
    .bind(ServiceTokens.ChargeLedger)
    .toConstantValue(options.database?.ledger ?? new InMemoryChargeLedger());
  container.bind(ReporterTokens.Transport).toConstantValue(transport);
  container.bind(ReporterTokens.Uploads).toConstantValue(uploads);

  const hostOptions: ConsumerHostOptions = {
    serviceName: 'orders',
    transport,
    container,
    logger,
    consumers:
      options.consume === false
        ? []
        : [
            SendConfirmationEmail,
            ReserveInventory,
            PrepareShipment,
            NotifyVipDesk,
            RequestPayment,
            ChargeCardConsumer,
          ],
    workers: [PendingWorkReporter],
    backgroundQueues: [uploads],
    http: options.metricsPort === false ? false : { port: options.metricsPort },
    handleSignals: options.handleSignals ?? true,
    middleware: [
      ...(options.middleware ?? []),
      ...(options.database ? [options.database.inbox.middleware] : []),
    ],
    ...(options.database ? { idempotencyStore: options.database.idempotencyStore } : {}),
    shutdownHooks: options.shutdownHooks ?? [],
    // KEDA may run up to 10 replicas of this service (scaling hints of every consumer start here).
    defaults: { scaling: { max: 10 } },
  };
  return { options: hostOptions, uploads };
}

export function createOrdersApp(options: OrdersAppOptions): OrdersApp {
  const { options: hostOptions, uploads } = ordersHostOptions(options);
  const host = new ConsumerHost(hostOptions);
  const { logger } = options;
  const api = createApi({
    bus: host.bus,
    uploads,
    logger,
    isReady: () => host.isReady(),
    orders: options.database?.orders,
  });
  host.on('stopping', () => api.close());
  return { host, api, uploads };
}
