import type { StandInTokenCredential } from './access-token.js';
import type { FaultOperation, InjectedFailure } from './faults.js';

/** Options of `startServiceBusStandIn`. */
export interface ServiceBusStandInOptions {
  /** TCP port on 127.0.0.1 (AMQP and HTTPS share it). Default 0: a free port. */
  readonly port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Shared access policy name in the connection string. Default `RootManageSharedAccessKey`. */
  readonly keyName?: string;
  /** Shared access key the stand-in checks signatures with. Default: 32 random bytes, base64. */
  readonly key?: string;
  /** Largest message (or batch) a sender may transfer, in bytes. Default 262144 (256 KiB, Standard tier). */
  readonly maxMessageSizeInBytes?: number;
}

/** Fault hooks a test drives the stand-in with. */
export interface ServiceBusStandInFaults {
  /** Destroys every AMQP client socket at once (the SDK reconnects); how many there were. */
  dropConnections(): number;
  /**
   * Ends peek-locks now, as if each had run out (redelivery, delivery count + 1): those of the entity
   * at `address` (`q`, `t/Subscriptions/s`, `.../$DeadLetterQueue`), or all; how many. Throws for an
   * unknown address.
   */
  expireLocks(address?: string): number;
  /** Makes the next `operation` fail (default: `com.microsoft:server-busy`, status 503). */
  failNext(operation: FaultOperation, failure?: InjectedFailure): void;
}

/** A running stand-in. */
export interface ServiceBusStandIn {
  /**
   * `Endpoint=sb://<host>:<port>;SharedAccessKeyName=...;SharedAccessKey=...;UseDevelopmentEmulator=true`:
   * give it to `ServiceBusClient` as is (plain TCP AMQP) and, with `administrationClientOptions`,
   * to `ServiceBusAdministrationClient`.
   */
  readonly connectionString: string;
  /**
   * `<host>:<port>`, the namespace's "fully qualified" name: with a credential (`tokenCredential`, or
   * a named key credential of `keyName` and `key`) the SDK reaches it over TLS (AMQPS and HTTPS),
   * trusting `ca` (for AMQPS the process must: `NODE_EXTRA_CA_CERTS` or `tls.setDefaultCACertificates`).
   */
  readonly endpoint: string;
  readonly port: number;
  /** PEM of the test CA that signed the HTTPS certificate. */
  readonly ca: string;
  /** Pass as the administration client's options: `{ tlsOptions: { ca } }`. */
  readonly administrationClientOptions: { readonly tlsOptions: { readonly ca: string } };
  /**
   * A `TokenCredential` standing in for Microsoft Entra: its token (for the Service Bus scope
   * `https://servicebus.azure.net//.default` only) is the one bearer token the stand-in accepts, for
   * the whole namespace.
   */
  readonly tokenCredential: StandInTokenCredential;
  readonly faults: ServiceBusStandInFaults;
  /** Stops listening, drops every connection and forgets every entity; resolves once closed. Idempotent. */
  close(): Promise<void>;
}
