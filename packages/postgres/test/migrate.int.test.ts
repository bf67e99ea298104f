/**
 * The migration as replicas run it, on the real PostgreSQL: several at once on a database that has
 * none of the schema, again and again at every start, and at the start of a replica while the running
 * ones hold transactions open on the tables (an inbox handler waiting on an HTTP call, a relay waiting
 * for the broker's confirms).
 */
import { randomUUID } from 'node:crypto';
import { migrate } from '@sluice/postgres';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../rabbitmq/test/support/broker.js';
import { databaseUrl } from './support/database.js';

describe('migrate', () => {
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  /** A pool of its own (a replica) on the test database. */
  async function replica(): Promise<pg.Pool> {
    const pool = new pg.Pool({ connectionString: await databaseUrl(), max: 3 });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    return pool;
  }

  /** A schema name nobody has created yet; dropped after the test. */
  async function freshSchema(): Promise<string> {
    const name = `migrate_${randomUUID().slice(0, 8)}`;
    const admin = await replica();
    cleanups.push(() => admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`));
    return name;
  }

  const tables = { idempotency: 'claims', inbox: 'handled', outbox: 'pending' };

  async function triggers(pool: pg.Pool, schema: string): Promise<string[]> {
    const { rows } = await pool.query<{ tgname: string }>(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal`,
      [`"${schema}"."pending"`],
    );
    return rows.map((row) => row.tgname);
  }

  it('creates the schema once when four replicas migrate at the same moment, and changes nothing when run again', async () => {
    const schema = await freshSchema();
    const pools = await Promise.all([replica(), replica(), replica(), replica()]);
    await Promise.all(pools.map((pool) => migrate({ pool, schema, tables })));
    const pool = pools[0] as pg.Pool;
    const { rows } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY 1`,
      [schema],
    );
    expect(rows.map((row) => row.name)).toEqual([
      'claims',
      'claims_expires_at',
      'claims_pkey',
      'handled',
      'handled_handled_at',
      'handled_pkey',
      'pending',
      'pending_pending',
      'pending_pending_aggregate',
      'pending_pkey',
      'pending_published_at',
    ]);
    expect(await triggers(pool, schema)).toEqual(['pending_notify']);
    await pool.query(`INSERT INTO "${schema}".handled (key, queue, message_id) VALUES ('\\x01', 'q', 'm')`);
    await Promise.all(pools.map((each) => migrate({ pool: each, schema, tables })));
    expect((await pool.query(`SELECT message_id FROM "${schema}".handled`)).rows).toEqual([
      { message_id: 'm' },
    ]);
    // The trigger follows the setting of the latest run, both ways.
    await migrate({ pool, schema, tables, outboxNotify: false });
    expect(await triggers(pool, schema)).toEqual([]);
    await migrate({ pool, schema, tables, outboxNotify: false });
    expect(await triggers(pool, schema)).toEqual([]);
    await migrate({ pool, schema, tables });
    expect(await triggers(pool, schema)).toEqual(['pending_notify']);
  });

  it('adds the outbox columns of later releases to an outbox made before them, once for replicas starting together, keeping its rows', async () => {
    const schema = await freshSchema();
    const pool = await replica();
    await migrate({ pool, schema, tables });
    // The outbox as the first release made it: without consumer_queue.
    await pool.query(`ALTER TABLE "${schema}".pending DROP COLUMN consumer_queue`);
    await pool.query(
      `INSERT INTO "${schema}".pending (message_id, type, content_type, sent_at, headers, body, topic, mandatory)
        VALUES ('old', 't', 'application/json', now(), '{}', '\\x7b7d', 't', true)`,
    );
    // Replicas of the new release starting together: one adds the column, the others find it there.
    const replicas = await Promise.all([replica(), replica(), replica()]);
    await Promise.all(replicas.map((each) => migrate({ pool: each, schema, tables })));
    const { rows } = await pool.query(`SELECT message_id, consumer_queue FROM "${schema}".pending`);
    expect(rows).toEqual([{ message_id: 'old', consumer_queue: null }]);
  });

  it('at a new replica’s start, neither waits for the running replicas’ open transactions nor holds up their writes', async () => {
    const schema = await freshSchema();
    const running = await replica();
    await migrate({ pool: running, schema, tables });
    // A running replica's transaction that wrote to every table and stays open.
    const open = await running.connect();
    let released = false;
    const releaseOpen = async () => {
      if (!released) open.release(true);
      released = true;
    };
    cleanups.push(releaseOpen);
    await open.query('BEGIN');
    await open.query(`INSERT INTO "${schema}".claims VALUES ('\\x01', 't', now())`);
    await open.query(`INSERT INTO "${schema}".handled (key, queue, message_id) VALUES ('\\x01', 'q', 'm')`);
    await open.query(`INSERT INTO "${schema}".pending
        (message_id, type, content_type, sent_at, headers, body, queue, mandatory)
      VALUES ('m', 't.x.v1', 'application/json', now(), '{}', '\\x', 'q', false)`);

    const starting = await replica();
    // Cleaned up before the starting replica's pool is ended: that waits for the migration.
    cleanups.push(releaseOpen);
    let done = false;
    const started = performance.now();
    const migrated = migrate({ pool: starting, schema, tables }).then(() => {
      done = true;
      return performance.now() - started;
    });
    const queued = async () =>
      (
        await running.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
          [`%${schema}%`],
        )
      ).rowCount !== 0;
    await eventually(
      async () => done || (await queued()),
      10_000,
      'the migration to end or to wait on a lock',
    );
    // Another running replica's write goes through at once (it would queue behind a migration waiting
    // for a table lock, and fail on its lock_timeout).
    const other = await running.connect();
    cleanups.push(async () => other.release(true));
    await other.query(`SET lock_timeout = 1000`);
    await other.query(`INSERT INTO "${schema}".claims VALUES ('\\x02', 't', now())`);
    const outcome = await Promise.race([
      migrated,
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 3_000)),
    ]);
    expect(outcome).toBeTypeOf('number');
    await open.query('COMMIT');
    expect(await migrated).toBeTypeOf('number');
  });
});
