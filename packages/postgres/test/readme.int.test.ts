/** The README's usage blocks run against the real PostgreSQL (and the schema they use is dropped after). */
import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { readmeExamples } from '../../../test/readme-examples.js';
import { databaseUrl } from './support/database.js';

const examples = readmeExamples('packages/postgres/README.md');

afterAll(async () => {
  const pool = new pg.Pool({ connectionString: await databaseUrl() });
  await pool.query('DROP SCHEMA IF EXISTS shop CASCADE');
  await pool.end();
});

it('has its usage blocks', () => {
  expect(examples).toHaveLength(2);
});

it.each(examples)('%s runs', async (_label, file) => {
  process.env.DATABASE_URL ??= await databaseUrl();
  await import(file);
});
