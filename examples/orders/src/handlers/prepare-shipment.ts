import { EventHandler, type MessageContext } from '@sluice/core';
import { OrderPlaced, type Order } from '../messages.js';

@EventHandler(OrderPlaced, { subscription: 'shipping' })
export class PrepareShipment {
  handle(order: Order, ctx: MessageContext): void {
    ctx.logger.info({ orderId: order.orderId }, 'shipment prepared');
  }
}
