/** The messages of the orders flow, each with an explicit versioned name and a schema. */
import { defineCommand, defineEvent, type PayloadOf } from '@sluice/core';
import { z } from 'zod';

export const orderSchema = z.object({
  orderId: z.string().min(1),
  customerEmail: z.email(),
  items: z
    .array(
      z.object({ sku: z.string().min(1), quantity: z.int().positive(), unitPrice: z.number().nonnegative() }),
    )
    .min(1),
  totalAmount: z.number().nonnegative(),
  cardToken: z.string().min(1),
});

export type Order = z.infer<typeof orderSchema>;

/** Published when an order was accepted; `totalAmount` is promoted to a property so subscriptions can filter on it. */
export const OrderPlaced = defineEvent('orders.order-placed.v1', {
  schema: orderSchema,
  properties: (order) => ({ totalAmount: order.totalAmount }),
});

/**
 * Sent to the payments queue: charge the order's card once. The definition names the queue, so a
 * sender declares it and a charge waits there even when the payments consumer has not started yet.
 */
export const ChargeCard = defineCommand('payments.charge-card.v1', {
  queue: 'payments',
  schema: z.object({
    orderId: z.string().min(1),
    amount: z.number().positive(),
    cardToken: z.string().min(1),
  }),
});

export type ChargeCardCommand = PayloadOf<typeof ChargeCard>;
