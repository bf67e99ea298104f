/** A min-heap of items by sequence number: the next message to hand out is the oldest one. */
export class ReadyHeap<T extends { readonly sequenceNumber: number }> {
  private readonly items: T[] = [];

  /** How many items it holds. */
  get size(): number {
    return this.items.length;
  }

  /** Adds `item`. */
  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.sequenceNumber <= item.sequenceNumber) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the item with the lowest sequence number. */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && items[right]!.sequenceNumber < items[left]!.sequenceNumber ? right : left;
      if (items[child]!.sequenceNumber >= last.sequenceNumber) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
