/**
 * The Azure Service Bus transport on `@azure/service-bus`: a topic per message type, a queue per
 * endpoint fed by a forwarding subscription per topic (with the endpoint's filter as a broker-side
 * rule), peek-lock consumption with lock renewal, scheduled copies for delayed retries, the native
 * dead-letter queue, provisioning through the administration client, queue depth from runtime
 * properties.
 */
import type { ServiceBusAdministrationClient, ServiceBusClient } from '@azure/service-bus';
import {
  defaultLogger,
  deadLetterSubQueueName,
  entityOfDeadLetterSubQueue,
  ErrorCodes,
  hasErrorCode,
  OptionChecker,
  SluiceError,
  untilAborted,
  type Backoff,
  type ConsumerQueue,
  type DeliveryHandler,
  type EndpointSpec,
  type Logger,
  type OutgoingMessage,
  type Subscription,
  type Transport,
  type TransportCapabilities,
} from '@sluice/core';
import {
  createClients,
  resolveBackoff,
  resolveConnection,
  resolveRetry,
  type ResolvedConnection,
} from './connection.js';
import { toServiceBusMessage } from './envelope.js';
import { connectError, toSluiceError } from './errors.js';
import { Publisher } from './publisher.js';
import { ServiceBusSubscription } from './service-bus-subscription.js';
import { ServiceBusTelemetry } from './service-bus-telemetry.js';
import { provisioningError, Topology } from './topology.js';
import type { AzureServiceBusTransportOptions } from './types.js';

type State = 'new' | 'open' | 'closing' | 'closed';

const knownOptions = new Set([
  'connectionString',
  'namespace',
  'credential',
  'tlsCa',
  'provision',
  'lockDurationMs',
  'maxDeliveryCount',
  'maxLockRenewalMs',
  'retry',
  'reconnect',
  'publishTimeoutMs',
  'connectTimeoutMs',
  'logger',
]);
const defaultReconnect: Backoff = { initialMs: 500, factor: 2, maxMs: 30_000, jitter: 0.2 };
/** How long one runtime-properties answer serves queue-depth reads (both gauges of a scrape share it). */
const depthCacheMs = 1_000;

/**
 * ```ts
 * const transport = new AzureServiceBusTransport({ connectionString: process.env.SERVICEBUS_CONNECTION_STRING });
 * const host = new ConsumerHost({ serviceName: 'orders', transport, consumers: [ChargeCardConsumer] });
 * await host.start();
 * ```
 *
 * Capabilities: delayed redelivery and scheduled send (scheduled messages), message TTL (expired
 * messages are dead-lettered), durable, broker-side filters (subscription rules), a native
 * dead-letter queue, a broker delivery count and locks (renewed up to `maxLockRenewalMs`); not
 * ordered (Service Bus keeps order only within sessions), no max length (Service Bus bounds entities
 * by size, `maxSizeInMegabytes`, not by count).
 */
export class AzureServiceBusTransport implements Transport {
  readonly name = 'azure-service-bus';
  readonly capabilities: TransportCapabilities = {
    delayedRedelivery: true,
    scheduledSend: true,
    messageTtl: true,
    durable: true,
    ordered: false,
    maxLength: false,
    brokerFilters: true,
    nativeDeadLetterQueue: true,
    brokerDeliveryCount: true,
    locks: true,
  };
  /** OpenTelemetry description: `messaging.system` `servicebus`, the namespace host and port. */
  readonly telemetry: ServiceBusTelemetry;
  private readonly connection: ResolvedConnection;
  private readonly options: {
    readonly provision: boolean;
    readonly lockDurationMs: number;
    readonly maxDeliveryCount: number;
    readonly maxLockRenewalMs: number;
    readonly retry: ReturnType<typeof resolveRetry>;
    readonly reconnect: Backoff;
    readonly publishTimeoutMs: number;
    readonly connectTimeoutMs: number;
  };
  private readonly logger: Logger;
  private state: State = 'new';
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private client: ServiceBusClient | undefined;
  private admin: ServiceBusAdministrationClient | undefined;
  private topology: Topology | undefined;
  private publisher: Publisher | undefined;
  private readonly subscriptions = new Set<ServiceBusSubscription>();
  private readonly depths = new Map<
    string,
    { at: number; read: Promise<{ active: number; dead: number }> }
  >();

