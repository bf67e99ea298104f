/**
 * The namespace connection: the connection string read and checked (its key never shown), or a
 * namespace with a credential; the redaction every log line and error goes through; and the SDK
 * clients made from it.
 */
import {
  RetryMode,
  ServiceBusAdministrationClient,
  ServiceBusClient,
  type RetryOptions,
  type ServiceBusClientOptions,
} from '@azure/service-bus';
import { ErrorCodes, type OptionChecker, SluiceError, type Backoff } from '@sluice/core';
import type { ServiceBusConnectionOptions, ServiceBusCredential, ServiceBusRetryOptions } from './types.js';

/** Where the namespace is, as read from the options; `describe` never holds a secret. */
export interface ResolvedConnection {
  /** Host name of the namespace (`server.address`). */
  readonly host: string;
  /** AMQP port (`server.port`): 5671 with TLS, the emulator's port otherwise. */
  readonly port: number;
  /** The connection string, or the namespace and credential (a function: never serialised). */
  readonly source: () =>
    | { readonly connectionString: string }
    | { readonly namespace: string; readonly credential: ServiceBusCredential | undefined };
  readonly tlsCa: string | undefined;
  /** `sb://host:port` for log lines. */
  readonly describe: string;
  /** Removes every secret (the key, a signature) from a text. */
  readonly redact: (text: string) => string;
}

const secretPatterns = [/(SharedAccessKey=)[^;]*/gi, /(SharedAccessSignature=)[^;]*/gi, /(sig=)[^&;\s"']*/gi];

function redactor(secrets: readonly string[]): (text: string) => string {
  return (text) => {
    let redacted = text;
    for (const secret of secrets) if (secret.length >= 4) redacted = redacted.split(secret).join('***');
    for (const pattern of secretPatterns) redacted = redacted.replace(pattern, '$1***');
    return redacted;
  };
}

/** The connection string's fields (case-insensitive keys, as the SDK reads them). */
function fieldsOf(connectionString: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const at = part.indexOf('=');
    if (part.trim() === '') continue;
    fields.set(
      (at < 0 ? part : part.slice(0, at)).trim().toLowerCase(),
      at < 0 ? '' : part.slice(at + 1).trim(),
    );
  }
  return fields;
}

/** What kind of credential `value` is, as the SDK tells them apart (`@azure/core-auth`); undefined for none. */
function credentialKind(value: unknown): 'token' | 'named-key' | 'sas' | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  if (typeof fields.getToken === 'function') return 'token';
  if (typeof fields.name === 'string' && typeof fields.key === 'string') return 'named-key';
  if (typeof fields.signature === 'string') return 'sas';
  return undefined;
}

/**
 * Checks the connection options; throws `SLUICE_INVALID_OPTION` naming the option, with any key in
 * the value shown as `***`.
 */
export function resolveConnection(
  check: OptionChecker,
  options: ServiceBusConnectionOptions,
): ResolvedConnection {
  const { connectionString, namespace, credential, tlsCa } = options;
  if (tlsCa !== undefined && (typeof tlsCa !== 'string' || !tlsCa.includes('BEGIN CERTIFICATE'))) {
    check.fail('tlsCa', 'must be PEM text (-----BEGIN CERTIFICATE-----)', '(not shown)');
  }
  if ((connectionString === undefined) === (namespace === undefined)) {
    check.fail('connectionString', 'or namespace (with a credential) must be given, not both', '(not shown)');
  }
  if (connectionString !== undefined) {
    if (credential !== undefined) {
      check.fail(
        'credential',
        'goes with namespace, not with connectionString (which signs in itself)',
        '(not shown)',
      );
    }
    if (typeof connectionString !== 'string')
      check.fail('connectionString', 'must be a string', typeof connectionString);
    const fields = fieldsOf(connectionString);
    const secrets = [fields.get('sharedaccesskey') ?? '', fields.get('sharedaccesssignature') ?? ''];
    const redact = redactor(secrets);
    const shown = redact(connectionString);
    const endpoint = /^sb:\/\/([^/:;]+)(?::(\d+))?\/?$/i.exec(fields.get('endpoint') ?? '');
    if (endpoint === null) {
      check.fail('connectionString', 'must start Endpoint=sb://<namespace>/', shown);
    }
    if (
      !fields.has('sharedaccesssignature') &&
      (!fields.get('sharedaccesskeyname') || !fields.get('sharedaccesskey'))
    ) {
      check.fail(
        'connectionString',
        'must hold SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature)',
        shown,
      );
    }
    if (fields.has('entitypath')) {
      check.fail('connectionString', 'must name the namespace, not an entity (no EntityPath)', shown);
    }
    const host = endpoint[1] as string;
    const emulator = fields.get('usedevelopmentemulator')?.toLowerCase() === 'true';
    const port = endpoint[2] === undefined ? (emulator ? 5672 : 5671) : Number(endpoint[2]);
    return {
      host,
      port,
      source: () => ({ connectionString }),
      tlsCa,
      describe: `sb://${host}:${port}`,
      redact,
    };
  }
  if (typeof namespace !== 'string' || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(namespace)) {
    check.fail(
      'namespace',
      'must be a fully qualified namespace such as my-ns.servicebus.windows.net',
      namespace,
    );
  }
  if (credential !== undefined && credentialKind(credential) === undefined) {
    check.fail(
      'credential',
      'must be a TokenCredential (getToken, as @azure/identity makes), a NamedKeyCredential (name, key) or a SASCredential (signature)',
      credential === null ? 'null' : typeof credential,
    );
  }
  const [host, port] = namespace.split(':') as [string, string | undefined];
  return {
    host,
    port: port === undefined ? 5671 : Number(port),
    source: () => ({ namespace, credential }),
    tlsCa,
    describe: `sb://${namespace}`,
    redact: redactor([]),
  };
}

