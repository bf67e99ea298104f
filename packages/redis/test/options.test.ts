import { ErrorCodes } from '@sluice/core';
import { RedisIdempotencyStore } from '@sluice/redis';
import { describe, expect, it } from 'vitest';

describe('RedisIdempotencyStore options', () => {
  it('names a bad option and never shows the password of a URL', () => {
    const attempt = () => new RedisIdempotencyStore({ url: 'http://user:hunter2@example.test:6379' });
    expect(attempt).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    expect(attempt).toThrow(/RedisIdempotencyStore: option "url" must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('never shows a password given as a query parameter', () => {
    const attempt = () => new RedisIdempotencyStore({ url: 'http://example.test:6379/0?password=hunter2' });
    expect(attempt).toThrow(/option "url" must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(attempt).toThrow('http://example.test:6379/0?password=***');
    expect(attempt).not.toThrow(/hunter2/);
  });

  it('wants exactly one of client and url, and knows its options', () => {
    expect(() => new RedisIdempotencyStore({})).toThrow(/option "client" or "url" must be given/);
    expect(() => new RedisIdempotencyStore({ url: 'redis://127.0.0.1', prefix: 'x' } as never)).toThrow(
      /option "prefix" is not a known option/,
    );
    expect(() => new RedisIdempotencyStore({ url: 'redis://127.0.0.1', keyPrefix: 7 } as never)).toThrow(
      /option "keyPrefix" must be a string/,
    );
  });
});