  /** Validates every option (throws `SLUICE_INVALID_OPTION` naming it, never showing a key); connects only in {@link connect}. */
  constructor(options: AzureServiceBusTransportOptions) {
    const given = new OptionChecker('AzureServiceBusTransport').object(
      '',
      options,
      knownOptions,
    ) as AzureServiceBusTransportOptions;
    const preliminary = new OptionChecker('AzureServiceBusTransport');
    this.connection = resolveConnection(preliminary, given);
    const check = new OptionChecker('AzureServiceBusTransport', this.connection.redact);
    this.options = {
      provision: given.provision === undefined ? true : check.boolean('provision', given.provision),
      lockDurationMs: check.int('lockDurationMs', given.lockDurationMs ?? 60_000, 100, 300_000),
      maxDeliveryCount: check.int('maxDeliveryCount', given.maxDeliveryCount ?? 10, 1, 2_000),
      maxLockRenewalMs: check.int('maxLockRenewalMs', given.maxLockRenewalMs ?? 300_000, 0, 86_400_000),
      retry: resolveRetry(check, given.retry),
      reconnect: resolveBackoff(check, 'reconnect', given.reconnect, defaultReconnect),
      publishTimeoutMs: check.int('publishTimeoutMs', given.publishTimeoutMs ?? 30_000, 1, 3_600_000),
      connectTimeoutMs: check.int('connectTimeoutMs', given.connectTimeoutMs ?? 30_000, 1, 3_600_000),
    };
    this.logger = (given.logger ?? defaultLogger).child({ transport: 'azure-service-bus' });
    this.telemetry = new ServiceBusTelemetry(this.connection.host, this.connection.port);
  }

  /**
   * Makes the SDK clients and, with provisioning on, checks the namespace answers the
   * administration API (the key or credential is then known to work). Rejects at once with
   * `SLUICE_CONNECTION_REFUSED` when the namespace refuses the key or credential or its TLS
   * certificate is not trusted (the message says which, never the key or token),
   * `SLUICE_CONNECTION_LOST` when it stays unreachable for `connectTimeoutMs`, `SLUICE_INVALID_OPTION` when `@azure/identity` is needed but missing,
   * `SLUICE_CLOSED` after close. Idempotent.
   */
  connect(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(new SluiceError(ErrorCodes.CLOSED, 'Service Bus transport is closed'));
    }
    this.connecting ??= this.open().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  /** True while open and every subscription's receiver is attached. */
  isConnected(): boolean {
    return this.state === 'open' && [...this.subscriptions].every((s) => s.attached);
  }

