/**
 * The RabbitMQ transport on amqplib: topology declared idempotently, publisher confirms with a window,
 * retry queues for delayed redelivery (no plugin), dead-letter queues, manual acks (coalesced), and
 * recovery from connection, channel and consumer loss.
 */
import {
  deadLetterQueueName,
  ErrorCodes,
  OptionChecker,
  SluiceError,
  untilAborted,
  type DeliveryHandler,
  type EndpointSpec,
  type Logger,
  type OutgoingMessage,
  type Subscription,
  type Transport,
  type TransportCapabilities,
} from '@sluice/core';
import { ConnectionSupervisor } from './connection-supervisor.js';
import { publishOptions } from './envelope.js';
import { checkOutgoing } from './publish-checks.js';
import { ManagementClient } from './management-client.js';
import { Publisher, type Outgoing } from './publisher.js';
import { RabbitMqSubscription } from './rabbitmq-subscription.js';
import { RabbitMqTelemetry } from './rabbitmq-telemetry.js';
import { resolveOptions, type ConnectionSettings, type ResolvedOptions } from './resolve-options.js';
import { Topology } from './topology.js';
import type { RabbitMqTransportOptions } from './types.js';

type State = 'new' | 'open' | 'closing' | 'closed';

/** `settings` for a connection shown to RabbitMQ as `name`. */
function withName(settings: ConnectionSettings, name: string): ConnectionSettings {
  const socket = {
    ...settings.socket,
    clientProperties: { ...settings.socket.clientProperties, connection_name: name },
  };
  return { ...settings, name, socket };
}

function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * ```ts
 * const transport = new RabbitMqTransport({ url: process.env.AMQP_URL });
 * const host = new ConsumerHost({ serviceName: 'orders', transport, consumers: [ChargeCardConsumer] });
 * await host.start();
 * ```
 *
 * Capabilities: delayed redelivery (retry queues), message TTL, durable, ordered per publisher; no
 * scheduled send (`notBefore` rejects with `SLUICE_INVALID_OPTION`: without the delayed-message plugin
 * RabbitMQ has no truthful way to hold arbitrary delays).
 */
export class RabbitMqTransport implements Transport {
  readonly name = 'rabbitmq';
  readonly capabilities: TransportCapabilities = {
    delayedRedelivery: true,
    scheduledSend: false,
    messageTtl: true,
    durable: true,
    ordered: true,
    maxLength: true,
    brokerFilters: false,
    nativeDeadLetterQueue: false,
    brokerDeliveryCount: true,
    locks: false,
  };
  /** OpenTelemetry description: `messaging.system` `rabbitmq`, server address, destination names. */
  readonly telemetry: RabbitMqTelemetry;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  /** Topology and consumers (and their acks): never publishes, so a broker alarm never blocks it. */
  private readonly consuming: ConnectionSupervisor;
  /** The publish channel only: blocked by RabbitMQ during a memory or disk alarm. */
  private readonly publishing: ConnectionSupervisor;
  private readonly topology: Topology;
  private readonly publisher: Publisher;
  private readonly management: ManagementClient | undefined;
  private readonly subscriptions = new Set<RabbitMqSubscription>();
  private state: State = 'new';
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Aborted when a signal passed to {@link close} aborts: stop waiting for the broker. */
  private readonly closeDeadline = new AbortController();

  /** Validates every option (throws `SLUICE_INVALID_OPTION` naming it); connects only in {@link connect}. */
  constructor(options: RabbitMqTransportOptions = {}) {
    this.options = resolveOptions(options);
    const { connection } = this.options;
    this.logger = this.options.logger.child({ transport: 'rabbitmq' });
    this.telemetry = new RabbitMqTelemetry(
      connection.connect.hostname ?? 'localhost',
      connection.connect.port ?? 5672,
    );
    // RabbitMQ blocks a connection that publishes during a resource alarm, and a blocked connection
    // carries no acks either: publishing gets a connection of its own, so queues still drain.
    // https://www.rabbitmq.com/docs/connection-blocked
    this.consuming = new ConnectionSupervisor(
      connection,
      this.options.reconnect,
      this.logger.child({ connection: 'consume' }),
    );
    this.publishing = new ConnectionSupervisor(
      withName(connection, `${connection.name}-publish`),
      this.options.reconnect,
      this.logger.child({ connection: 'publish' }),
    );
    this.topology = new Topology(this.options, (ms) => this.consuming.waitUp(ms), this.logger);
    this.publisher = new Publisher(this.options, this.topology, this.publishing, this.logger);
    // On the consuming connection, recovery declares the topology first, then resubscribes.
    void this.consuming.addListener(this.topology);
    void this.publishing.addListener(this.publisher);
    this.management =
      this.options.management === undefined
        ? undefined
        : new ManagementClient(this.options.management, connection.vhost);
  }

