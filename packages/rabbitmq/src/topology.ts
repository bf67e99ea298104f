/**
 * Declares exchanges, queues and bindings, idempotently, and declares them again after every
 * reconnect. Declarations run one at a time on a channel of their own: a failed declaration closes
 * its channel (AMQP's rule), and serialising keeps that from failing unrelated declarations.
 *
 * Per endpoint (see the package README for the diagram):
 * - one exchange per topic, `fanout` unless the transport's `exchanges` option says otherwise (also
 *   declared by a sender at its first publish, with the command's consumer queue where it names one);
 * - `<queue>.dlq`, where dead-lettered copies go;
 * - the work queue (quorum by default), dead-lettering (TTL expiry, max length) into `<queue>.dlq`;
 * - per service and queue type, one retry queue per redelivery delay, shared by the service's
 *   endpoints: `<service>.retry.<delay>ms` (`<service>.classic.retry.<delay>ms` for classic ones),
 *   whose `x-message-ttl` is the delay. A retry copy goes to the fanout exchange of the same name with
 *   its work queue's name as routing key; the retry queue dead-letters through the default exchange
 *   without a dead-letter routing key, so each expired copy keeps that key and lands in its own work
 *   queue, never another's (no delayed-message plugin needed):
 *   https://www.rabbitmq.com/docs/dlx#routing and https://www.rabbitmq.com/docs/ttl.
 */
import {
  deadLetterQueueName,
  ErrorCodes,
  OptionChecker,
  retryQueueName,
  SerialQueue,
  SluiceError,
  type ConsumerQueue,
  type EndpointSpec,
  type Logger,
} from '@sluice/core';
import type { Channel } from 'amqplib';
import { throwIfLost, type ConnectionListener, type ConnectionSession } from './connection-supervisor.js';
import type { ResolvedOptions } from './resolve-options.js';
import type { ExchangeType, QueueType } from './types.js';

type Arguments = Record<string, string | number>;

interface Binding {
  readonly exchange: string;
  readonly key: string;
  readonly arguments: Arguments | undefined;
}

/** What one endpoint declares. */
export interface EndpointPlan {
  readonly queue: string;
  /** The service whose retry queues the endpoint shares. */
  readonly service: string;
  readonly deadLetterQueue: string;
  readonly queueType: QueueType;
  readonly topics: readonly string[];
  readonly workArguments: Arguments;
  /** Delays whose retry queue it uses; grows when `retry()` asks for a delay not announced. */
  readonly retryDelays: Set<number>;
  readonly bindings: readonly Binding[];
}

const brokerOptionKeys = new Set(['queueType', 'bindingKeys', 'bindingHeaders']);

/**
 * Why a classic work queue cannot have a length limit when redeliveries are delayed: a retry queue
 * dead-letters into the work queue, and RabbitMQ dead-letters at most once from classic queues, so a
 * redelivery into a full queue (`reject-publish`) is dropped. Quorum queues dead-letter at least once.
 * https://www.rabbitmq.com/docs/dlx#safety
 */
const lossyMaxLength =
  'cannot be set on a classic queue with delayed redeliveries: RabbitMQ drops a redelivery that its retry queue dead-letters into the full queue (classic queues dead-letter at most once); use queueType "quorum", or no maxLength';

/** AMQP reply codes that mean "your declaration does not fit the broker's state or permissions". */
const configurationCodes = new Set([403, 405, 406]);

function queueArguments(type: QueueType, extra: Arguments): Arguments {
  return { 'x-queue-type': type, ...extra };
}

/**
 * Dead-lettering through the default exchange: to `target`, or without one to the queue each message
 * was routed with (its routing key), as a shared retry queue needs.
 */
