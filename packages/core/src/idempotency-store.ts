/**
 * Idempotency (dedup by message id). The host claims a key before calling the handler, completes it
 * after success and releases it after failure, so a redelivered duplicate is skipped while a retry of a
 * failed message runs again. Plug in a shared store (Redis, SQL) for dedup across processes.
 */
export type ClaimResult =
  /** This caller may handle the message. */
  | 'claimed'
  /** Handled before: skip it. */
  | 'completed'
  /** Another delivery of the same message is being handled right now: try again later. */
  | 'in-progress';

export interface IdempotencyStore {
  /** Claims `key` for `ttlMs` (a claim left by a crashed process expires then). */
  claim(key: string, ttlMs: number): Promise<ClaimResult>;
  /** Marks `key` handled; it stays `completed` for `ttlMs`. */
  complete(key: string, ttlMs: number): Promise<void>;
  /** Drops the claim so the message can be handled again. */
  release(key: string): Promise<void>;
}

interface Entry {
  state: 'in-progress' | 'completed';
  expiresAt: number;
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

  claim(key: string, ttlMs: number): Promise<ClaimResult> {
    const existing = this.current.get(key) ?? this.previous.get(key);
    if (existing !== undefined && existing.expiresAt > this.now()) return Promise.resolve(existing.state);
    this.set(key, { state: 'in-progress', expiresAt: this.now() + ttlMs });
    return Promise.resolve('claimed');
  }

  complete(key: string, ttlMs: number): Promise<void> {
    this.set(key, { state: 'completed', expiresAt: this.now() + ttlMs });
    return Promise.resolve();
  }

  release(key: string): Promise<void> {
    this.current.delete(key);
    this.previous.delete(key);
    return Promise.resolve();
  }

  /** Keys held now. */
  get size(): number {
    return this.current.size + this.previous.size;
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
