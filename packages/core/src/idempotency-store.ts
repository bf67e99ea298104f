/**
 * Idempotency (dedup by message id). Before calling the handler the host claims the message's key for a
 * short lease, renews the lease while the handler runs, and then completes the key (kept as handled for
 * the dedup TTL) after success or releases it after failure; a redelivered duplicate is skipped and a
 * retry of a failed message runs again. A claim carries a token, and only its holder completes, renews
 * or releases it, so a process whose lease lapsed cannot touch another's claim. A process that crashes
 * mid-handler leaves a claim that lapses with its lease, never one that lives as long as the record.
 * Plug in a shared store (Redis, SQL) for dedup across processes; `describeIdempotencyStoreConformance`
 * in `@sluice/testing` checks one.
 */
import { randomUUID } from 'node:crypto';

/** The answer to {@link IdempotencyStore.claim}. */
export type Claim =
  /** This caller holds the key until its lease ends; `token` completes, renews or releases it. */
  | { readonly state: 'claimed'; readonly token: string }
  /** Handled before and the record has not expired: skip the message. */
  | { readonly state: 'completed' }
  /** Another caller holds a claim whose lease has not ended: try again later. */
  | { readonly state: 'in-progress' };

/**
 * A store of claims and completed records by key. Every operation is atomic per key, safe under
 * concurrent calls from many processes, and resolves once its effect is stored (rejects when the store
 * cannot be reached; the host then treats the message as failed, or for `complete` and `release`,
 * logs it and lets the claim lapse).
 */
export interface IdempotencyStore {
  /**
   * A completed record that has not expired: `completed`. A claim whose lease has not ended:
   * `in-progress`. Otherwise (no record, an expired one, a lapsed claim): a new claim for `leaseMs`
   * with a new unique token, `claimed`. Of concurrent callers, exactly one gets `claimed`.
   */
  claim(key: string, leaseMs: number): Promise<Claim>;
  /**
   * Extends the claim held with `token` to `leaseMs` from now. Resolves true when it was extended;
   * false, changing nothing, when the key is not claimed with `token` or its lease has already ended
   * (even if nobody claimed it since).
   */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /**
   * Records `key` as handled for `ttlMs`, replacing the claim held with `token` (whether its lease
   * has ended or not), or a key nobody holds. Changes nothing when another token holds a claim whose
   * lease has not ended, or an unexpired completed record is there.
   */
  complete(key: string, token: string, ttlMs: number): Promise<void>;
  /**
   * Drops the claim held with `token`, so the message can be handled again at once. Changes nothing
   * when the key is not claimed with `token` (another's claim, a completed record, nothing).
   */
  release(key: string, token: string): Promise<void>;
}

interface Entry {
  readonly token: string | undefined;
  readonly expiresAt: number;
}

/**
 * Process-local store with per-entry expiry, bounded to about `maxEntries` keys (default 100,000):
 * keys live in two generations, and when the newer one fills up (half the bound) the older one is
 * dropped whole. Every operation is O(1). Dedups within one process only.
 */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  private current = new Map<string, Entry>();
  private previous = new Map<string, Entry>();
  private readonly generationSize: number;

  constructor(
    maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.generationSize = Math.max(1, Math.floor(maxEntries / 2));
  }

  claim(key: string, leaseMs: number): Promise<Claim> {
    const live = this.live(key);
    if (live !== undefined) {
      return Promise.resolve(live.token === undefined ? { state: 'completed' } : { state: 'in-progress' });
    }
    const token = randomUUID();
    this.set(key, { token, expiresAt: this.now() + leaseMs });
    return Promise.resolve({ state: 'claimed', token });
  }

  renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const held = this.live(key)?.token === token;
    if (held) this.set(key, { token, expiresAt: this.now() + leaseMs });
    return Promise.resolve(held);
  }

  complete(key: string, token: string, ttlMs: number): Promise<void> {
    const entry = this.entry(key);
    const live = entry !== undefined && entry.expiresAt > this.now();
    if (entry === undefined || entry.token === token || !live) {
      this.set(key, { token: undefined, expiresAt: this.now() + ttlMs });
    }
    return Promise.resolve();
  }

  release(key: string, token: string): Promise<void> {
    if (this.entry(key)?.token === token) {
      this.current.delete(key);
      this.previous.delete(key);
    }
    return Promise.resolve();
  }

  /** Keys held now. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  private entry(key: string): Entry | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }

  private live(key: string): Entry | undefined {
    const entry = this.entry(key);
    return entry !== undefined && entry.expiresAt > this.now() ? entry : undefined;
  }

  private set(key: string, entry: Entry): void {
    this.previous.delete(key);
    this.current.set(key, entry);
    if (this.current.size >= this.generationSize) {
      this.previous = this.current;
      this.current = new Map();
    }
  }
}
