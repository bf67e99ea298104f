import { ErrorCodes } from '@sluice/core';
import { PostgresIdempotencyStore } from '@sluice/postgres';
import { describe, expect, it } from 'vitest';

describe('PostgreSQL options', () => {
  it('names a bad option and never shows the password of a URL', () => {
    const attempt = () => new PostgresIdempotencyStore({ url: 'mysql://app:hunter2@db.test/orders' });
    expect(attempt).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    expect(attempt).toThrow(
      /PostgresIdempotencyStore: option "url" must be a postgres:\/\/ or postgresql:\/\//,
    );
    expect(attempt).toThrow(/\*\*\*/);
    expect(attempt).not.toThrow(/hunter2/);
    expect(() => new PostgresIdempotencyStore({ url: 'not a url, password=hunter2' })).not.toThrow(/hunter2/);
  });

  it('accepts only plain lowercase table and schema names, naming the option', () => {
    const url = 'postgres://127.0.0.1/test';
    expect(
      () => new PostgresIdempotencyStore({ url, tables: { idempotency: 'x"; DROP TABLE y; --' } }),
    ).toThrow(/option "tables.idempotency" must be 1-48 lowercase letters, digits or "_"/);
    expect(() => new PostgresIdempotencyStore({ url, schema: 'Public' })).toThrow(/option "schema"/);
    expect(() => new PostgresIdempotencyStore({ url, tables: { inbox: 'a'.repeat(49) } })).toThrow(
      /option "tables.inbox"/,
    );
    expect(() => new PostgresIdempotencyStore({ url, tables: { outboxes: 'x' } } as never)).toThrow(
      /option "tables.outboxes" is not a known option/,
    );
  });

  it('wants exactly one of pool and url', () => {
    expect(() => new PostgresIdempotencyStore({})).toThrow(/option "pool" or "url" must be given/);
    expect(
      () => new PostgresIdempotencyStore({ url: 'postgres://127.0.0.1/test', cleanupIntervalMs: -1 }),
    ).toThrow(/option "cleanupIntervalMs" must be an integer/);
  });
});
