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
import { inTransaction } from './transaction.js';

/** A transaction in progress: its client, until it ends. */
interface Scope {
  readonly client: pg.ClientBase;
  ended: boolean;
}

const storage = new AsyncLocalStorage<Scope>();

/**
 * The client of the transaction current in this async context, or undefined outside one. Throws
 * `SLUICE_CLOSED` once that transaction ended: work a handler left running past its return, or code
 * after its own COMMIT or ROLLBACK; either would otherwise write outside the transaction it belonged to.
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
  if (scope.client.getTransactionStatus() === 'I') {
    throw new SluiceError(
      ErrorCodes.CLOSED,
      'the transaction this code runs in was ended inside it (a COMMIT or ROLLBACK of its own): leave committing to the inbox, run() or whoever began it',
    );
  }
  return scope.client;
}

/** Runs `fn` with `client` as the current transaction; marks it ended once `fn` settled. */
export async function inScope<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { client, ended: false };
  try {
    return await storage.run(scope, fn);
  } finally {
    scope.ended = true;
  }
}

/**
 * Runs `fn` inside the transaction open on `client`, under a savepoint: when `fn` rejects, what it
 * did is rolled back (to the savepoint) and the transaction goes on; otherwise it stays part of it.
 */
async function inSavepoint<T>(client: pg.ClientBase, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  await client.query('SAVEPOINT sluice_run');
  try {
    const result = await inScope(client, () => fn(client));
    await client.query('RELEASE SAVEPOINT sluice_run');
    return result;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT sluice_run').catch(() => undefined);
    throw error;
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
   * Runs `fn` in a transaction, current for everything it awaits (the bus's sends and publishes go
   * to the outbox in it). Outside a transaction: a new one on the pool, committed once `fn` resolved;
   * resolves with what `fn` returned once the commit is done, and when `fn` or the commit fails it
   * rolls back (nothing is published) and rejects (`SLUICE_TRANSACTION_ABORTED` when a statement
   * failed and `fn` caught the error, or `fn` ended the transaction itself). Inside one (an inbox
   * handler, another `run`, `enlist`): `fn` joins it under a savepoint, so its work commits or rolls
   * back with the enclosing transaction, and when `fn` rejects its work alone is rolled back.
   */
  run<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const current = currentTransactionClient();
    if (current !== undefined) return inSavepoint(current, fn);
    return inTransaction(this.pool, (client) => inScope(client, () => fn(client)));
  }

  /**
   * Makes `client`, in a transaction the caller began and will end, the current transaction while
   * `fn` runs: the bus's sends and publishes in `fn` are written to the outbox in it, published once
   * the caller commits, never if it rolls back. Rejects with `SLUICE_CLOSED`, running nothing, when
   * `client` is not in a transaction (no BEGIN: each write would commit on its own).
   */
  enlist<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
    if (client.getTransactionStatus() === 'I') {
      return Promise.reject(
        new SluiceError(
          ErrorCodes.CLOSED,
          'enlist() needs a client in a transaction: run BEGIN on it first (or use run())',
        ),
      );
    }
    return inScope(client, fn);
  }
}
