import { ErrorCodes } from '@sluice/core';
import { InMemoryTransport } from '@sluice/core';
import { OutboxRelay, PostgresIdempotencyStore, PostgresInbox, PostgresOutbox } from '@sluice/postgres';
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

  it('never shows a password given as a query parameter or in a keyword/value string', () => {
    const given = [
      'postgress://db.test/orders?password=hunter2',
      'mysql://app:hunter1@db.test/orders?sslmode=require&sslpassword=hunter2',
      "host=db.test dbname=orders password='hunter2 x'",
      'host=db.test password=hunter2',
    ];
    for (const url of given) {
      const attempt = () => new PostgresIdempotencyStore({ url });
      expect(attempt).toThrow(/option "url" must be a postgres:\/\/ or postgresql:\/\//);
      expect(attempt).not.toThrow(/hunter/);
    }
    // What is not secret stays, so the mistake can be seen.
    expect(() => new PostgresIdempotencyStore({ url: given[1] as string })).toThrow(
      'mysql://app:***@db.test/orders?sslmode=require&sslpassword=***',
    );
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

  it('checks the inbox, outbox and relay options, naming each', () => {
    const url = 'postgres://127.0.0.1/test';
    const transport = new InMemoryTransport();
    expect(() => new PostgresInbox({ url, lockTimeoutMs: 0 })).toThrow(
      /PostgresInbox: option "lockTimeoutMs"/,
    );
    expect(() => new PostgresInbox({ url, consumers: ['ChargeCard'] as never })).toThrow(
      /option "consumers"/,
    );
    expect(() => new PostgresOutbox({ url, transport: {} as never })).toThrow(
      /PostgresOutbox: option "transport"/,
    );
    expect(() => new OutboxRelay({ url, transport, batchSize: 0 })).toThrow(
      /OutboxRelay: option "batchSize"/,
    );
    expect(() => new OutboxRelay({ url, transport, retry: { delay: 1 } as never })).toThrow(
      /option "retry.delay" is not a known option/,
    );
    expect(
      () => new OutboxRelay({ url: 'postgres://u:hunter2@h/db', transport, tables: { outbox: 'Out' } }),
    ).toThrow(/option "tables.outbox"/);
  });
});