  /**
   * Sends each message to its topic (the message type's) or queue, in batches per entity, all made
   * before any is sent: a message too large for one Service Bus message rejects the call with
   * `SLUICE_PUBLISH_REFUSED` (its size and the limit named) and sends nothing. With provisioning on,
   * a topic message's `consumerQueue` is declared first: the queue, the topic and the subscription
   * forwarding to the queue are created where missing (once per transport), so it waits in the queue
   * for a consumer not started yet. A topic
   * that does not exist has no subscription: `SLUICE_UNROUTABLE` for a mandatory message, accepted
   * and dropped otherwise (Service Bus has no mandatory flag: a topic whose subscriptions all refuse
   * a message drops it too). Other rejections as the contract names them.
   */
  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    const publisher = this.openPublisher();
    const byEntity = new Map<string, OutgoingMessage[]>();
    const consumerQueues = new Map<string, ConsumerQueue[]>();
    for (const message of messages) {
      const { destination } = message;
      const entity = 'topic' in destination ? destination.topic : destination.queue;
      const group = byEntity.get(entity);
      if (group === undefined) byEntity.set(entity, [message]);
      else group.push(message);
      if ('topic' in destination && destination.consumerQueue !== undefined && this.options.provision) {
        const queues = consumerQueues.get(entity) ?? [];
        if (!queues.some((q) => q.queue === destination.consumerQueue?.queue)) {
          queues.push(destination.consumerQueue);
          consumerQueues.set(entity, queues);
        }
      }
    }
    for (const [topic, queues] of consumerQueues)
      for (const consumer of queues) await this.declareConsumerQueue(topic, consumer);
    try {
      await publisher.send(
        [...byEntity].map(([entity, group]) => ({
          entity,
          messages: group.map((m) => toServiceBusMessage(m)),
          describe: (i: number) => `message ${group[i]?.messageId} (${group[i]?.type})`,
          mustArrive: group.some((m) => m.mandatory || 'queue' in m.destination),
        })),
      );
    } catch (error) {
      // A topic or queue gone since it was declared: declared again at the next send.
      if (hasErrorCode(error, ErrorCodes.UNROUTABLE))
        for (const topic of consumerQueues.keys()) this.topology?.forgetConsumerQueue(topic);
      throw error;
    }
  }

  /** The sender's side of `consumer` (see `Topology.declareConsumerQueue`), within the connect timeout. */
  private async declareConsumerQueue(topic: string, consumer: ConsumerQueue): Promise<void> {
    const { topology } = this.opened();
    const declare = topology.declareConsumerQueue(topic, consumer).catch((error: unknown) => {
      throw provisioningError(error, `queue ${consumer.queue} for ${topic}`, this.connection.redact);
    });
    await this.withinConnectTimeout(declare, `declaring ${consumer.queue} for ${topic}`);
  }

  /**
   * Declares the endpoint (with provisioning on: its queue, and per topic the topic and a
   * subscription named after the queue that forwards to it, with the filter's rule) and starts
   * receiving once its queue answers. `<queue>/$DeadLetterQueue` reads that queue's dead letters.
   */
  async subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription> {
    const { client, topology } = this.opened();
    const dlqOf = entityOfDeadLetterSubQueue(endpoint.queue);
    const entity = dlqOf ?? endpoint.queue;
    if (dlqOf !== undefined && endpoint.topics.length > 0) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `${endpoint.queue} is a dead-letter queue: it cannot be bound to topics`,
      );
    }
    const declaring = { ...endpoint, queue: entity, topics: dlqOf === undefined ? endpoint.topics : [] };
    topology.settingsOf(declaring);
    const declare = async () => {
      try {
        await topology.declareEndpoint(declaring);
      } catch (error) {
        throw provisioningError(error, `endpoint ${entity}`, this.connection.redact);
      }
    };
    if (this.options.provision) await this.withinConnectTimeout(declare(), `declaring ${entity}`);
    const receiver = client.createReceiver(entity, {
      receiveMode: 'peekLock',
      maxAutoLockRenewalDurationInMs: 0,
      skipParsingBodyAsJson: true,
      ...(dlqOf === undefined ? {} : { subQueueType: 'deadLetter' as const }),
    });
    const subscription = new ServiceBusSubscription({
      receiver,
      queue: endpoint.queue,
      prefetch: endpoint.prefetch,
      onDelivery,
      copyTarget: dlqOf === undefined ? entity : undefined,
      sendCopy: (target, copy, describe) =>
        this.openPublisher().send([
          { entity: target, messages: [copy], describe: () => describe, mustArrive: true },
        ]),
      redeclare:
        this.options.provision && dlqOf === undefined
          ? async () => {
              topology.forget(entity);
              await declare();
            }
          : undefined,
      maxLockRenewalMs: this.options.maxLockRenewalMs,
      reconnect: this.options.reconnect,
      closing: () => this.state === 'closing' || this.state === 'closed',
      logger: this.logger,
      redact: this.connection.redact,
    });
    try {
      await this.withinConnectTimeout(subscription.start(), `reaching ${endpoint.queue}`);
    } catch (error) {
      await receiver.close().catch(() => undefined);
      if (error instanceof SluiceError && error.code === ErrorCodes.UNROUTABLE && !this.options.provision) {
        throw new SluiceError(
          ErrorCodes.INVALID_OPTION,
          `Service Bus has no ${entity} and provision is off: create it (or turn provisioning on)`,
        );
      }
      throw error;
    }
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * Active messages in `queue` (Service Bus's `activeMessageCount`, which counts locked ones too), or
   * for `<queue>/$DeadLetterQueue` its `deadLetterMessageCount`, from the queue's runtime properties
   * (one read serves both for a second); 0 for a queue that does not exist.
   */
  async queueDepth(queue: string): Promise<number> {
    const { admin } = this.opened();
    const dlqOf = entityOfDeadLetterSubQueue(queue);
    const entity = (dlqOf ?? queue).toLowerCase();
    let cached = this.depths.get(entity);
    if (cached === undefined || Date.now() - cached.at > depthCacheMs) {
      const read = admin.getQueueRuntimeProperties(dlqOf ?? queue).then(
        (runtime) => ({ active: runtime.activeMessageCount, dead: runtime.deadLetterMessageCount }),
        (error: unknown) => {
          if ((error as { statusCode?: unknown }).statusCode === 404) return { active: 0, dead: 0 };
          this.depths.delete(entity);
          throw toSluiceError(error, `could not read the depth of ${queue}`, this.connection.redact);
        },
      );
      cached = { at: Date.now(), read };
      this.depths.set(entity, cached);
    }
    const { active, dead } = await cached.read;
    return dlqOf === undefined ? active : dead;
  }

  /** `<queue>/$DeadLetterQueue`: the queue's dead-letter sub-queue. */
  deadLetterQueue(queue: string): string {
    return deadLetterSubQueueName(queue);
  }

  /**
   * Stops every receiver, waits for the sends and settlements under way, abandons the deliveries
   * still unsettled (their next delivery counts an attempt) and closes the SDK clients. When
   * `signal` aborts: sends still waiting reject with `SLUICE_CLOSED` and the close resolves at once,
   * the clients closing in the background. Idempotent.
   */
  close(signal?: AbortSignal): Promise<void> {
    if (this.state === 'new') {
      this.state = 'closed';
      return Promise.resolve();
    }
    this.closing ??= this.shutDown(signal ?? new AbortController().signal);
    return this.closing;
  }

  private async open(): Promise<void> {
    const { client, admin } = await createClients(this.connection, this.options.retry);
    if (this.state !== 'new') {
      await client.close();
      throw new SluiceError(ErrorCodes.CLOSED, 'Service Bus transport is closed');
    }
    this.client = client;
    this.admin = admin;
    this.topology = new Topology(admin, this.options, this.logger);
    this.publisher = new Publisher(
      client,
      this.options.publishTimeoutMs,
      this.connection.redact,
      this.logger,
    );
    if (this.options.provision) {
      await this.withinConnectTimeout(
        admin.getNamespaceProperties().catch((error: unknown) => {
          throw connectError(
            error,
            `cannot reach the Service Bus namespace ${this.connection.describe}`,
            this.connection.redact,
          );
        }),
        `reaching ${this.connection.describe}`,
      );
    }
    this.state = 'open';
    this.logger.info(
      { namespace: this.connection.describe, provision: this.options.provision },
      'Service Bus transport connected',
    );
  }

  private async shutDown(deadline: AbortSignal): Promise<void> {
    this.state = 'closing';
    const publisher = this.publisher;
    const closed = new SluiceError(
      ErrorCodes.CLOSED,
      'Service Bus transport closed before Service Bus accepted the message; it may still be delivered',
    );
    publisher?.refuse(closed);
    const abandon = () => publisher?.abandon(closed);
    if (deadline.aborted) abandon();
    else deadline.addEventListener('abort', abandon, { once: true });
    await Promise.all([...this.subscriptions].map((s) => s.shutdown(deadline)));
    await untilAborted(publisher?.whenIdle() ?? Promise.resolve(), deadline);
    deadline.removeEventListener('abort', abandon);
    const clients = (async () => {
      await publisher?.close();
      await this.client?.close();
    })().catch((error: unknown) =>
      this.logger.debug(
        { err: this.connection.redact(String(error)) },
        'closing the Service Bus client failed',
      ),
    );
    await untilAborted(clients, deadline);
    this.subscriptions.clear();
    this.state = 'closed';
    this.logger.info({}, 'Service Bus transport closed');
  }

  private opened(): { client: ServiceBusClient; admin: ServiceBusAdministrationClient; topology: Topology } {
    if (this.state === 'closing' || this.state === 'closed')
      throw new SluiceError(ErrorCodes.CLOSED, 'Service Bus transport is closed');
    if (this.client === undefined || this.admin === undefined || this.topology === undefined) {
      throw new SluiceError(
        ErrorCodes.CLOSED,
        'Service Bus transport is not connected yet: call connect() first (a ConsumerHost connects in start())',
      );
    }
    return { client: this.client, admin: this.admin, topology: this.topology };
  }

  private openPublisher(): Publisher {
    if (this.state === 'new' || this.publisher === undefined) {
      throw new SluiceError(
        ErrorCodes.CLOSED,
        'Service Bus transport is not connected yet: call connect() first (a ConsumerHost connects in start())',
      );
    }
    if (this.state !== 'open') throw new SluiceError(ErrorCodes.CLOSED, 'Service Bus transport is closed');
    return this.publisher;
  }

  private async withinConnectTimeout<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SluiceError(
              ErrorCodes.CONNECTION_LOST,
              `${what}: no answer from Service Bus within ${this.options.connectTimeoutMs} ms`,
            ),
          ),
        this.options.connectTimeoutMs,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } catch (error) {
      throw toSluiceError(error, what, this.connection.redact, this.state === 'closing');
    } finally {
      clearTimeout(timer);
    }
  }
}
