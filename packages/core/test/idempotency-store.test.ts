import { describe, expect, it } from 'vitest';
import { InMemoryIdempotencyStore } from '@sluice/core';
import { describeIdempotencyStoreConformance } from '@sluice/testing';

// Process-local: every "client" is the one store.
const shared = new InMemoryIdempotencyStore();
describeIdempotencyStoreConformance('in-memory', { createStore: () => shared });

describe('in-memory idempotency store', () => {
  it('expires entries', async () => {
    let now = 0;
    const store = new InMemoryIdempotencyStore(100, () => now);
    const claim = await store.claim('a', 100);
    if (claim.state !== 'claimed') throw new Error('expected a claim');
    await store.complete('a', claim.token, 100);
    now = 99;
    expect(await store.claim('a', 100)).toEqual({ state: 'completed' });
    now = 150;
    expect((await store.claim('a', 100)).state).toBe('claimed');
  });

  it('stays within its bound, keeping the most recent keys', async () => {
    const store = new InMemoryIdempotencyStore(1_000);
    for (let i = 0; i < 10_000; i++) {
      const claim = await store.claim(`k${i}`, 60_000);
      if (claim.state === 'claimed') await store.complete(`k${i}`, claim.token, 60_000);
    }
    expect(store.size).toBeLessThanOrEqual(1_000);
    expect(store.size).toBeGreaterThanOrEqual(500);
    expect(await store.claim('k9999', 60_000)).toEqual({ state: 'completed' });
    expect((await store.claim('k0', 60_000)).state).toBe('claimed');
  });
});
