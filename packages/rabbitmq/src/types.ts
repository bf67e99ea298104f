/** Public types of `@sluice/rabbitmq`. Every option lists its default. */
import type { Fault, Logger, OutgoingMessage } from '@sluice/core';

/** RabbitMQ exchange kinds reachable through options. */
export type ExchangeType = 'fanout' | 'direct' | 'topic' | 'headers';

/** Queue types Sluice declares. */
export type QueueType = 'quorum' | 'classic';

/** How one topic's exchange is declared and how messages are routed into it. */
export interface ExchangeOptions {
  /** Exchange kind. Default `fanout` (every bound queue gets a copy, routing keys are ignored). */
  readonly type: ExchangeType;
  /**
   * Routing key of a message published to this topic (`direct` and `topic` exchanges route on it).
   * Default: the message type name.
   */
  readonly routingKey?: (message: OutgoingMessage) => string;
}

/** Exponential reconnect backoff: delay n = min(maxMs, initialMs * factor^(n-1)) +/- jitter. */
export interface ReconnectOptions {
  /** First delay. Default 100 ms. */
  readonly initialMs?: number;
  /** Growth per attempt. Default 2. */
  readonly factor?: number;
  /** Cap on one delay. Default 10,000 ms. */
  readonly maxMs?: number;
  /** Random spread as a fraction of the delay, 0 to 1. Default 0.2. */
  readonly jitter?: number;
}

/** TLS settings for `amqps://` URLs, passed to `tls.connect`. PEM strings or buffers. */
export interface TlsOptions {
  /** Trusted CA certificates. Default: Node's bundled roots. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate (for mutual TLS / the EXTERNAL mechanism). */
  readonly cert?: string | Buffer;
  /** Client private key. */
  readonly key?: string | Buffer;
  /** Passphrase of `key`. Never logged. */
  readonly passphrase?: string;
  /** Server name for SNI and certificate checks. Default: the URL's host name. */
  readonly servername?: string;
  /** Verify the server certificate. Default true. */
  readonly rejectUnauthorized?: boolean;
}

/** The RabbitMQ management HTTP API, used for queue depth (ready + unacknowledged). */
export interface ManagementOptions {
  /** Base URL, such as `http://127.0.0.1:15672`. Credentials in it are used and redacted from logs. */
  readonly url: string;
  /** Default: the user name of the URL, else of the AMQP URL. */
  readonly username?: string;
  /** Default: the password of the URL, else of the AMQP URL. */
  readonly password?: string;
  /** Per-request timeout. Default 5,000 ms. */
  readonly timeoutMs?: number;
}

/** Options of {@link RabbitMqTransport}. Validated at construction (`SLUICE_INVALID_OPTION`). */
export interface RabbitMqTransportOptions {
  /**
   * `amqp://user:password@host:port/vhost` or `amqps://...`; query parameters `heartbeat`, `frameMax`,
   * `channelMax` and `locale` are honoured. Default: the `AMQP_URL` environment variable, else
   * `amqp://guest:guest@localhost:5672`. The password never appears in logs or errors.
   */
  readonly url?: string;
  /** TLS settings for `amqps://`. Default: none. */
  readonly tls?: TlsOptions;
  /** Heartbeat interval in seconds; 0 disables heartbeats. Default: the URL's, else 30. */
  readonly heartbeatSeconds?: number;
  /** Connection name shown by RabbitMQ (`rabbitmqctl list_connections client_properties`). Default `sluice`. */
  readonly connectionName?: string;
  /** Publishes awaiting a broker confirm at once; more wait for a slot. Default 1,000. */
  readonly confirmWindow?: number;
  /**
   * How long one `publish()` may take end to end (waiting out an outage, a full confirm window or a
   * blocked broker, and the confirm). Past it the call rejects with `SLUICE_CONNECTION_LOST` while
   * disconnected, else `SLUICE_DEADLINE_EXCEEDED`. Default 30,000 ms.
   */
  readonly publishTimeoutMs?: number;
  /**
   * How long `connect()` keeps retrying the first connection before it rejects with
   * `SLUICE_CONNECTION_LOST`. Default 30,000 ms.
   */
  readonly connectTimeoutMs?: number;
  /** Backoff between reconnect attempts after a connection loss. Reconnection never gives up. */
  readonly reconnect?: ReconnectOptions;
  /** Queue type of endpoints whose `options.broker.queueType` is not set. Default `quorum`. */
  readonly queueType?: QueueType;
  /** Per-topic exchange settings, keyed by topic (message type name). Topics not listed: `fanout`. */
  readonly exchanges?: Readonly<Record<string, ExchangeOptions>>;
  /** Publish messages persistent (delivery mode 2). Default true. */
  readonly persistent?: boolean;
  /**
   * Disables Nagle's algorithm on the socket. Default false: with it on, streamed acks and publishes
   * are sent in more, smaller packets, which costs throughput on a busy host.
   */
  readonly noDelay?: boolean;
  /**
   * Acknowledge settled deliveries together: one `basic.ack` with `multiple` up to the highest
   * contiguous settled delivery tag, once per event-loop turn. Every message is still acknowledged
   * only after its own settlement. Default true.
   */
  readonly coalesceAcks?: boolean;
  /**
   * A message that went back to its queue unsettled this many times (its channel, connection or
   * consumer was lost each time it was in hand: a process that crashes on it, a channel the broker
   * closes) is dead-lettered by the transport with reason `max-attempts` instead of being handed out
   * again. Counted by RabbitMQ on quorum queues (`x-delivery-count`) and by the transport, in memory,
   * on classic ones. Default 20.
   */
  readonly redeliveryLimit?: number;
  /**
   * The broker's `max_message_size`: a larger body is refused by `publish` with
   * `SLUICE_INVALID_OPTION` before it is sent (RabbitMQ would close the publish channel on it).
   * Default 134,217,728 (128 MiB, RabbitMQ 3.x's default; 4.x defaults to 16 MiB: set it so there).
   */
  readonly maxMessageBytes?: number;
  /** Use the management API for queue depth (ready + unacknowledged). Default: off (ready only). */
  readonly management?: ManagementOptions;
  /** Default: warnings and errors to stderr (`defaultLogger`); `silentLogger` for none. */
  readonly logger?: Logger;
}