function deadLetteringArguments(type: QueueType, target: string | undefined): Arguments {
  const args: Arguments = {
    'x-dead-letter-exchange': '',
    // A full queue refuses publishes (the publisher sees a nack) instead of dropping the oldest.
    'x-overflow': 'reject-publish',
  };
  if (target !== undefined) args['x-dead-letter-routing-key'] = target;
  // Quorum queues dead-letter at most once unless told otherwise; at-least-once needs reject-publish.
  // https://www.rabbitmq.com/docs/quorum-queues#dead-lettering
  if (type === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
  return args;
}

/** Where a retry copy of `plan`'s messages after `delayMs` goes: its retry exchange (and queue). */
export function retryQueueOf(plan: EndpointPlan, delayMs: number): string {
  return retryQueueName(plan.service, delayMs, plan.queueType === 'classic' ? 'classic' : undefined);
}

/** Service of endpoints whose spec names none. */
const defaultService = 'sluice';

export class Topology implements ConnectionListener {
  private session: ConnectionSession | undefined;
  private channel: Promise<Channel> | undefined;
  private readonly declarations = new SerialQueue();
  private readonly endpoints = new Map<string, EndpointPlan>();
  private readonly exchanges = new Set<string>();
  /** Queues senders declare, by topic and queue (see {@link expectConsumerQueue}). */
  private readonly consumerQueues = new Map<string, Map<string, EndpointPlan>>();
  /** Topics with a consumer queue not declared on the current connection yet. */
  private readonly undeclared = new Set<string>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly waitUp: (timeoutMs: number) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async connected(session: ConnectionSession): Promise<void> {
    this.session = session;
    this.channel = undefined;
    // Declared again at their next publish: a sender never fails a reconnect over them.
    for (const topic of this.consumerQueues.keys()) this.undeclared.add(topic);
    for (const topic of this.exchanges) {
      await this.onChannel(session, (channel) => this.assertExchange(channel, topic));
      throwIfLost(session.signal);
    }
    for (const plan of this.endpoints.values()) {
      await this.declare(session, plan, [...plan.retryDelays]);
      throwIfLost(session.signal);
    }
  }

  disconnected(): void {
    this.session = undefined;
    this.channel = undefined;
  }

  /** The exchange kind of a topic. */
  exchangeType(topic: string): ExchangeType {
    return this.options.exchanges.get(topic)?.type ?? 'fanout';
  }

  /** Validates `spec` (its `options.broker` included) into a plan; throws `SLUICE_INVALID_OPTION`. */
  plan(spec: EndpointSpec): EndpointPlan {
    const check: OptionChecker = new OptionChecker(`RabbitMqTransport endpoint "${spec.queue}"`);
    const broker =
      spec.options?.broker === undefined ? {} : check.object('broker', spec.options.broker, brokerOptionKeys);
    const queueType = (broker.queueType ?? this.options.queueType) as QueueType;
    if (queueType !== 'quorum' && queueType !== 'classic') {
      check.fail('broker.queueType', 'must be "quorum" or "classic"', queueType);
    }
    let bindingKeys: readonly string[] | undefined;
    if (broker.bindingKeys !== undefined) {
      const keys = broker.bindingKeys;
      if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) {
        check.fail('broker.bindingKeys', 'must be a non-empty array of strings', keys);
      }
      bindingKeys = keys as string[];
    }
    let headerArguments: Arguments | undefined;
    if (broker.bindingHeaders !== undefined) {
      const given = check.object(
        'broker.bindingHeaders',
        broker.bindingHeaders,
        new Set(['match', 'headers']),
      );
      if (given.match !== 'all' && given.match !== 'any')
        check.fail('broker.bindingHeaders.match', 'must be "all" or "any"', given.match);
      const headers = check.record('broker.bindingHeaders.headers', given.headers);
      headerArguments = { 'x-match': given.match };
      for (const [name, value] of Object.entries(headers)) {
        if (typeof value !== 'string')
          check.fail(`broker.bindingHeaders.headers.${name}`, 'must be a string', value);
        headerArguments[name] = value;
      }
    }

    const bindings: Binding[] = [];
    for (const topic of spec.topics) {
      const type = this.exchangeType(topic);
      if (bindingKeys !== undefined && type !== 'direct' && type !== 'topic') {
        check.fail(
          'broker.bindingKeys',
          `needs a direct or topic exchange, but topic "${topic}" is ${type}`,
          bindingKeys,
        );
      }
      if (headerArguments !== undefined && type !== 'headers') {
        check.fail(
          'broker.bindingHeaders',
          `needs a headers exchange, but topic "${topic}" is ${type}`,
          headerArguments,
        );
      }
      if (type === 'direct' || type === 'topic') {
        for (const key of bindingKeys ?? [topic])
          bindings.push({ exchange: topic, key, arguments: undefined });
      } else {
        bindings.push({
          exchange: topic,
          key: '',
          arguments: type === 'headers' ? (headerArguments ?? {}) : undefined,
        });
      }
    }

    const queueOptions = spec.options ?? {};
    const deadLetterQueue = deadLetterQueueName(spec.queue);
    const extra: Arguments = deadLetteringArguments(queueType, deadLetterQueue);
    if (queueOptions.messageTtlMs !== undefined) {
      extra['x-message-ttl'] = check.int('messageTtlMs', queueOptions.messageTtlMs, 0, 2 ** 32 - 1);
    }
    if (queueOptions.maxLength !== undefined) {
      extra['x-max-length'] = check.int('maxLength', queueOptions.maxLength, 0, 2 ** 31 - 1);
    }
    const retryDelays = new Set<number>();
    for (const delay of spec.retryDelaysMs) {
      check.int('retryDelaysMs[]', delay, 0, 2 ** 32 - 1);
      if (delay > 0) retryDelays.add(delay);
    }
    if (queueType === 'classic' && queueOptions.maxLength !== undefined && retryDelays.size > 0) {
      check.fail('maxLength', lossyMaxLength, queueOptions.maxLength);
    }
    return {
      queue: spec.queue,
      service: spec.service ?? defaultService,
      deadLetterQueue,
      queueType,
      topics: spec.topics,
      workArguments: queueArguments(queueType, extra),
      retryDelays,
      bindings,
    };
  }

  /** Declares an endpoint (idempotent) and remembers it for redeclaration after a reconnect. */
  async declareEndpoint(plan: EndpointPlan): Promise<void> {
    await this.runInSession((session) => this.declare(session, plan, [...plan.retryDelays]));
    this.endpoints.set(plan.queue, plan);
  }

  /** Declares the retry queue for `delayMs` when the plan has none yet. */
  async ensureRetryQueue(plan: EndpointPlan, delayMs: number): Promise<void> {
    if (plan.retryDelays.has(delayMs)) return;
    if (plan.queueType === 'classic' && plan.workArguments['x-max-length'] !== undefined) {
      throw new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `RabbitMqTransport endpoint "${plan.queue}": option "maxLength" ${lossyMaxLength} (retry(${delayMs}) asked for a delay the endpoint did not announce)`,
      );
    }
    await this.run((channel) => this.assertRetryQueue(channel, plan, delayMs));
    plan.retryDelays.add(delayMs);
  }

  /**
   * Notes that messages of `topic` are consumed from `consumer.queue`, which the sender declares
   * before publishing (see {@link prepareToPublish}). Validates it as `plan` does (throws
   * `SLUICE_INVALID_OPTION`); cheap once the queue is known.
   */
  expectConsumerQueue(topic: string, consumer: ConsumerQueue): void {
    let queues = this.consumerQueues.get(topic);
    if (queues?.has(consumer.queue) === true) return;
    const plan = this.plan({
      queue: consumer.queue,
      topics: [topic],
      prefetch: 1,
      retryDelaysMs: [],
      options: consumer.options,
    });
    if (queues === undefined) {
      queues = new Map();
      this.consumerQueues.set(topic, queues);
    }
    queues.set(consumer.queue, plan);
    this.undeclared.add(topic);
  }

  /** True when everything a publish to `topic` needs was declared by this transport. */
  readyToPublish(topic: string): boolean {
    return this.exchanges.has(topic) && !this.undeclared.has(topic);
  }

  /**
   * Declares what a publish to `topic` needs (idempotent, cached): its exchange and, where the topic
   * has {@link expectConsumerQueue consumer queues}, each of them that is missing, as `subscribe`
   * would declare it (with its dead-letter queue), bound to the exchange. A queue that exists is only
   * bound: its consumer owns its arguments, and declaring it with others would be refused.
   */
  async prepareToPublish(topic: string): Promise<void> {
    if (this.readyToPublish(topic)) return;
    await this.runInSession(async (session) => {
      await this.onChannel(session, (channel) => this.assertExchange(channel, topic));
      const plans = [...(this.consumerQueues.get(topic)?.values() ?? [])];
      for (const plan of plans) await this.declareConsumerQueue(session, plan);
      if (this.consumerQueues.get(topic)?.size === plans.length) this.undeclared.delete(topic);
    });
  }

  /** Forgets which exchanges and consumer queues exist (after the broker said one does not). */
  forgetExchanges(): void {
    this.exchanges.clear();
    for (const topic of this.consumerQueues.keys()) this.undeclared.add(topic);
  }

  /** Ready messages in `queue` by a passive declare; 0 when the queue does not exist. */
  async readyCount(queue: string): Promise<number> {
    return this.run(async (channel) => {
      try {
        return (await channel.checkQueue(queue)).messageCount;
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) return 0;
        throw error;
      }
    });
  }

  private async declare(
    session: ConnectionSession,
    plan: EndpointPlan,
    delays: readonly number[],
  ): Promise<void> {
    // Without topics the queue is consumed as it is (a dead-letter queue, one made by someone else):
    // declared only when missing, so its existing arguments are never contradicted.
    const asItIs = plan.topics.length === 0 && (await this.queueExists(session, plan.queue));
    await this.onChannel(session, async (channel) => {
      for (const topic of new Set(plan.bindings.map((b) => b.exchange)))
        await this.assertExchange(channel, topic);
      await channel.assertQueue(plan.deadLetterQueue, {
        durable: true,
        arguments: queueArguments(plan.queueType, {}),
      });
      if (!asItIs) await channel.assertQueue(plan.queue, { durable: true, arguments: plan.workArguments });
      for (const delay of delays) await this.assertRetryQueue(channel, plan, delay);
      for (const binding of plan.bindings) {
        await channel.bindQueue(plan.queue, binding.exchange, binding.key, binding.arguments);
      }
    });
  }

  private async declareConsumerQueue(session: ConnectionSession, plan: EndpointPlan): Promise<void> {
    const exists = await this.queueExists(session, plan.queue);
    await this.onChannel(session, async (channel) => {
      if (!exists) {
        await channel.assertQueue(plan.deadLetterQueue, {
          durable: true,
          arguments: queueArguments(plan.queueType, {}),
        });
        await channel.assertQueue(plan.queue, { durable: true, arguments: plan.workArguments });
      }
      for (const binding of plan.bindings) {
        await channel.bindQueue(plan.queue, binding.exchange, binding.key, binding.arguments);
      }
    });
  }

  private async queueExists(session: ConnectionSession, queue: string): Promise<boolean> {
    return this.onChannel(session, async (channel) => {
      try {
        await channel.checkQueue(queue);
        return true;
      } catch (error) {
        if ((error as { code?: unknown }).code === 404) return false;
        throw error;
      }
    });
  }

  /** The retry queue and its fanout exchange, bound (idempotent: each endpoint sharing it asserts it). */
  private async assertRetryQueue(channel: Channel, plan: EndpointPlan, delayMs: number): Promise<void> {
    const name = retryQueueOf(plan, delayMs);
    await channel.assertExchange(name, 'fanout', { durable: true });
    await channel.assertQueue(name, {
      durable: true,
      arguments: queueArguments(plan.queueType, {
        'x-message-ttl': delayMs,
        ...deadLetteringArguments(plan.queueType, undefined),
      }),
    });
    await channel.bindQueue(name, name, '');
  }

  private async assertExchange(channel: Channel, topic: string): Promise<void> {
    await channel.assertExchange(topic, this.exchangeType(topic), { durable: true });
    this.exchanges.add(topic);
  }

  /** Runs `operation` after every earlier one, on the declaration channel, waiting out an outage. */
  private run<T>(operation: (channel: Channel) => Promise<T>): Promise<T> {
    return this.runInSession((session) => this.onChannel(session, operation));
  }

  private runInSession<T>(operation: (session: ConnectionSession) => Promise<T>): Promise<T> {
    return this.declarations.run(async () => {
      if (this.session === undefined) await this.waitUp(this.options.publishTimeoutMs);
      const session = this.session;
      if (session === undefined)
        throw new SluiceError(ErrorCodes.CONNECTION_LOST, 'not connected to RabbitMQ');
      return operation(session);
    });
  }

  private async onChannel<T>(
    session: ConnectionSession,
    operation: (channel: Channel) => Promise<T>,
  ): Promise<T> {
    throwIfLost(session.signal);
    let opened = this.channel;
    if (opened === undefined) {
      opened = session.connection.createChannel().then((channel) => {
        channel.on('error', (error: unknown) => {
          this.logger.debug(
            { err: this.options.connection.redactor.error(error) },
            'declaration channel closed by the broker',
          );
        });
        channel.on('close', () => {
          if (this.channel === opened) this.channel = undefined;
        });
        return channel;
      });
      this.channel = opened;
      opened.catch(() => {
        if (this.channel === opened) this.channel = undefined;
      });
    }
    try {
      return await operation(await opened);
    } catch (error) {
      throw this.translate(error, session);
    }
  }

  private translate(error: unknown, session: ConnectionSession): Error {
    if ((error as { code?: unknown }).code === ErrorCodes.CONNECTION_LOST) return error as Error;
    const clean = this.options.connection.redactor.error(error);
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number' && configurationCodes.has(code)) {
      return new SluiceError(
        ErrorCodes.INVALID_OPTION,
        `RabbitMQ refused a declaration (the broker's existing queue or exchange differs, or permissions): ${clean.message}`,
        { cause: clean },
      );
    }
    if (session.signal.aborted) {
      return new SluiceError(
        ErrorCodes.CONNECTION_LOST,
        `connection lost while declaring: ${clean.message}`,
        { cause: clean },
      );
    }
    return clean;
  }
}
