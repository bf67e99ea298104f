import { describe, expect, it } from 'vitest';
import { InMemoryIdempotencyStore } from '@sluice/core';

describe('in-memory idempotency store', () => {
  it('claims once, reports in-progress and completed, and releases', async () => {
    const store = new InMemoryIdempotencyStore();
    expect(await store.claim('a', 1_000)).toBe('claimed');
    expect(await store.claim('a', 1_000)).toBe('in-progress');
    await store.release('a');
    expect(await store.claim('a', 1_000)).toBe('claimed');
    await store.complete('a', 1_000);
    expect(await store.claim('a', 1_000)).toBe('completed');
  });

  it('expires entries and evicts the oldest beyond its bound', async () => {
    let now = 0;
    const store = new InMemoryIdempotencyStore(2, () => now);
    await store.complete('a', 100);
    now = 150;
    expect(await store.claim('a', 100)).toBe('claimed');
    await store.complete('b', 1_000);
    await store.complete('c', 1_000);
    expect(store.size).toBe(2);
    expect(await store.claim('a', 1_000)).toBe('claimed');
    expect(await store.claim('c', 1_000)).toBe('completed');
  });
});
