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

  it('expires entries', async () => {
    let now = 0;
    const store = new InMemoryIdempotencyStore(100, () => now);
    await store.complete('a', 100);
    now = 99;
    expect(await store.claim('a', 100)).toBe('completed');
    now = 150;
    expect(await store.claim('a', 100)).toBe('claimed');
  });

  it('stays within its bound, keeping the most recent keys', async () => {
    const store = new InMemoryIdempotencyStore(1_000);
    for (let i = 0; i < 10_000; i++) await store.complete(`k${i}`, 60_000);
    expect(store.size).toBeLessThanOrEqual(1_000);
    expect(store.size).toBeGreaterThanOrEqual(500);
    expect(await store.claim('k9999', 60_000)).toBe('completed');
    expect(await store.claim('k0', 60_000)).toBe('claimed');
  });
});
