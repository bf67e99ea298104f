/**
 * Validates options at construction, so a misconfiguration fails at start-up with
 * `SLUICE_INVALID_OPTION` naming the option, never at the first message. Values shown in errors are
 * redacted.
 */
import { defaultLogger, OptionChecker, type Logger } from '@sluice/core';
import type { Options, SocketOptions } from 'amqplib';
import { headerBudget } from './field-values.js';
import { decodeComponent, parseCredentialUrl, Redactor, redactUrl } from './redact.js';
import type {
  ExchangeOptions,
  ExchangeType,
  ManagementOptions,
  QueueType,
  RabbitMqTransportOptions,
  ReconnectOptions,
  TlsOptions,
} from './types.js';

export const defaultUrl = 'amqp://guest:guest@localhost:5672';

/** Where and how to connect, with the secrets kept apart from what is shown. */
export interface ConnectionSettings {
  readonly connect: Options.Connect;
  readonly socket: SocketOptions;
  /** The URL without its password, for logs. */
  readonly displayUrl: string;
  /** The connection name shown by RabbitMQ. */
  readonly name: string;
  readonly vhost: string;
  readonly username: string;
  readonly password: string;
  readonly redactor: Redactor;
}

export interface ResolvedManagement {
  readonly baseUrl: string;
  readonly displayUrl: string;
  readonly authorization: string;
  readonly timeoutMs: number;
}

export interface ResolvedOptions {
  readonly connection: ConnectionSettings;
  readonly confirmWindow: number;
  readonly publishTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnect: Required<ReconnectOptions>;
  readonly queueType: QueueType;
  readonly exchanges: ReadonlyMap<string, ExchangeOptions>;
  readonly persistent: boolean;
  readonly coalesceAcks: boolean;
  readonly redeliveryLimit: number;
  readonly maxMessageBytes: number;
  /** Bytes a published message's header table may take (amqplib's buffer and the frame size). */
  readonly headerBudget: number;
  readonly management: ResolvedManagement | undefined;
  readonly logger: Logger;
}

const exchangeTypes: ReadonlySet<string> = new Set<ExchangeType>(['fanout', 'direct', 'topic', 'headers']);
const queueTypes: ReadonlySet<string> = new Set<QueueType>(['quorum', 'classic']);
const tlsKeys = new Set(['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized']);
const transportKeys = new Set([
  'url',
  'tls',
  'heartbeatSeconds',
  'connectionName',
  'confirmWindow',
  'publishTimeoutMs',
  'connectTimeoutMs',
  'reconnect',
  'queueType',
  'exchanges',
  'persistent',
  'noDelay',
  'coalesceAcks',
  'redeliveryLimit',
  'maxMessageBytes',
  'management',
  'logger',
]);

function pem(check: OptionChecker, option: string, value: unknown): void {
  const ok = (v: unknown) => typeof v === 'string' || Buffer.isBuffer(v);
  if (!(ok(value) || (Array.isArray(value) && value.every(ok)))) {
    check.fail(option, 'must be a PEM string or Buffer', typeof value);
  }
}

function resolveTls(check: OptionChecker, tls: TlsOptions | undefined): Partial<SocketOptions> {
  if (tls === undefined) return {};
  const given = check.object('tls', tls, tlsKeys);
  const socket: Record<string, unknown> = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    if (given[key] !== undefined) {
      pem(check, `tls.${key}`, given[key]);
      socket[key] = Array.isArray(given[key]) ? [...(given[key] as unknown[])] : given[key];
    }
  }
  if (given.passphrase !== undefined) {
    if (typeof given.passphrase !== 'string') check.fail('tls.passphrase', 'must be a string', '***');
    socket.passphrase = given.passphrase;
  }
  if (given.servername !== undefined) socket.servername = check.string('tls.servername', given.servername);
  if (given.rejectUnauthorized !== undefined) {
    socket.rejectUnauthorized = check.boolean('tls.rejectUnauthorized', given.rejectUnauthorized);
  }
  return socket as Partial<SocketOptions>;
}

