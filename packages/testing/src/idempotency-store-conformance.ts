/**
 * The `IdempotencyStore` conformance suite: what the host relies on from any store (in memory,
 * PostgreSQL, Redis). Keys are unique per test, so a shared store can run it beside other work.
 */
import { randomUUID } from 'node:crypto';
import type { Claim, IdempotencyStore } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';

export interface IdempotencyStoreConformanceOptions {
  /**
   * A client of the store; the suite calls it more than once per test when it needs two clients (like
   * two processes), so for a shared store return a new client of the same store each time, and for a
   * process-local one the same instance.
   */
  createStore(): IdempotencyStore | Promise<IdempotencyStore>;
  /** Called after each test with every client it created and the keys it used (close, delete). */
  cleanup?(used: {
    readonly stores: readonly IdempotencyStore[];
    readonly keys: readonly string[];
  }): Promise<void>;
  /** Multiplies every lease, TTL and wait, for slow stores. Default 1. */
  readonly timeScale?: number;
}

function tokenOf(claim: Claim): string {
  if (claim.state !== 'claimed') throw new Error(`expected a claim, got ${claim.state}`);
  return claim.token;
}

export function describeIdempotencyStoreConformance(
  name: string,
  options: IdempotencyStoreConformanceOptions,
): void {
  const scale = options.timeScale ?? 1;
  const t = (ms: number) => Math.round(ms * scale);
  /** Long enough that it cannot end during a test. */
  const long = t(60_000);

  describe(`idempotency store conformance: ${name}`, () => {
    let stores: IdempotencyStore[] = [];
    let keys: string[] = [];

    afterEach(async () => {
      await options.cleanup?.({ stores, keys });
      stores = [];
      keys = [];
    });

    async function open(): Promise<IdempotencyStore> {
      const store = await options.createStore();
      stores.push(store);
      return store;
    }

    function key(label = 'key'): string {
      const made = `conformance:${label}:${randomUUID()}`;
      keys.push(made);
      return made;
    }

    /** Resolves once `check` holds, polling every 20 ms; rejects after `timeoutMs` naming `what`. */
    async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      while (!(await check())) {
        if (performance.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    /** Waits out a lease of `leaseMs` (twice over): nothing observable marks its end but time. */
    function leaseOver(leaseMs: number): Promise<void> {
      return new Promise((resolve) => setTimeout(resolve, 2 * leaseMs + 100));
    }

    it('grants a claim once, with a token, and reports it in progress to everyone else', async () => {
      const [one, two] = [await open(), await open()];
      const k = key();
      const first = await one.claim(k, long);
      expect(first).toEqual({ state: 'claimed', token: expect.any(String) });
      expect(await one.claim(k, long)).toEqual({ state: 'in-progress' });
      expect(await two.claim(k, long)).toEqual({ state: 'in-progress' });
    });

    it('grants exactly one of many concurrent claims on a key', async () => {
      const clients = [await open(), await open(), await open()];
      const k = key();
      const claims = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (clients[i % 3] as IdempotencyStore).claim(k, long)),
      );
      expect(claims.filter((c) => c.state === 'claimed')).toHaveLength(1);
      expect(claims.filter((c) => c.state === 'in-progress')).toHaveLength(29);
    });

    it('keeps keys apart, odd characters included', async () => {
      const store = await open();
      const base = key('odd');
      const odd = [`${base}:ünïcödé ☃`, `${base} with spaces`, `${base}:${'x'.repeat(300)}`];
      keys.push(...odd);
      const tokens = [];
      for (const k of [base, ...odd]) tokens.push(tokenOf(await store.claim(k, long)));
      await store.complete(base, tokens[0] as string, long);
      expect(await store.claim(base, long)).toEqual({ state: 'completed' });
      for (const k of odd) expect(await store.claim(k, long)).toEqual({ state: 'in-progress' });
    });

    it('reports a completed key as completed, to every client, until its TTL ends', async () => {
      const [one, two] = [await open(), await open()];
      const k = key();
      await one.complete(k, tokenOf(await one.claim(k, long)), t(1_000));
      expect(await one.claim(k, long)).toEqual({ state: 'completed' });
      expect(await two.claim(k, long)).toEqual({ state: 'completed' });
      await eventually(
        async () => (await two.claim(k, long)).state === 'claimed',
        t(10_000),
        'the record to expire',
      );
    });

    it('lets a released key be claimed again at once, with a new token', async () => {
      const [one, two] = [await open(), await open()];
      const k = key();
      const first = tokenOf(await one.claim(k, long));
      await one.release(k, first);
      const second = tokenOf(await two.claim(k, long));
      expect(second).not.toBe(first);
    });

    it('lets no one but the holder release or complete a claim', async () => {
      const [holder, other] = [await open(), await open()];
      const k = key();
      const token = tokenOf(await holder.claim(k, long));
      await other.release(k, 'someone-else');
      expect(await other.claim(k, long)).toEqual({ state: 'in-progress' });
      await other.complete(k, 'someone-else', long);
      expect(await other.claim(k, long)).toEqual({ state: 'in-progress' });
      expect(await other.renew(k, 'someone-else', long)).toBe(false);
      await holder.release(k, token);
      expect((await other.claim(k, long)).state).toBe('claimed');
    });

    it('never releases a completed key, whatever the token', async () => {
      const store = await open();
      const k = key();
      const token = tokenOf(await store.claim(k, long));
      await store.complete(k, token, long);
      await store.release(k, token);
      await store.release(k, 'someone-else');
      expect(await store.claim(k, long)).toEqual({ state: 'completed' });
      expect(await store.renew(k, token, long)).toBe(false);
    });

    it('lets a claim nobody completes or releases lapse after its lease (a crashed holder)', async () => {
      const [crashed, survivor] = [await open(), await open()];
      const k = key();
      const stale = tokenOf(await crashed.claim(k, t(1_000)));
      expect(await survivor.claim(k, long)).toEqual({ state: 'in-progress' });
      let fresh: string | undefined;
      await eventually(
        async () => {
          const claim = await survivor.claim(k, long);
          if (claim.state === 'claimed') fresh = claim.token;
          return fresh !== undefined;
        },
        t(10_000),
        'the lease to lapse',
      );
      // The late holder of the lapsed claim can no longer touch the new one.
      expect(await crashed.renew(k, stale, long)).toBe(false);
      await crashed.release(k, stale);
      await crashed.complete(k, stale, long);
      expect(await crashed.claim(k, long)).toEqual({ state: 'in-progress' });
      await survivor.complete(k, fresh as string, long);
      expect(await crashed.claim(k, long)).toEqual({ state: 'completed' });
    });

    it('extends a renewed claim past its first lease', async () => {
      const [holder, other] = [await open(), await open()];
      const k = key();
      const token = tokenOf(await holder.claim(k, t(300)));
      expect(await holder.renew(k, token, long)).toBe(true);
      const started = performance.now();
      while (performance.now() - started < t(900)) {
        expect(await other.claim(k, long)).toEqual({ state: 'in-progress' });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await holder.renew(k, token, long)).toBe(true);
    });

    it('does not renew a claim whose lease ended, even when nobody took it', async () => {
      const store = await open();
      const k = key();
      const token = tokenOf(await store.claim(k, t(200)));
      await leaseOver(t(200));
      expect(await store.renew(k, token, long)).toBe(false);
    });

    it('completes a claim whose lease ended unclaimed: the handler did finish', async () => {
      const store = await open();
      const k = key();
      const token = tokenOf(await store.claim(k, t(200)));
      await leaseOver(t(200));
      await store.complete(k, token, long);
      expect(await store.claim(k, long)).toEqual({ state: 'completed' });
    });
  });
}
