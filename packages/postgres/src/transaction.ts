/**
 * The one way this package runs a transaction on a pooled client (the inbox's handler calls, a unit
 * of work's `run`, the relay's batches, the migration): it commits only a transaction that is still
 * whole, and a connection that dies while the transaction waits on other work (a handler's HTTP call,
 * the broker's confirms) fails the transaction instead of the process.
 */
import { ErrorCodes, SluiceError, toError } from '@sluice/core';
import type pg from 'pg';

/**
 * Commits the transaction open on `client`; rejects with `SLUICE_TRANSACTION_ABORTED` when there is
 * nothing whole to commit: the code in it ended it itself (its own COMMIT or ROLLBACK), or a
 * statement in it failed and its error was caught, and PostgreSQL answers the COMMIT with a rollback
 * (without an error of its own).
 */
async function commit(client: pg.ClientBase): Promise<void> {
  if (client.getTransactionStatus() === 'I') {
    throw new SluiceError(
      ErrorCodes.TRANSACTION_ABORTED,
      'the transaction was ended by the code running in it (a COMMIT or ROLLBACK of its own): what it did after that was not part of the transaction',
    );
  }
  const { command } = await client.query('COMMIT');
  if (command !== 'COMMIT') {
    throw new SluiceError(
      ErrorCodes.TRANSACTION_ABORTED,
      'the transaction rolled back instead of committing: a statement in it failed and its error was caught, so PostgreSQL refused the rest (nothing of it was kept)',
    );
  }
}

/**
 * Takes a client from `pool`, opens a transaction (BEGIN, plus `setup` in the same round trip when
 * given), runs `fn` and commits; resolves with what `fn` returned once the commit is done. Rolls back
 * and rejects when `fn` rejects or the transaction cannot commit (see `commit`). The client goes back
 * to the pool afterwards, or is destroyed when its connection failed or the rollback did. While the
 * client is out, a connection error is held, not thrown: the next statement (or the commit) fails.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  setup = '',
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // Without a listener, an 'error' on a checked-out client (its backend terminated while no query
  // runs) is an uncaught exception: pg-pool listens only to idle clients.
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  try {
    await client.query(setup === '' ? 'BEGIN' : `BEGIN; ${setup}`);
    try {
      const result = await fn(client);
      await commit(client);
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken ??= toError(rollbackError);
      });
      throw error;
    }
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
