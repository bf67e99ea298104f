/**
 * The package's schema: one idempotent migration creating the idempotency, inbox and outbox tables
 * (and the outbox's NOTIFY trigger) under the configured names. Safe to run at every start, from
 * every replica at once.
 */
import { OptionChecker } from '@sluice/core';
import { openConnection, type PostgresOptions, type QualifiedTables } from './connection.js';
import { inTransaction } from './transaction.js';

export interface MigrateOptions extends PostgresOptions {
  /**
   * Whether a commit that wrote outbox rows sends a NOTIFY (the relays then publish within
   * milliseconds). PostgreSQL queues notifications under one lock held through each notifying
   * commit, so notifying writers commit one at a time: on a write-heavy outbox turn it off and let
   * the relays poll (`OutboxRelay.pollIntervalMs`). Each migration applies the setting (creates or
   * drops the trigger). Default true.
   */
  readonly outboxNotify?: boolean;
}

/** The statements of the migration, in order, for the tables named in `t`. */
function migrationStatements(t: QualifiedTables, outboxNotify: boolean): string[] {
  const { bare } = t;
  const index = (suffix: string, table: string) => `"${table}_${suffix}"`;
  const notify = `"${bare.schema}"."${bare.outbox}_notify"`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${t.schema}`,
    `CREATE TABLE IF NOT EXISTS ${t.idempotency} (
      key bytea PRIMARY KEY,
      token text,
      expires_at timestamptz NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS ${index('expires_at', bare.idempotency)} ON ${t.idempotency} (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${t.inbox} (
      key bytea PRIMARY KEY,
      queue text NOT NULL,
      message_id text NOT NULL,
      handled_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX IF NOT EXISTS ${index('handled_at', bare.inbox)} ON ${t.inbox} (handled_at)`,
    `CREATE TABLE IF NOT EXISTS ${t.outbox} (
      id bigserial PRIMARY KEY,
      message_id text NOT NULL,
      type text NOT NULL,
      content_type text NOT NULL,
      correlation_id text,
      causation_id text,
      sent_at timestamptz NOT NULL,
      headers jsonb NOT NULL,
      body bytea NOT NULL,
      topic text,
      queue text,
      mandatory boolean NOT NULL,
      not_before timestamptz,
      ttl_ms bigint,
      aggregate text,
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      last_error text,
      published_at timestamptz,
      CHECK ((topic IS NULL) <> (queue IS NULL))
    )`,
    `CREATE INDEX IF NOT EXISTS ${index('pending', bare.outbox)} ON ${t.outbox} (id) WHERE published_at IS NULL`,
    `CREATE INDEX IF NOT EXISTS ${index('pending_aggregate', bare.outbox)} ON ${t.outbox} (aggregate, id)
      WHERE published_at IS NULL AND aggregate IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS ${index('published_at', bare.outbox)} ON ${t.outbox} (published_at)
      WHERE published_at IS NOT NULL`,
    // A NOTIFY sent inside a transaction is delivered when it commits and dropped when it rolls back:
    // relays wake for committed rows only. Notifications of one transaction on one channel are folded
    // into one.
    `CREATE OR REPLACE FUNCTION ${notify}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify('${t.outboxChannel}', ''); RETURN NULL; END $$`,
    outboxNotify
      ? `CREATE OR REPLACE TRIGGER "${bare.outbox}_notify" AFTER INSERT ON ${t.outbox}
      FOR EACH STATEMENT EXECUTE FUNCTION ${notify}()`
      : `DROP TRIGGER IF EXISTS "${bare.outbox}_notify" ON ${t.outbox}`,
  ];
}

/**
 * Creates what is missing of the schema, tables, indexes and trigger (or drops the trigger, see
 * `outboxNotify`), in one transaction under an
 * advisory lock (replicas starting together wait for each other instead of colliding on the
 * catalog). Idempotent; resolves when the schema is in place. Needs PostgreSQL 14 or later.
 */
export async function migrate(options: MigrateOptions): Promise<void> {
  const { outboxNotify, ...connection } = options;
  const notify =
    outboxNotify === undefined || new OptionChecker('migrate').boolean('outboxNotify', outboxNotify);
  const { pool, ownsPool, tables } = openConnection('migrate', connection);
  try {
    await inTransaction(pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.migrate'))`);
      for (const statement of migrationStatements(tables, notify)) await client.query(statement);
    });
  } finally {
    if (ownsPool) await pool.end();
  }
}