  /**
   * Connects, retrying with backoff for up to `connectTimeoutMs`. Rejects at once with
   * `SLUICE_CONNECTION_REFUSED` when RabbitMQ refuses the login, the vhost or the TLS handshake (the
   * message names the cause, never the password); with `SLUICE_CONNECTION_LOST` when the broker stayed
   * unreachable until the timeout (the message says what the last attempt met). Idempotent: later
   * calls share the first successful connect. After a connection loss the transport reconnects by
   * itself, for as long as it is open.
   */
  connect(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(new SluiceError(ErrorCodes.CLOSED, 'RabbitMQ transport is closed'));
    }
    this.connecting ??= this.connectBoth().then(
      () => {
        if (this.state === 'new') this.state = 'open';
      },
      (error: unknown) => {
        this.connecting = undefined;
        throw error;
      },
    );
    return this.connecting;
  }

  /**
   * The consuming connection first, then the publishing one within what is left of the timeout: a
   * broker that cannot be reached or refuses is reported once, not once per connection.
   */
  private async connectBoth(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs;
    const started = performance.now();
    await this.consuming.start(timeoutMs);
    await this.publishing.start(Math.max(0, timeoutMs - (performance.now() - started)));
  }

  /**
   * True while both connections are up: the consuming one with its topology and every consumer
   * re-established, the publishing one with its channel.
   */
  isConnected(): boolean {
    return this.state === 'open' && this.consuming.isUp && this.publishing.isUp;
  }

  /**
   * Publishes in order and resolves when RabbitMQ confirmed every message. Topic messages go to the
   * topic's exchange (declared on first use, with the `consumerQueue` of the destination: created as
   * `subscribe` creates it when missing, and bound), queue messages through the default exchange
   * (always mandatory). Rejects with `SLUICE_UNROUTABLE` (mandatory and no queue), `SLUICE_QUEUE_FULL` (a
   * queue at max length refused it), `SLUICE_CONNECTION_LOST` (still disconnected after
   * `publishTimeoutMs`), `SLUICE_DEADLINE_EXCEEDED` (not confirmed within it) or `SLUICE_CLOSED` (closed,
   * or not connected yet).
   * During an outage messages wait; those unconfirmed at a connection loss are sent again.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    let items: Outgoing[];
    try {
      items = messages.map((message) => this.toOutgoing(message));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.publisher.send(items);
  }

  /**
   * Declares the endpoint (exchanges, `<queue>`, `<queue>.dlq`, bindings, and the service's shared
   * retry queue of each delay;
   * idempotent) and consumes it on a channel of its own with `prefetch`. Rejects with
   * `SLUICE_INVALID_OPTION` for bad `options.broker` settings or when the broker's existing queue has
   * other arguments.
   */
  async subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    if (this.state !== 'open') throw this.notOpen();
    const plan = this.topology.plan(endpoint);
    const check: OptionChecker = new OptionChecker(`RabbitMqTransport endpoint "${endpoint.queue}"`);
    const prefetch = check.int('prefetch', endpoint.prefetch, 1, 65_535);
    await this.topology.declareEndpoint(plan);
    const subscription = new RabbitMqSubscription(plan, prefetch, onDelivery, {
      transportClosed: () => this.state === 'closed' || this.state === 'closing',
      publisher: this.publisher,
      topology: this.topology,
      coalesceAcks: this.options.coalesceAcks,
      redactor: this.options.connection.redactor,
      logger: this.logger,
      current: () => this.consuming.current,
      removeListener: (listener) => this.consuming.removeListener(listener),
      reconnectDelay: (attempt) => this.consuming.delay(attempt),
      redeliveryLimit: this.options.redeliveryLimit,
      headerBudget: this.options.headerBudget,
    });
    await this.consuming.addListener(subscription);
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * Ready messages in `queue` (a passive declare), 0 for a missing queue. With the `management` option:
   * ready plus unacknowledged, from the management API's statistics (refreshed every few seconds).
   */
  async queueDepth(queue: string): Promise<number> {
    if (this.state !== 'open') throw this.notOpen();
    if (this.management !== undefined) {
      const counts = await this.management.queueCounts(queue);
      return counts === undefined ? 0 : counts.ready + counts.unacknowledged;
    }
    return this.topology.readyCount(queue);
  }

  /** `<queue>.dlq`, declared with the queue. */
  deadLetterQueue(queue: string): string {
    return deadLetterQueueName(queue);
  }

  /**
   * Stops every consumer, waits for pending publishes (each bounded by `publishTimeoutMs`) and
   * settlements in progress, sends the pending acks, returns unsettled deliveries to RabbitMQ (their
   * settlement then rejects with `SLUICE_CLOSED`) and disconnects. Idempotent; concurrent calls share
   * one close. When `signal` aborts, the publishes still unconfirmed reject with `SLUICE_CLOSED` (the
   * broker may still deliver them), and the close resolves without waiting for RabbitMQ any longer.
   */
  close(signal?: AbortSignal): Promise<void> {
    if (signal !== undefined) {
      if (signal.aborted) this.closeDeadline.abort();
      else signal.addEventListener('abort', () => this.closeDeadline.abort(), { once: true });
    }
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const opened = this.state === 'open';
    this.state = 'closing';
    const deadline = this.closeDeadline.signal;
    const abandon = () =>
      this.publisher.abandon(
        new SluiceError(
          ErrorCodes.CLOSED,
          'RabbitMQ transport closed before the broker confirmed the publish; it may still be delivered',
        ),
      );
    if (deadline.aborted) abandon();
    else deadline.addEventListener('abort', abandon, { once: true });
    const subscriptions = [...this.subscriptions];
    await untilAborted(
      (async () => {
        await Promise.all(subscriptions.map((s) => s.close().catch(() => undefined)));
        await this.publisher.whenIdle();
        await Promise.all(subscriptions.map((s) => s.shutdown().catch(() => undefined)));
        await this.publisher.whenIdle();
      })(),
      deadline,
    );
    await untilAborted(this.publisher.close(), deadline);
    await untilAborted(Promise.all([this.consuming.close(), this.publishing.close()]), deadline);
    deadline.removeEventListener('abort', abandon);
    this.subscriptions.clear();
    this.state = 'closed';
    // A transport that never connected has nothing to report (its connect() rejection said why).
    if (opened) this.logger.info({}, 'RabbitMQ transport closed');
  }

  /**
   * Before `connect` resolved: not connected yet (`SLUICE_CLOSED`, as in-memory and Service Bus say it;
   * not `SLUICE_CONNECTION_LOST`, which would send the reader looking for a broker fault).
   */
  private notOpen(): SluiceError {
    return new SluiceError(
      ErrorCodes.CLOSED,
      this.state === 'new'
        ? 'RabbitMQ transport is not connected yet: call connect() first (a ConsumerHost connects in start())'
        : 'RabbitMQ transport is closed',
    );
  }

  private toOutgoing(message: OutgoingMessage): Outgoing {
    if (message.notBefore !== undefined && message.notBefore.getTime() > Date.now()) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `RabbitMQ transport cannot schedule message ${message.messageId} (notBefore): capabilities.scheduledSend is false`,
      );
    }
    const { destination } = message;
    let exchange: string;
    let routingKey: string;
    let topic: string | undefined;
    if ('queue' in destination) {
      exchange = '';
      routingKey = destination.queue;
    } else {
      topic = destination.topic;
      exchange = topic;
      if (destination.consumerQueue !== undefined)
        this.topology.expectConsumerQueue(topic, destination.consumerQueue);
      const exchangeOptions = this.options.exchanges.get(topic);
      const routed =
        exchangeOptions !== undefined &&
        (exchangeOptions.type === 'direct' || exchangeOptions.type === 'topic');
      routingKey = routed ? (exchangeOptions.routingKey?.(message) ?? message.type) : '';
    }
    checkOutgoing(message, routingKey, this.options);
    const options = publishOptions(message, this.options.persistent);
    // The default exchange drops a message for a missing queue silently unless it is mandatory.
    if (topic === undefined) options.mandatory = true;
    return { exchange, routingKey, content: toBuffer(message.body), options, topic };
  }
}
