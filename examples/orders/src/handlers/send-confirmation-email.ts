import { EventHandler, type MessageContext } from '@sluice/core';
import { inject } from 'inversify';
import { OrderPlaced, type Order } from '../messages.js';
import { type Mailer, ServiceTokens } from '../services.js';

@EventHandler(OrderPlaced, { subscription: 'email' })
export class SendConfirmationEmail {
  constructor(@inject(ServiceTokens.Mailer) private readonly mailer: Mailer) {}

  handle(order: Order, ctx: MessageContext): void {
    const subject = `Order ${order.orderId} confirmed`;
    this.mailer.send(order.customerEmail, subject);
    // ctx.logger lines carry the message id and, when tracing, trace_id and span_id.
    ctx.logger.info({ orderId: order.orderId, to: order.customerEmail, subject }, 'email sent');
  }
}
