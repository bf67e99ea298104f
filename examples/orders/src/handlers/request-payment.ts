import { Bus, EventHandler } from '@sluice/core';
import { inject } from 'inversify';
import { ChargeCard, OrderPlaced, type Order } from '../messages.js';

/** Turns the event into a command; the bus carries the order's correlation id along. */
@EventHandler(OrderPlaced, { subscription: 'payments' })
export class RequestPayment {
  constructor(@inject(Bus) private readonly bus: Bus) {}

  async handle(order: Order): Promise<void> {
    await this.bus.send(ChargeCard, {
      orderId: order.orderId,
      amount: order.totalAmount,
      cardToken: order.cardToken,
    });
  }
}
