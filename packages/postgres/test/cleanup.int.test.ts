/**
 * The cleanups that bound the tables, on the real PostgreSQL: one run deletes every row that is due,
 * however many (in statements of 1,000), so a table that gains more rows per cleanup interval than
 * any fixed cap stays bounded, and keeps every row that is not due.
 */
import { InMemoryTransport, silentLogger } from '@sluice/core';
import { migrate, OutboxRelay, PostgresIdempotencyStore, PostgresInbox } from '@sluice/postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestSchema } from './support/database.js';

/** More than the 20 statements of 1,000 rows a run used to stop at. */
const due = 25_000;

describe('cleanup of the idempotency, inbox and outbox tables', () => {
  let schema: TestSchema;

  beforeEach(async () => {
    schema = await TestSchema.create('cleanup');
    await migrate({ pool: schema.pool, schema: schema.name });
  });

  afterEach(async () => {
    await schema?.drop();
  });

  const t = (table: string) => `"${schema.name}".${table}`;
  const count = async (table: string) =>
    Number((await schema.pool.query(`SELECT count(*) AS n FROM ${t(table)}`)).rows[0].n);

  it(`deletes all ${due.toLocaleString('en')} due rows of each table in one run, and nothing that is not due`, async () => {
    const { pool, name } = schema;
    // Due: expired claims and records, old inbox records, rows sent long ago; plus 10 of each not due.
    await pool.query(`INSERT INTO ${t('sluice_idempotency')} (key, token, expires_at)
      SELECT sha256(i::text::bytea), NULL, now() - CASE WHEN i <= ${due} THEN interval '1 second' ELSE interval '-1 hour' END
      FROM generate_series(1, ${due + 10}) i`);
    await pool.query(`INSERT INTO ${t('sluice_inbox')} (key, queue, message_id, handled_at)
      SELECT sha256(i::text::bytea), 'q', 'm-' || i, now() - CASE WHEN i <= ${due} THEN interval '2 hours' ELSE interval '0' END
      FROM generate_series(1, ${due + 10}) i`);
    await pool.query(`INSERT INTO ${t('sluice_outbox')}
        (message_id, type, content_type, sent_at, headers, body, queue, mandatory, published_at)
      SELECT 'm-' || i, 't.x.v1', 'application/json', now(), '{}', '\\x', 'q', false,
        CASE WHEN i <= ${due} THEN now() - interval '2 hours' ELSE NULL END
      FROM generate_series(1, ${due + 10}) i`);

    const store = new PostgresIdempotencyStore({ pool, schema: name, cleanupIntervalMs: 0 });
    const inbox = new PostgresInbox({ pool, schema: name, retentionMs: 3_600_000, cleanupIntervalMs: 0 });
    const relay = new OutboxRelay({
      pool,
      schema: name,
      transport: new InMemoryTransport(),
      retainSentMs: 3_600_000,
      logger: silentLogger,
    });
    try {
      expect(await store.cleanup()).toBe(due);
      expect(await inbox.cleanup()).toBe(due);
      expect(await relay.prune()).toBe(due);
      for (const table of ['sluice_idempotency', 'sluice_inbox', 'sluice_outbox']) {
        expect(await count(table), table).toBe(10);
      }
      expect(await store.cleanup()).toBe(0);
    } finally {
      await store.close();
      await inbox.close();
    }
  });
});
