/**
 * Counts, from the consumer side, which orders every handler finished: reads the demo replicas'
 * handled records (`<consumer> <orderId>` lines, see examples/orders `HANDLED_RECORD`) as they grow.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

/** The demo's handlers of one order: every subscriber of OrderPlaced, the VIP desk above 1000, and the payment. */
export function expectedHandlers(totalAmount: number): readonly string[] {
  const handlers = [
    'SendConfirmationEmail',
    'ReserveInventory',
    'PrepareShipment',
    'RequestPayment',
    'ChargeCardConsumer',
  ];
  return totalAmount > 1000 ? [...handlers, 'NotifyVipDesk'] : handlers;
}

export class HandledTally {
  /** Per order id, the consumers that finished it. */
  private readonly handled = new Map<string, Set<string>>();
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private readonly buffer = Buffer.alloc(1 << 20);

  constructor(private readonly files: readonly string[]) {}

  /** Reads what the records gained since the last call. */
  poll(): void {
    for (const file of this.files) {
      if (!existsSync(file)) continue;
      const fd = openSync(file, 'r');
      try {
        let offset = this.offsets.get(file) ?? 0;
        let text = this.partial.get(file) ?? '';
        for (;;) {
          const read = readSync(fd, this.buffer, 0, this.buffer.length, offset);
          if (read === 0) break;
          offset += read;
          text += this.buffer.toString('utf8', 0, read);
        }
        const lines = text.split('\n');
        this.partial.set(file, lines.pop() ?? '');
        this.offsets.set(file, offset);
        for (const line of lines) {
          const [consumer, orderId] = line.split(' ');
          if (consumer === undefined || orderId === undefined) continue;
          let consumers = this.handled.get(orderId);
          if (consumers === undefined) this.handled.set(orderId, (consumers = new Set()));
          consumers.add(consumer);
        }
      } finally {
        closeSync(fd);
      }
    }
  }

  /** How many of `orders` (order id to total amount) every expected handler finished. */
  completed(orders: ReadonlyMap<string, number>): number {
    let complete = 0;
    for (const [orderId, totalAmount] of orders) {
      const consumers = this.handled.get(orderId);
      if (consumers !== undefined && expectedHandlers(totalAmount).every((c) => consumers.has(c))) complete++;
    }
    return complete;
  }

  /** Up to `limit` of `orders` not fully handled, with the handlers each is missing. */
  missing(orders: ReadonlyMap<string, number>, limit = 10): { orderId: string; missing: string[] }[] {
    const found: { orderId: string; missing: string[] }[] = [];
    for (const [orderId, totalAmount] of orders) {
      const consumers = this.handled.get(orderId) ?? new Set<string>();
      const missing = expectedHandlers(totalAmount).filter((c) => !consumers.has(c));
      if (missing.length > 0) found.push({ orderId, missing });
      if (found.length >= limit) break;
    }
    return found;
  }
}
