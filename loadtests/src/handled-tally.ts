/**
 * Counts, from the consumer side, which orders every handler finished: reads the demo replicas'
 * handled records (`<consumer> <orderId>` lines, see examples/orders `HANDLED_RECORD`) as they grow.
 * Each replica appends its line with one synchronous write before its message is acknowledged, so
 * once a replica has exited its file holds every message it acknowledged as handled.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

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
  private lineCount = 0;

  /** Reads the records `handled-*.log` in `dir` (the replicas' `HANDLED_RECORD` folder). */
  constructor(private readonly dir: string) {}

  /** Reads what the records gained since the last call (files that appeared since included). */
  poll(): void {
    const files = readdirSync(this.dir).filter((name) => /^handled-.*\.log$/.test(name));
    for (const file of files.map((name) => join(this.dir, name))) {
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
          this.lineCount++;
          let consumers = this.handled.get(orderId);
          if (consumers === undefined) this.handled.set(orderId, (consumers = new Set()));
          consumers.add(consumer);
        }
      } finally {
        closeSync(fd);
      }
    }
  }

  /** How many handler lines were read so far (grows while any handler finishes). */
  get lines(): number {
    return this.lineCount;
  }

  /** The orders of `orders` (order id to total amount) not yet finished by every expected handler, with the handlers missing. */
  pending(orders: ReadonlyMap<string, number>): Map<string, string[]> {
    const found = new Map<string, string[]>();
    for (const [orderId, totalAmount] of orders) {
      const consumers = this.handled.get(orderId) ?? new Set<string>();
      const missing = expectedHandlers(totalAmount).filter((c) => !consumers.has(c));
      if (missing.length > 0) found.set(orderId, missing);
    }
    return found;
  }
}
