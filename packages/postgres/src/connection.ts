/**
 * What every PostgreSQL component takes: a pool (passed in, or created from a URL and then owned and
 * ended by the component) and where its tables live. Names are checked at construction, so a bad
 * option fails at start-up naming the option, and a URL is never shown with its password.
 */
import { OptionChecker, redactUrl } from '@sluice/core';
import pg from 'pg';

/** Table names; each is created by `migrate` under `schema`. */
export interface TableNames {
  /** The idempotency store's claims and records. Default `sluice_idempotency`. */
  readonly idempotency?: string;
  /** The inbox's handled records. Default `sluice_inbox`. */
  readonly inbox?: string;
  /** The outbox's messages waiting to be (or recently) published. Default `sluice_outbox`. */
  readonly outbox?: string;
}

/** Where a component connects and which tables it uses. */
export interface PostgresOptions {
  /** A pool the caller owns (never ended by the component). One of `pool` and `url` is required. */
  readonly pool?: pg.Pool;
  /**
   * A `postgres://` or `postgresql://` URL; the component creates a pool of its own from it and ends
   * it on `close()`.
   */
  readonly url?: string;
  /** The schema of the tables: lowercase letters, digits and `_`. Default `public`. */
  readonly schema?: string;
  /** Table names: lowercase letters, digits and `_`, at most 48 characters. Defaults: see `TableNames`. */
  readonly tables?: TableNames;
}

/** Fully qualified, quoted table names (safe to put in SQL text). */
export interface QualifiedTables {
  readonly schema: string;
  readonly idempotency: string;
  readonly inbox: string;
  readonly outbox: string;
  /** The NOTIFY channel of the outbox: new rows are announced on it when their transaction commits. */
  readonly outboxChannel: string;
  /** Unquoted names, for index and trigger names derived from them. */
  readonly bare: {
    readonly schema: string;
    readonly idempotency: string;
    readonly inbox: string;
    readonly outbox: string;
  };
}

export interface Connection {
  readonly pool: pg.Pool;
  /** True when the pool was created from `url`: `close` ends it. */
  readonly ownsPool: boolean;
  readonly tables: QualifiedTables;
}

const identifier = /^[a-z_][a-z0-9_]{0,47}$/;
const knownOptions = new Set(['pool', 'url', 'schema', 'tables']);
const tableOptions = new Set(['idempotency', 'inbox', 'outbox']);

function name(check: OptionChecker, option: string, value: unknown, fallback: string): string {
  const given = value ?? fallback;
  if (typeof given !== 'string' || !identifier.test(given)) {
    check.fail(option, 'must be 1-48 lowercase letters, digits or "_", not starting with a digit', given);
  }
  return given;
}

/** Table names checked and quoted; throws `SLUICE_INVALID_OPTION` naming `<where>` and the option. */
export function qualifiedTables(
  where: string,
  options: Pick<PostgresOptions, 'schema' | 'tables'>,
): QualifiedTables {
  const check: OptionChecker = new OptionChecker(where);
  const tables = options.tables === undefined ? {} : check.object('tables', options.tables, tableOptions);
  const bare = {
    schema: name(check, 'schema', options.schema, 'public'),
    idempotency: name(check, 'tables.idempotency', tables.idempotency, 'sluice_idempotency'),
    inbox: name(check, 'tables.inbox', tables.inbox, 'sluice_inbox'),
    outbox: name(check, 'tables.outbox', tables.outbox, 'sluice_outbox'),
  };
  const quoted = (table: string) => `"${bare.schema}"."${table}"`;
  return {
    schema: `"${bare.schema}"`,
    idempotency: quoted(bare.idempotency),
    inbox: quoted(bare.inbox),
    outbox: quoted(bare.outbox),
    // NOTIFY channels are identifiers of at most 63 bytes; a clash of two long names only wakes a relay.
    outboxChannel: `${bare.schema}.${bare.outbox}`.slice(0, 63),
    bare,
  };
}

/** Checks `options` and opens (or takes) the pool; throws `SLUICE_INVALID_OPTION` naming the option. */
export function openConnection(where: string, options: PostgresOptions): Connection {
  const check: OptionChecker = new OptionChecker(where, redactUrl);
  check.object('', options, knownOptions);
  const tables = qualifiedTables(where, options);
  if ((options.pool === undefined) === (options.url === undefined)) {
    check.fail(
      'pool',
      'or "url" must be given, one of them and not both',
      options.pool === undefined ? 'neither' : 'both',
    );
  }
  if (options.pool !== undefined) {
    if (typeof (options.pool as Partial<pg.Pool>).connect !== 'function') {
      check.fail('pool', 'must be a pg Pool', typeof options.pool);
    }
    return { pool: options.pool, ownsPool: false, tables };
  }
  const url = options.url;
  let protocol: string | undefined;
  try {
    protocol = typeof url === 'string' ? new URL(url).protocol : undefined;
  } catch {
    protocol = undefined;
  }
  if (typeof url !== 'string' || (protocol !== 'postgres:' && protocol !== 'postgresql:')) {
    check.fail('url', 'must be a postgres:// or postgresql:// URL', url);
  }
  const pool = new pg.Pool({ connectionString: url });
  // An idle client that loses its server (a restart) must not crash the process; the next query
  // takes a new one.
  pool.on('error', () => undefined);
  return { pool, ownsPool: true, tables };
}