/** Parses and checks the URL, TLS and socket settings shared by the transport and the tooling. */
export function resolveConnection(
  where: string,
  options: {
    url?: string | undefined;
    tls?: TlsOptions | undefined;
    heartbeatSeconds?: number | undefined;
    connectionName?: string | undefined;
    noDelay?: boolean | undefined;
  },
  env: NodeJS.ProcessEnv = process.env,
): ConnectionSettings {
  const rawUrl: unknown = options.url ?? env.AMQP_URL ?? defaultUrl;
  const parsed = typeof rawUrl === 'string' ? parseCredentialUrl(rawUrl) : undefined;
  const password = parsed === undefined ? undefined : decodeComponent(parsed.password);
  const redactPassword = new Redactor([password]);
  const check: OptionChecker = new OptionChecker(where, (text) => redactPassword.text(text));
  const shown = typeof rawUrl === 'string' ? redactUrl(rawUrl) : rawUrl;
  if (
    parsed === undefined ||
    (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') ||
    parsed.hostname === ''
  ) {
    check.fail(
      'url',
      'must be an amqp:// or amqps:// URL with a host (percent-encode "/", "?", "#", "@" and "%" in the user name, password and vhost)',
      shown,
    );
  }
  const user = decodeComponent(parsed.username);
  const vhostPath = parsed.pathname.length > 1 ? parsed.pathname.slice(1) : '';
  const vhostName = decodeComponent(vhostPath);
  for (const [part, value] of [
    ['user name', user],
    ['password', password],
    ['vhost', vhostName],
  ] as const) {
    if (value === undefined)
      check.fail('url', `has a malformed percent-escape in its ${part} (write "%" as %25)`, shown);
  }
  const secure = parsed.protocol === 'amqps:';
  const port = parsed.port === '' ? (secure ? 5671 : 5672) : Number(parsed.port);
  const anonymous = parsed.username === '' && parsed.password === '';
  const username = anonymous ? 'guest' : (user as string);
  const secret = anonymous ? 'guest' : (password as string);
  const query = parsed.searchParams;
  const queryInt = (name: string, min: number, max: number): number | undefined => {
    const value = query.get(name);
    if (value === null) return undefined;
    if (!/^\d+$/.test(value)) check.fail(`url ?${name}`, `must be an integer from ${min} to ${max}`, value);
    return check.int(`url ?${name}`, Number(value), min, max);
  };
  const heartbeat =
    options.heartbeatSeconds === undefined
      ? (queryInt('heartbeat', 0, 3_600) ?? 30)
      : check.int('heartbeatSeconds', options.heartbeatSeconds, 0, 3_600);
  const connectionName =
    options.connectionName === undefined ? 'sluice' : check.string('connectionName', options.connectionName);
  const noDelay = options.noDelay === undefined ? false : check.boolean('noDelay', options.noDelay);
  const tls = resolveTls(check, options.tls);
  if (!secure && Object.keys(tls).length > 0) check.fail('tls', 'needs an amqps:// url', 'tls options');

  const connect: Options.Connect = {
    protocol: secure ? 'amqps' : 'amqp',
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    username,
    password: secret,
    // amqplib unescapes the vhost itself.
    vhost: vhostPath === '' ? '/' : vhostPath,
    heartbeat,
  };
  const frameMax = queryInt('frameMax', 4_096, 2 ** 31 - 1);
  if (frameMax !== undefined) connect.frameMax = frameMax;
  const channelMax = queryInt('channelMax', 0, 65_535);
  if (channelMax !== undefined) connect.channelMax = channelMax;
  const locale = query.get('locale');
  if (locale !== null) connect.locale = locale;

  return {
    connect,
    socket: { ...tls, noDelay, timeout: 10_000, clientProperties: { connection_name: connectionName } },
    displayUrl: redactUrl(parsed.toString()),
    name: connectionName,
    vhost: vhostPath === '' ? '/' : (vhostName as string),
    username,
    password: secret,
    redactor: new Redactor([secret, typeof tls.passphrase === 'string' ? tls.passphrase : undefined]),
  };
}

function resolveManagement(
  check: OptionChecker,
  value: ManagementOptions | undefined,
  connection: ConnectionSettings,
): ResolvedManagement | undefined {
  if (value === undefined) return undefined;
  const given = check.object('management', value, new Set(['url', 'username', 'password', 'timeoutMs']));
  const url = typeof given.url === 'string' ? parseCredentialUrl(given.url) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    check.fail(
      'management.url',
      'must be an http:// or https:// URL',
      typeof given.url === 'string' ? redactUrl(given.url) : given.url,
    );
  }
  const username =
    given.username !== undefined
      ? check.string('management.username', given.username)
      : url.username !== ''
        ? decodeComponent(url.username)
        : connection.username;
  let password: string | undefined;
  if (given.password !== undefined) {
    if (typeof given.password !== 'string') check.fail('management.password', 'must be a string', '***');
    password = given.password;
  } else password = url.password !== '' ? decodeComponent(url.password) : connection.password;
  if (username === undefined || password === undefined)
    check.fail(
      'management.url',
      'has a malformed percent-escape in its user name or password',
      redactUrl(url.toString()),
    );
  const timeoutMs =
    given.timeoutMs === undefined ? 5_000 : check.int('management.timeoutMs', given.timeoutMs, 1, 600_000);
  const base = new URL(url.toString());
  base.username = '';
  base.password = '';
  const baseUrl = base.toString().replace(/\/+$/, '');
  return {
    baseUrl,
    displayUrl: baseUrl,
    authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    timeoutMs,
  };
}

