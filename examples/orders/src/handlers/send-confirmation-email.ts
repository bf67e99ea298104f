import { EventHandler, type MessageContext } from '@sluice/core';
import { inject } from 'inversify';
import { OrderPlaced, type Order } from '../messages.js';
import { type Mailer, ServiceTokens } from '../services.js';

@EventHandler(OrderPlaced, { subscription: 'email' })
export class SendConfirmationEmail {
  constructor(@inject(ServiceTokens.Mailer) private readonly mailer: Mailer) {}

  handle(order: Order, ctx: MessageContext): void {
    this.mailer.send(order.customerEmail, `Order ${order.orderId} confirmed`);
    ctx.logger.info({ orderId: order.orderId }, 'confirmation email handled');
  }
}
