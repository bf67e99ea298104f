/** The shared conformance suite on the real PostgreSQL, each client a store with a pool of its own; a schema per test. */
import { describeIdempotencyStoreConformance } from '@sluice/testing';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, PostgresIdempotencyStore } from '@sluice/postgres';
import { TestSchema } from './support/database.js';

let schema: TestSchema;

beforeEach(async () => {
  schema = await TestSchema.create('conformance');
  await migrate({ pool: schema.pool, schema: schema.name });
});

afterEach(async () => {
  await schema?.drop();
});

describeIdempotencyStoreConformance('postgres', {
  createStore: () =>
    new PostgresIdempotencyStore({ url: schema.url, schema: schema.name, cleanupIntervalMs: 0 }),
  cleanup: async ({ stores }) => {
    await Promise.all(stores.map((store) => (store as PostgresIdempotencyStore).close()));
  },
});

describe('PostgresIdempotencyStore cleanup', () => {
  it('deletes expired claims and records and keeps live ones, so the table stays bounded', async () => {
    const store = new PostgresIdempotencyStore({
      pool: schema.pool,
      schema: schema.name,
      cleanupIntervalMs: 0,
    });
    const prefix = `cleanup:${randomUUID()}`;
    const live = [];
    for (let i = 0; i < 30; i++) {
      const claim = await store.claim(`${prefix}:${i}`, i % 3 === 0 ? 60_000 : 50);
      if (claim.state !== 'claimed') throw new Error(`expected a claim, got ${claim.state}`);
      if (i % 3 === 1) await store.complete(`${prefix}:${i}`, claim.token, 50);
      if (i % 3 === 0) live.push(`${prefix}:${i}`);
    }
    const rows = async () =>
      Number(
        (await schema.pool.query(`SELECT count(*) AS n FROM "${schema.name}".sluice_idempotency`)).rows[0].n,
      );
    expect(await rows()).toBeGreaterThanOrEqual(30);
    // Expiry is on the database's clock: wait until it says the short leases and TTLs are over.
    await schema.pool.query('SELECT pg_sleep(0.2)');
    expect(await store.cleanup()).toBeGreaterThanOrEqual(20);
    for (const key of live) expect(await store.claim(key, 60_000)).toEqual({ state: 'in-progress' });
    expect(await store.cleanup()).toBe(0);
    await store.close();
    // The pool was given, not owned: it still works.
    expect(await rows()).toBeGreaterThanOrEqual(10);
  });
});
