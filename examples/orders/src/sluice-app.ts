/**
 * What the `sluice` CLI imports from the orders service: the named export `hostOptions(transport)`,
 * the consumer host's options main.ts runs (`sluice manifests --module examples/orders/dist/sluice-app.js`).
 * As in main.ts, HANDLED_RECORD (a file, or a directory for a file per process) records every
 * finished handler call, and PAYMENT_GATEWAY_FAIL_EVERY sets the gateway's failures (default 3).
 */
import type { ConsumerHostOptions, Transport } from '@sluice/core';
import { openHandledRecord } from './handled-record.js';
import { createLogger } from './logging.js';
import { ChargeCard, type ChargeCardCommand } from './messages.js';
import { ordersHostOptions } from './orders-app.js';

export function hostOptions(transport: Transport): ConsumerHostOptions {
  const env = process.env;
  const logger = createLogger(env);
  const handledRecord = env.HANDLED_RECORD ? openHandledRecord(env.HANDLED_RECORD) : undefined;
  return ordersHostOptions({
    transport,
    logger,
    metricsPort: Number(env.METRICS_PORT ?? 9464),
    gatewayFailEvery: Number(env.PAYMENT_GATEWAY_FAIL_EVERY ?? 3),
    middleware: handledRecord === undefined ? [] : [handledRecord.middleware],
    shutdownHooks: handledRecord === undefined ? [] : [() => handledRecord.close()],
  }).options;
}

/** The traffic `sluice simulate` sends: ChargeCard commands for the payments queue. */
export const spike = {
  message: ChargeCard,
  payload: (index: number): ChargeCardCommand => ({
    orderId: `sim-order-${index}`,
    amount: 10 + (index % 90),
    cardToken: 'tok_visa',
  }),
};