/** The SDK's retry options from ours, checked. */
export function resolveRetry(check: OptionChecker, retry: ServiceBusRetryOptions | undefined): RetryOptions {
  const given =
    retry === undefined
      ? {}
      : (check.object(
          'retry',
          retry,
          new Set(['maxRetries', 'delayMs', 'maxDelayMs', 'timeoutMs']),
        ) as ServiceBusRetryOptions);
  return {
    maxRetries: check.int('retry.maxRetries', given.maxRetries ?? 3, 0, 100),
    retryDelayInMs: check.int('retry.delayMs', given.delayMs ?? 1_000, 1, 600_000),
    maxRetryDelayInMs: check.int('retry.maxDelayMs', given.maxDelayMs ?? 10_000, 1, 600_000),
    timeoutInMs: check.int('retry.timeoutMs', given.timeoutMs ?? 30_000, 100, 600_000),
    mode: RetryMode.Exponential,
  };
}

/** A backoff from partial settings over `defaults`, checked. */
export function resolveBackoff(
  check: OptionChecker,
  option: string,
  value: Partial<Backoff> | undefined,
  defaults: Backoff,
): Backoff {
  const merged = {
    ...defaults,
    ...(value === undefined
      ? {}
      : check.object(option, value, new Set(['initialMs', 'factor', 'maxMs', 'jitter']))),
  } as Backoff;
  return {
    initialMs: check.int(`${option}.initialMs`, merged.initialMs, 1, 600_000),
    factor: check.number(`${option}.factor`, merged.factor, 1, 100),
    maxMs: check.int(`${option}.maxMs`, merged.maxMs, 1, 3_600_000),
    jitter: check.number(`${option}.jitter`, merged.jitter, 0, 1),
  };
}

/** The AMQP client and the administration client of a namespace. */
export interface ServiceBusClients {
  readonly client: ServiceBusClient;
  readonly admin: ServiceBusAdministrationClient;
}

async function defaultCredential(): Promise<ServiceBusCredential> {
  try {
    const identity = (await import('@azure/identity' as string)) as {
      DefaultAzureCredential: new () => ServiceBusCredential;
    };
    return new identity.DefaultAzureCredential();
  } catch (error) {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      'namespace without credential needs @azure/identity (npm install @azure/identity) for DefaultAzureCredential, or pass credential',
      { cause: error },
    );
  }
}

/** Makes the SDK clients; nothing connects yet (the SDK opens connections on first use). */
export async function createClients(
  connection: ResolvedConnection,
  retryOptions: RetryOptions,
): Promise<ServiceBusClients> {
  const clientOptions: ServiceBusClientOptions = { retryOptions };
  const adminOptions = connection.tlsCa === undefined ? {} : { tlsOptions: { ca: connection.tlsCa } };
  const source = connection.source();
  if ('connectionString' in source) {
    return {
      client: new ServiceBusClient(source.connectionString, clientOptions),
      admin: new ServiceBusAdministrationClient(source.connectionString, adminOptions),
    };
  }
  const credential = source.credential ?? (await defaultCredential());
  return {
    client: new ServiceBusClient(source.namespace, credential, clientOptions),
    admin: new ServiceBusAdministrationClient(source.namespace, credential as never, adminOptions),
  };
}
