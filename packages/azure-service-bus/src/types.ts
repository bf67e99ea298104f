/** Public options of the Azure Service Bus transport and its dead-letter tooling. Defaults on each. */
import type { ServiceBusClient } from '@azure/service-bus';
import type { Backoff, Fault, Logger } from '@sluice/core';

/** A credential `@azure/identity` makes (`DefaultAzureCredential`, a managed identity, ...). */
export type ServiceBusCredential = ConstructorParameters<typeof ServiceBusClient>[1];

/** Where the namespace is and how to sign in: a connection string, or a namespace and a credential. */
export interface ServiceBusConnectionOptions {
  /**
   * `Endpoint=sb://<namespace>/;SharedAccessKeyName=<policy>;SharedAccessKey=<key>` (an emulator or
   * the test stand-in adds `UseDevelopmentEmulator=true`). Its key is never logged nor put in an error.
   */
  readonly connectionString?: string;
  /** The fully qualified namespace (`<name>.servicebus.windows.net`), with `credential`. */
  readonly namespace?: string;
  /**
   * With `namespace`: the Microsoft Entra credential. Default: `DefaultAzureCredential` from
   * `@azure/identity` (an optional peer dependency, loaded only then).
   */
  readonly credential?: ServiceBusCredential;
  /**
   * PEM certificate authorities the administration client (HTTPS) trusts besides Node's, such as
   * the stand-in's test CA. Default: none (`NODE_EXTRA_CA_CERTS` works too).
   */
  readonly tlsCa?: string;
}

/** SDK retries of one operation (connection, link, send, settle, management request). */
export interface ServiceBusRetryOptions {
  /** Tries after the first. Default 3. */
  readonly maxRetries?: number;
  /** First delay, doubled each try. Default 1,000 ms (the SDK's own is 30 s). */
  readonly delayMs?: number;
  /** Longest delay. Default 10,000 ms. */
  readonly maxDelayMs?: number;
  /** How long one try may take. Default 30,000 ms. */
  readonly timeoutMs?: number;
}

export interface AzureServiceBusTransportOptions extends ServiceBusConnectionOptions {
  /**
   * Creates the queues, topics, forwarding subscriptions and rules an endpoint needs (through
   * `ServiceBusAdministrationClient`, so the key or credential needs Manage rights) and updates the
   * settings and rules that differ. `false`: touch nothing; the entities must exist (a missing one
   * keeps the consumer down, and `/readyz` false, until it does). Default true.
   */
  readonly provision?: boolean;
  /** Lock duration of the queues it creates (Service Bus allows 5 s to 5 min). Default 60,000 ms. */
  readonly lockDurationMs?: number;
  /**
   * `MaxDeliveryCount` of the queues it creates: deliveries of one message (lock losses, crashes,
   * releases) after which Service Bus moves it to the dead-letter queue itself
   * (`MaxDeliveryCountExceeded`). Sluice's own retries send fresh copies and do not count. Default 10.
   */
  readonly maxDeliveryCount?: number;
  /**
   * How long the transport renews a delivery's lock while it is unsettled, from its arrival; after
   * that the lock runs out, the delivery's signal aborts with `SLUICE_LOCK_LOST` and Service Bus
   * redelivers it. 0 turns renewal off. Default 300,000 ms (the SDK's).
   */
  readonly maxLockRenewalMs?: number;
  /** SDK retries (the SDK's default delay of 30 s would stall recovery). */
  readonly retry?: ServiceBusRetryOptions;
  /** Backoff of a consumer restarted after its receiver failed. Default 500 ms x2, at most 30 s, jitter 0.2. */
  readonly reconnect?: Partial<Backoff>;
  /** How long `publish` waits for Service Bus to accept a message. Default 30,000 ms. */
  readonly publishTimeoutMs?: number;
  /** How long `connect` (and a subscribe's first declaration) may try. Default 30,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Default: core's `defaultLogger`. */
  readonly logger?: Logger;
}

/** What the dead-letter tooling knows of one dead letter. */
export interface DeadLetter {
  /** The Sluice message id (kept on replay). */
  readonly messageId: string;
  readonly type: string;
  readonly contentType: string;
  readonly correlationId: string | undefined;
  readonly sentAt: Date | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The fault Sluice recorded, when Sluice dead-lettered it. */
  readonly fault: Fault | undefined;
  /** Service Bus's own reason (`max-attempts`, `MaxDeliveryCountExceeded`, `TTLExpiredException`, ...). */
  readonly reason: string | undefined;
  readonly description: string | undefined;
  /** The queue it came from (where a replay sends it). */
  readonly sourceQueue: string;
  /** Service Bus's sequence number in the dead-letter queue. */
  readonly sequenceNumber: string;
  /** What could not be read (an odd property, a body that is not bytes). */
  readonly problems: readonly string[];
}

/** What {@link DeadLetters.replay} did. */
export interface ReplayResult {
  readonly replayed: readonly string[];
  readonly notFound: readonly string[];
  readonly failed: readonly { readonly messageId: string; readonly error: string }[];
}

export interface DeadLettersOptions extends ServiceBusConnectionOptions {
  readonly retry?: ServiceBusRetryOptions;
  readonly logger?: Logger;
}
