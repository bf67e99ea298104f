/**
 * The package's schema: one idempotent migration creating the idempotency, inbox and outbox tables
 * (and the outbox's NOTIFY trigger) under the configured names. Safe to run at every start, from
 * every replica at once.
 */
import { OptionChecker } from '@sluice/core';
import type pg from 'pg';
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

/**
 * Columns added to the outbox after its first release, with their types (also in its `CREATE TABLE`):
 * the migration adds those missing, and the schema is in place only with all of them.
 */
const addedOutboxColumns: Readonly<Record<string, string>> = { consumer_queue: 'jsonb' };

/** The indexes of the migration (bare names, in the tables' schema). */
function indexNames({ bare }: QualifiedTables) {
  return {
    expiresAt: `${bare.idempotency}_expires_at`,
    handledAt: `${bare.inbox}_handled_at`,
    pending: `${bare.outbox}_pending`,
    pendingAggregate: `${bare.outbox}_pending_aggregate`,
    publishedAt: `${bare.outbox}_published_at`,
  };
}

/** The statements of the migration, in order, for the tables named in `t`. */
function migrationStatements(t: QualifiedTables, outboxNotify: boolean): string[] {
  const { bare } = t;
  const index = indexNames(t);
  const notify = `"${bare.schema}"."${bare.outbox}_notify"`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${t.schema}`,
    `CREATE TABLE IF NOT EXISTS ${t.idempotency} (
      key bytea PRIMARY KEY,
      token text,
      expires_at timestamptz NOT NULL
    )`,
    `CREATE INDEX IF NOT EXISTS "${index.expiresAt}" ON ${t.idempotency} (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${t.inbox} (
      key bytea PRIMARY KEY,
      queue text NOT NULL,
      message_id text NOT NULL,
      handled_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX IF NOT EXISTS "${index.handledAt}" ON ${t.inbox} (handled_at)`,
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
      consumer_queue jsonb,
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
    // Added after the table's first release: an outbox made before them gets them here. Only then:
    // ALTER TABLE takes the table's exclusive lock even when the column exists.
    ...Object.entries(addedOutboxColumns).map(
      ([column, type]) => `DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_attribute
          WHERE attrelid = '${t.outbox}'::regclass AND attname = '${column}' AND NOT attisdropped) THEN
        ALTER TABLE ${t.outbox} ADD COLUMN ${column} ${type};
      END IF;
    END $$`,
    ),
    `CREATE INDEX IF NOT EXISTS "${index.pending}" ON ${t.outbox} (id) WHERE published_at IS NULL`,
    `CREATE INDEX IF NOT EXISTS "${index.pendingAggregate}" ON ${t.outbox} (aggregate, id)
      WHERE published_at IS NULL AND aggregate IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS "${index.publishedAt}" ON ${t.outbox} (published_at)
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

/** The relations (tables and indexes) the migration creates, as `schema.name` for `to_regclass`. */
function migrationRelations(t: QualifiedTables): string[] {
  const indexes = Object.values(indexNames(t)).map((name) => `"${t.bare.schema}"."${name}"`);
  return [t.idempotency, t.inbox, t.outbox, ...indexes];
}

/**
 * True when every table, index and added column exists, and the NOTIFY trigger exists exactly when
 * `outboxNotify` asks for it: a catalog read that takes no lock on the tables.
 */
async function inPlace(client: pg.ClientBase, t: QualifiedTables, outboxNotify: boolean): Promise<boolean> {
  const { rows } = await client.query<{ missing: number; notifying: boolean; columns: number }>(
    `SELECT count(*) FILTER (WHERE to_regclass(r) IS NULL)::int AS missing,
        EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($2) AND tgname = $3) AS notifying,
        (SELECT count(*)::int FROM pg_attribute
          WHERE attrelid = to_regclass($2) AND attname = ANY($4::text[]) AND NOT attisdropped) AS columns
      FROM unnest($1::text[]) AS r`,
    [migrationRelations(t), t.outbox, `${t.bare.outbox}_notify`, Object.keys(addedOutboxColumns)],
  );
  const row = rows[0];
  return (
    row !== undefined &&
    row.missing === 0 &&
    row.notifying === outboxNotify &&
    row.columns === Object.keys(addedOutboxColumns).length
  );
}

/**
 * Creates what is missing of the schema, tables, indexes, trigger and the outbox's added columns (or
 * drops the trigger, see `outboxNotify`); idempotent, resolves when the schema is in place. When
 * everything is there already (every start but the first of a release) it only reads the catalog: DDL
 * on a table, even a `CREATE INDEX IF NOT EXISTS` that creates nothing, takes a lock that waits for
 * every open transaction on it (an inbox handler's, a relay batch's) and makes every new write wait
 * behind it, so a replica starting beside busy ones would stall them all. Otherwise it runs the DDL in
 * one transaction under an advisory lock (replicas starting together wait for each other instead of
 * colliding on the catalog), reading the catalog again once it holds the lock: of replicas that start
 * together, only the first runs the DDL. Needs PostgreSQL 14 or later.
 */
export async function migrate(options: MigrateOptions): Promise<void> {
  const { outboxNotify, ...connection } = options;
  const notify =
    outboxNotify === undefined || new OptionChecker('migrate').boolean('outboxNotify', outboxNotify);
  const { pool, ownsPool, tables } = openConnection('migrate', connection);
  try {
    const client = await pool.connect();
    try {
      if (await inPlace(client, tables, notify)) return;
    } finally {
      client.release();
    }
    await inTransaction(pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('sluice.migrate'))`);
      // A replica that held the lock before this one may have done it all already.
      if (await inPlace(client, tables, notify)) return;
      for (const statement of migrationStatements(tables, notify)) await client.query(statement);
    });
  } finally {
    if (ownsPool) await pool.end();
  }
}
