/**
 * The real PostgreSQL the tests use (127.0.0.1:5432, trust auth, database `test`): a schema of its own
 * per test, dropped afterwards with everything in it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const candidates = process.env.DATABASE_URL
  ? [process.env.DATABASE_URL]
  : ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

let chosen: Promise<string> | undefined;

/** The first candidate URL that accepts a connection (the `postgres` user, else `root`). */
export function databaseUrl(): Promise<string> {
  chosen ??= (async () => {
    const failures: string[] = [];
    for (const url of candidates) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.end();
        return url;
      } catch (error) {
        failures.push(`${new URL(url).username}: ${(error as Error).message}`);
      }
    }
    throw new Error(`no PostgreSQL to test against (${failures.join('; ')})`);
  })();
  return chosen;
}

/** A schema of its own with a pool on the test database. */
export class TestSchema {
  private constructor(
    readonly name: string,
    readonly url: string,
    readonly pool: pg.Pool,
  ) {}

  static async create(prefix: string): Promise<TestSchema> {
    const url = await databaseUrl();
    const name = `${prefix}_${randomUUID().slice(0, 8)}`.replace(/[^a-z0-9_]/g, '_');
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    pool.on('error', () => undefined);
    await pool.query(`CREATE SCHEMA "${name}"`);
    return new TestSchema(name, url, pool);
  }

  /** Drops the schema with everything in it and ends the pool. */
  async drop(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.name}" CASCADE`);
    await this.pool.end();
  }
}
