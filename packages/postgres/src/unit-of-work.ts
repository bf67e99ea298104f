/**
 * The transaction a handler (or any code) works in, carried through async calls. The inbox runs each
 * handler call inside one, and `run` / `enlist` open one anywhere else (an HTTP handler); while one
 * is current, `PostgresOutbox` writes the messages the bus sends into it instead of publishing them.
 * Inject `PostgresUnitOfWork` (one instance serves every message: it reads the current transaction
 * when called) rather than passing clients around.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ErrorCodes, SluiceError } from '@sluice/core';
import type pg from 'pg';

/** A transaction in progress: its client, until it ends. */
interface Scope {
  readonly client: pg.ClientBase;
  ended: boolean;
}

const storage = new AsyncLocalStorage<Scope>();

/**
 * The client of the transaction current in this async context, or undefined outside one. Rejects
 * use after the transaction ended (work a handler left running past its return), which would
 * otherwise write outside the transaction it belonged to.
 */
export function currentTransactionClient(): pg.ClientBase | undefined {
  const scope = storage.getStore();
  if (scope === undefined) return undefined;
  if (scope.ended) {
    throw new SluiceError(
      ErrorCodes.CLOSED,
      'the transaction this code ran in has already committed or rolled back (work left running after the handler returned?)',
    );
  }
  return scope.client;
}

/** Runs `fn` with `client` as the current transaction; marks it ended once `fn` settled. */
async function inScope<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { client, ended: false };
  try {
    return await storage.run(scope, fn);
  } finally {
    scope.ended = true;
  }
}

/**
 * Opens a transaction on `pool` (BEGIN, plus `setup` in the same round trip when given), runs `fn`
 * in it as the current transaction and commits; rolls back and rethrows when `fn` or the commit
 * fails. The client goes back to the pool afterwards (destroyed instead when the rollback failed).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  setup = '',
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(setup === '' ? 'BEGIN' : `BEGIN; ${setup}`);
    try {
      const result = await inScope(client, () => fn(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError as Error;
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

/**
 * The unit of work handlers and services inject: the current transaction's client and queries on it,
 * and transactions of their own outside a handler.
 */
export class PostgresUnitOfWork {
  /** @param pool where `run` opens its transactions. */
  constructor(readonly pool: pg.Pool) {}

  /**
   * The current transaction's client (the inbox's around a handler call, or one of `run` or
   * `enlist`); throws `SLUICE_CLOSED` outside one, or once it ended.
   */
  get client(): pg.ClientBase {
    const client = currentTransactionClient();
    if (client === undefined) {
      throw new SluiceError(
        ErrorCodes.CLOSED,
        'no transaction is current: use the unit of work inside an inbox handler, run() or enlist()',
      );
    }
    return client;
  }

  /** A query in the current transaction (see `client`; rejects where that throws). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, values as unknown[] | undefined);
  }

  /**
   * Runs `fn` in a new transaction on the pool, current for everything it awaits (the bus's sends
   * and publishes go to the outbox in it), and commits. Resolves with what `fn` returned once the
   * commit is done; when `fn` or the commit fails it rolls back (nothing is published) and rejects.
   */
  run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  /**
   * Makes `client`, in a transaction the caller began and will end, the current transaction while
   * `fn` runs: the bus's sends and publishes in `fn` are written to the outbox in it, published once
   * the caller commits, never if it rolls back.
   */
  enlist<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
    return inScope(client, fn);
  }
}
