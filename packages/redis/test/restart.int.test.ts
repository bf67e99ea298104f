/**
 * The store through what a Redis server goes through: its script cache flushed, and the server
 * restarted under a connected store, with and without persistence. These run on a `redis-server` of
 * their own (on a Unix socket in a temporary directory), which they may flush and restart, never on
 * the shared one; they need the `redis-server` binary (skipped where it is not installed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisIdempotencyStore } from '@sluice/redis';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) => existsSync(path));

/** A redis-server on a Unix socket in `dir`; `persistent`: the append-only file, fsync'd on every write. */
class OwnRedis {
  private process: ChildProcess | undefined;
  readonly socket: string;

  constructor(
    readonly dir: string,
    private readonly persistent: boolean,
  ) {
    this.socket = join(dir, 'redis.sock');
  }

  async start(): Promise<void> {
    const args = ['--port', '0', '--unixsocket', this.socket, '--dir', this.dir, '--save', ''];
    args.push(
      ...(this.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    );
    this.process = spawn(binary as string, args, { stdio: 'ignore' });
    const probe = new Redis({ path: this.socket, lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    probe.disconnect();
  }

  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

describe.skipIf(binary === undefined)('RedisIdempotencyStore and the Redis server', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function server(persistent: boolean): Promise<{ redis: OwnRedis; store: RedisIdempotencyStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const redis = new OwnRedis(dir, persistent);
    await redis.start();
    cleanups.push(() => redis.stop());
    const client = new Redis({ path: redis.socket });
    client.on('error', () => undefined);
    cleanups.push(() => client.disconnect());
    return { redis, store: new RedisIdempotencyStore({ client, keyPrefix: 'test:' }) };
  }

  async function token(store: RedisIdempotencyStore, key: string): Promise<string> {
    const claim = await store.claim(key, 60_000);
    if (claim.state !== 'claimed') throw new Error(`expected a claim, got ${claim.state}`);
    return claim.token;
  }

  it('renews, completes and releases after SCRIPT FLUSH emptied the script cache', async () => {
    const { redis, store } = await server(false);
    const admin = new Redis({ path: redis.socket });
    cleanups.push(() => admin.disconnect());
    const held = await token(store, 'a');
    const dropped = await token(store, 'b');
    await admin.script('FLUSH');
    expect(await store.renew('a', held, 60_000)).toBe(true);
    await admin.script('FLUSH');
    await store.complete('a', held, 60_000);
    expect(await store.claim('a', 60_000)).toEqual({ state: 'completed' });
    await admin.script('FLUSH');
    await store.release('b', dropped);
    expect((await store.claim('b', 60_000)).state).toBe('claimed');
  });

  it.each([
    ['keeps the records with the append-only file', true],
    ['forgets every record without persistence (the README says to persist)', false],
  ])('goes on after the server restarted under it, and %s', async (_, persistent) => {
    const { redis, store } = await server(persistent);
    await store.complete('handled', await token(store, 'handled'), 60_000);
    const inFlight = await token(store, 'in-flight');
    await redis.stop();
    await redis.start();
    // The same client, reconnected by itself; the scripts are loaded again.
    await store.complete('in-flight', inFlight, 60_000);
    expect(await store.claim('in-flight', 60_000)).toEqual({ state: 'completed' });
    expect((await store.claim('handled', 60_000)).state).toBe(persistent ? 'completed' : 'claimed');
  });
});
