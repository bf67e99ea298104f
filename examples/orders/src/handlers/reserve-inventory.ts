import { EventHandler, type MessageContext } from '@sluice/core';
import { inject } from 'inversify';
import { OrderPlaced, type Order } from '../messages.js';
import { type Inventory, ServiceTokens } from '../services.js';

@EventHandler(OrderPlaced, { subscription: 'inventory', prefetch: 20 })
export class ReserveInventory {
  constructor(@inject(ServiceTokens.Inventory) private readonly inventory: Inventory) {}

  handle(order: Order, ctx: MessageContext): void {
    for (const item of order.items) this.inventory.reserve(item.sku, item.quantity);
    ctx.logger.info({ orderId: order.orderId, items: order.items.length }, 'inventory reserved');
  }
}
