/**
 * What the `sluice` CLI imports from the orders service: the named export `hostOptions(transport)`,
 * the consumer host's options main.ts runs (`sluice manifests --module examples/orders/dist/sluice-app.js`).
 */
import type { ConsumerHostOptions, Transport } from '@sluice/core';
import { createLogger } from './logging.js';
import { ChargeCard, type ChargeCardCommand } from './messages.js';
import { ordersHostOptions } from './orders-app.js';

export function hostOptions(transport: Transport): ConsumerHostOptions {
  const logger = createLogger(process.env);
  return ordersHostOptions({
    transport,
    logger,
    metricsPort: Number(process.env.METRICS_PORT ?? 9464),
    gatewayFailEvery: Number(process.env.PAYMENT_GATEWAY_FAIL_EVERY ?? 3),
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
