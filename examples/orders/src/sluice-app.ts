/**
 * What the `sluice` CLI imports from the orders service: the named export `hostOptions(transport)`,
 * the consumer host's options main.ts runs (`sluice manifests --module examples/orders/dist/sluice-app.js`).
 */
import type { ConsumerHostOptions, Transport } from '@sluice/core';
import { createLogger } from './logging.js';
import { ordersHostOptions } from './orders-app.js';

export function hostOptions(transport: Transport): ConsumerHostOptions {
  const logger = createLogger(process.env);
  return ordersHostOptions({ transport, logger, metricsPort: Number(process.env.METRICS_PORT ?? 9464) })
    .options;
}
