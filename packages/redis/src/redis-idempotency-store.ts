/**
 * `IdempotencyStore` on Redis, shared by every replica. A claim is one `SET key token NX PX lease GET`
 * (Redis 7.0 or later): it either creates the claim or, changing nothing, returns what holds the key,
 * in one atomic command. Renew, complete and release are Lua scripts that compare the stored token
 * with the caller's before they touch the key, so a process can only extend, complete or drop its own
 * claim. Leases and TTLs are Redis expiries: an ended lease is a key that is gone, and memory is
 * bounded by the keys of one TTL.
 */
import { randomUUID } from 'node:crypto';
import { OptionChecker, redactUrl, type Claim, type IdempotencyStore } from '@sluice/core';
import { Redis } from 'ioredis';

export interface RedisIdempotencyStoreOptions {
  /** A client the caller owns (never closed by the store). One of `client` and `url` is required. */
  readonly client?: Redis;
  /** A `redis://` or `rediss://` URL; the store opens a client of its own and quits it on `close()`. */
  readonly url?: string;
  /** Put before every key, so several services or tests share one Redis. Default `sluice:idempotency:`. */
  readonly keyPrefix?: string;
}

/** The value of a completed key; tokens are UUIDs, so none can be mistaken for it. */
const completed = 'completed';

const scripts = {
  // KEYS[1] key; ARGV[1] token, ARGV[2] lease ms. 1 when extended.
  sluiceRenew: `if redis.call('GET', KEYS[1]) == ARGV[1] then
      return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
    return 0`,
  // KEYS[1] key; ARGV[1] token, ARGV[2] ttl ms, ARGV[3] the completed marker.
  sluiceComplete: `local held = redis.call('GET', KEYS[1])
    if held == false or held == ARGV[1] then
      redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2]) return 1 end
    return 0`,
  // KEYS[1] key; ARGV[1] token.
  sluiceRelease: `if redis.call('GET', KEYS[1]) == ARGV[1] then
      return redis.call('DEL', KEYS[1]) end
    return 0`,
} as const;

type ScriptClient = Redis & {
  sluiceRenew(key: string, token: string, leaseMs: number): Promise<number>;
  sluiceComplete(key: string, token: string, ttlMs: number, marker: string): Promise<number>;
  sluiceRelease(key: string, token: string): Promise<number>;
};

export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly client: ScriptClient;
  private readonly ownsClient: boolean;
  private readonly prefix: string;

  /** Checks the options (a bad one throws `SLUICE_INVALID_OPTION` naming it, never a password). */
  constructor(options: RedisIdempotencyStoreOptions) {
    const check: OptionChecker = new OptionChecker('RedisIdempotencyStore', redactUrl);
    check.object('', options, new Set(['client', 'url', 'keyPrefix']));
    this.prefix = options.keyPrefix ?? 'sluice:idempotency:';
    if (typeof this.prefix !== 'string') check.fail('keyPrefix', 'must be a string', this.prefix);
    if ((options.client === undefined) === (options.url === undefined)) {
      check.fail(
        'client',
        'or "url" must be given, one of them and not both',
        options.client === undefined ? 'neither' : 'both',
      );
    }
    let client: Redis;
    if (options.client !== undefined) {
      if (!(options.client instanceof Redis))
        check.fail('client', 'must be an ioredis client', typeof options.client);
      client = options.client;
      this.ownsClient = false;
    } else {
      const url = options.url;
      let protocol: string | undefined;
      try {
        protocol = typeof url === 'string' ? new URL(url).protocol : undefined;
      } catch {
        protocol = undefined;
      }
      if (typeof url !== 'string' || (protocol !== 'redis:' && protocol !== 'rediss:')) {
        check.fail('url', 'must be a redis:// or rediss:// URL', url);
      }
      client = new Redis(url, { lazyConnect: true });
      // Connection errors reach the caller through the command that failed; the client reconnects.
      client.on('error', () => undefined);
      this.ownsClient = true;
    }
    for (const [name, lua] of Object.entries(scripts)) {
      // defineCommand runs EVALSHA and falls back to EVAL once when Redis lost the script (a restart).
      if (!(name in client)) client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.client = client as ScriptClient;
  }

  async claim(key: string, leaseMs: number): Promise<Claim> {
    const token = randomUUID();
    const held = await this.client.set(this.prefix + key, token, 'PX', leaseMs, 'NX', 'GET');
    if (held === null) return { state: 'claimed', token };
    return held === completed ? { state: 'completed' } : { state: 'in-progress' };
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return (await this.client.sluiceRenew(this.prefix + key, token, leaseMs)) === 1;
  }

  async complete(key: string, token: string, ttlMs: number): Promise<void> {
    await this.client.sluiceComplete(this.prefix + key, token, ttlMs, completed);
  }

  async release(key: string, token: string): Promise<void> {
    await this.client.sluiceRelease(this.prefix + key, token);
  }

  /** Quits the client when the store opened it (waiting for replies to commands sent). Idempotent. */
  async close(): Promise<void> {
    if (this.ownsClient && this.client.status !== 'end') await this.client.quit().catch(() => undefined);
  }
}