function resolveExchanges(check: OptionChecker, value: unknown): Map<string, ExchangeOptions> {
  const exchanges = new Map<string, ExchangeOptions>();
  if (value === undefined) return exchanges;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    check.fail('exchanges', 'must be an object', value);
  for (const [topic, entry] of Object.entries(value as Record<string, unknown>)) {
    const option = `exchanges.${topic}`;
    const given = check.object(option, entry, new Set(['type', 'routingKey']));
    if (typeof given.type !== 'string' || !exchangeTypes.has(given.type)) {
      check.fail(`${option}.type`, 'must be one of fanout, direct, topic, headers', given.type);
    }
    if (given.routingKey !== undefined && typeof given.routingKey !== 'function') {
      check.fail(`${option}.routingKey`, 'must be a function (message) => string', given.routingKey);
    }
    exchanges.set(topic, entry as ExchangeOptions);
  }
  return exchanges;
}

/** Validates every transport option; throws `SLUICE_INVALID_OPTION` naming the first bad one. */
export function resolveOptions(
  options: RabbitMqTransportOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const where = 'RabbitMqTransport';
  const top: OptionChecker = new OptionChecker(where);
  if (typeof options !== 'object' || options === null) top.fail('options', 'must be an object', options);
  top.object('', options, transportKeys);
  const connection = resolveConnection(where, options, env);
  const check: OptionChecker = new OptionChecker(where, (text) => connection.redactor.text(text));
  const reconnectGiven =
    options.reconnect === undefined
      ? {}
      : check.object('reconnect', options.reconnect, new Set(['initialMs', 'factor', 'maxMs', 'jitter']));
  const reconnect = {
    initialMs: check.int('reconnect.initialMs', reconnectGiven.initialMs ?? 100, 0, 3_600_000),
    factor: check.number('reconnect.factor', reconnectGiven.factor ?? 2, 1, 100),
    maxMs: check.int('reconnect.maxMs', reconnectGiven.maxMs ?? 10_000, 0, 3_600_000),
    jitter: check.number('reconnect.jitter', reconnectGiven.jitter ?? 0.2, 0, 1),
  };
  if (reconnect.maxMs < reconnect.initialMs)
    check.fail('reconnect.maxMs', 'must be >= reconnect.initialMs', reconnect.maxMs);
  const queueType = options.queueType ?? 'quorum';
  if (!queueTypes.has(queueType)) check.fail('queueType', 'must be "quorum" or "classic"', queueType);
  const logger = options.logger ?? defaultLogger;
  for (const method of ['debug', 'info', 'warn', 'error', 'child'] as const) {
    if (typeof (logger as unknown as Record<string, unknown>)[method] !== 'function') {
      check.fail('logger', `must be a Logger (missing ${method}())`, typeof logger);
    }
  }
  return {
    connection,
    confirmWindow: check.int('confirmWindow', options.confirmWindow ?? 1_000, 1, 65_535),
    publishTimeoutMs: check.int('publishTimeoutMs', options.publishTimeoutMs ?? 30_000, 1, 86_400_000),
    connectTimeoutMs: check.int('connectTimeoutMs', options.connectTimeoutMs ?? 30_000, 0, 86_400_000),
    reconnect,
    queueType,
    exchanges: resolveExchanges(check, options.exchanges),
    persistent: options.persistent === undefined ? true : check.boolean('persistent', options.persistent),
    coalesceAcks:
      options.coalesceAcks === undefined ? true : check.boolean('coalesceAcks', options.coalesceAcks),
    redeliveryLimit:
      options.redeliveryLimit === undefined
        ? 20
        : check.int('redeliveryLimit', options.redeliveryLimit, 1, 1_000_000),
    maxMessageBytes:
      options.maxMessageBytes === undefined
        ? 134_217_728
        : check.int('maxMessageBytes', options.maxMessageBytes, 1, 536_870_912),
    headerBudget: headerBudget(connection.connect.frameMax ?? 131_072),
    management: resolveManagement(check, options.management, connection),
    logger,
  };
}