/**
 * What an endpoint may set in `EndpointSpec.options.broker` (from `queueOptions.broker` of a
 * decorator) on RabbitMQ. Unknown keys are rejected with `SLUICE_INVALID_OPTION`.
 */
export interface RabbitMqEndpointOptions {
  /** Default: the transport's `queueType`. Changing it for an existing queue fails at subscribe. */
  readonly queueType?: QueueType;
  /**
   * Binding keys for `direct` and `topic` exchanges (patterns such as `order.*` or `order.#` on a
   * topic exchange). Default: the topic name.
   */
  readonly bindingKeys?: readonly string[];
  /** Header match for `headers` exchanges. Default: none (every message matches). */
  readonly bindingHeaders?: {
    readonly match: 'all' | 'any';
    readonly headers: Readonly<Record<string, string>>;
  };
}

/** RabbitMQ's record of one dead-lettering by the broker (the `x-death` header). */
export interface DeathRecord {
  readonly queue: string;
  /** `rejected`, `expired`, `maxlen` or `delivery_limit`. */
  readonly reason: string;
  readonly count: number;
  readonly exchange: string;
  readonly routingKeys: readonly string[];
  readonly time: Date | undefined;
}

/** A message in a dead-letter queue, as the tooling shows it. */
export interface DeadLetter {
  readonly messageId: string;
  readonly type: string;
  readonly correlationId: string | undefined;
  /** Undefined when the message's time cannot be read (see `problems`). */
  readonly sentAt: Date | undefined;
  /** Application headers, fault headers included. */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Why it was dead-lettered: the fault headers Sluice wrote, or one derived from RabbitMQ's
   * `x-death` record when the broker dead-lettered it (reason `expired` for TTL expiry).
   */
  readonly fault: Fault | undefined;
  /** RabbitMQ's dead-lettering history (empty when Sluice moved the message itself). */
  readonly deaths: readonly DeathRecord[];
  /** The queue a replay sends it back to. */
  readonly sourceQueue: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  /** What could not be read (an invalid `sluice-sent-at`, an `x-death` entry that is not a table...). */
  readonly problems: readonly string[];
}

/** Options of {@link DeadLetters}. */
export interface DeadLettersOptions {
  /** Default: the `AMQP_URL` environment variable, else `amqp://guest:guest@localhost:5672`. */
  readonly url?: string;
  readonly tls?: TlsOptions;
  /** Default `sluice-dlq`. */
  readonly connectionName?: string;
  /** Default: warnings and errors to stderr (`defaultLogger`); `silentLogger` for none. */
  readonly logger?: Logger;
}

/** What {@link DeadLetters.replay} did. */
export interface ReplayResult {
  /** Message ids sent back to their source queue (and removed from the dead-letter queue). */
  readonly replayed: readonly string[];
  /** Requested ids that were not found in the dead-letter queue. */
  readonly notFound: readonly string[];
  /** Dead letters that could not be sent back (they stay dead-lettered), with the reason. */
  readonly failed: readonly { readonly messageId: string; readonly error: string }[];
}
