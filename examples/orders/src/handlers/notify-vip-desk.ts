import { EventHandler, type MessageContext } from '@sluice/core';
import { OrderPlaced, type Order } from '../messages.js';

/** Only orders above 1000: the filter runs on the broker where it can, and in the host always. */
@EventHandler(OrderPlaced, { subscription: 'vip-desk', filter: { property: 'totalAmount', gt: 1000 } })
export class NotifyVipDesk {
  handle(order: Order, ctx: MessageContext): void {
    ctx.logger.info({ orderId: order.orderId, totalAmount: order.totalAmount }, 'VIP desk notified');
  }
}
