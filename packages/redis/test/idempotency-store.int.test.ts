/** The shared conformance suite on the real Redis, each client a store with a connection of its own. */
import { RedisIdempotencyStore } from '@sluice/redis';
import { describeIdempotencyStoreConformance } from '@sluice/testing';
import { afterAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { countKeys, deleteKeys, redisUrl, testPrefix } from './support/redis.js';

const keyPrefix = testPrefix('conformance');

afterAll(async () => {
  await deleteKeys(keyPrefix);
});

describeIdempotencyStoreConformance('redis', {
  createStore: () => new RedisIdempotencyStore({ url: redisUrl, keyPrefix }),
  cleanup: async ({ stores }) => {
    await Promise.all(stores.map((store) => (store as RedisIdempotencyStore).close()));
  },
});

it('leaves a client it was given open, and writes only under its prefix', async () => {
  const prefix = testPrefix('own-client');
  const client = new Redis(redisUrl);
  const store = new RedisIdempotencyStore({ client, keyPrefix: prefix });
  try {
    const claim = await store.claim('k', 60_000);
    if (claim.state !== 'claimed') throw new Error(`expected a claim, got ${claim.state}`);
    await store.complete('k', claim.token, 60_000);
    expect(await client.get(`${prefix}k`)).toBe('completed');
    expect(await client.pttl(`${prefix}k`)).toBeGreaterThan(50_000);
    await store.close();
    expect(await client.ping()).toBe('PONG');
    expect(await countKeys(prefix)).toBe(1);
  } finally {
    await deleteKeys(prefix);
    await client.quit();
  }
});
