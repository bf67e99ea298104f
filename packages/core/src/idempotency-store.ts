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
 * Process-local store: a map in insertion order bounded to `maxEntries` (the oldest entries go
 * first) with per-entry expiry. Dedups within one process only. Default bound 100,000 keys.
 */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  claim(key: string, ttlMs: number): Promise<ClaimResult> {
    const current = this.entries.get(key);
    if (current !== undefined && current.expiresAt > this.now()) return Promise.resolve(current.state);
    this.set(key, { state: 'in-progress', expiresAt: this.now() + ttlMs });
    return Promise.resolve('claimed');
  }

  complete(key: string, ttlMs: number): Promise<void> {
    this.set(key, { state: 'completed', expiresAt: this.now() + ttlMs });
    return Promise.resolve();
  }

  release(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  /** Keys held now. */
  get size(): number {
    return this.entries.size;
  }

  private set(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
