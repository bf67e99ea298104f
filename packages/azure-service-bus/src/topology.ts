/**
 * Provisioning through `ServiceBusAdministrationClient`. An endpoint is a queue of its own; each of
 * its topics (message type names) is a Service Bus topic with a subscription named after the queue
 * that auto-forwards to it, holding one rule (`sluice`) made from the endpoint's filter. So commands
 * and events both land in the endpoint's queue: retries and replays can be sent to that queue
 * alone, its dead-letter queue holds every failure of the endpoint, and its depth is the backlog.
 * Missing entities are created; settings and rules that differ are updated; nothing is deleted.
 */
import type {
  CreateQueueOptions,
  QueueProperties,
  ServiceBusAdministrationClient,
  SubscriptionProperties,
} from '@azure/service-bus';
import {
  ErrorCodes,
  OptionChecker,
  SluiceError,
  type ConsumerQueue,
  type EndpointSpec,
  type Logger,
} from '@sluice/core';
import { ruleFilterFor, ruleName, sameFilter, type RuleFilter } from './subscription-rule.js';

/** Queue settings the transport applies; per endpoint from `QueueOptions`, else the transport's. */
export interface QueueSettings {
  readonly lockDurationMs: number;
  readonly maxDeliveryCount: number;
  readonly messageTtlMs: number | undefined;
  readonly maxSizeInMegabytes: number | undefined;
}

/** Longest subscription name Service Bus takes (the endpoint's queue name is the subscription's). */
const maxSubscriptionName = 50;
const entityNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/;
const brokerOptions = new Set(['lockDurationMs', 'maxDeliveryCount', 'maxSizeInMegabytes']);

/** ISO 8601 duration of `ms`, as the administration API writes them. */
export function isoDuration(ms: number): string {
  return `PT${Number((ms / 1000).toFixed(3))}S`;
}

/** Milliseconds of an ISO 8601 duration (`P10675199DT2H48M5.4775807S`, `PT1M`); NaN when unreadable. */
export function durationMs(iso: string | undefined): number {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso ?? '');
  if (match === null) return Number.NaN;
  const [, d, h, m, s] = match;
  return Math.round(
    ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Number(s ?? 0) * 1000,
  );
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Runs `create`; a 409 (someone else created it first) counts as done. */
async function createUnlessExists(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if (statusOf(error) === 409) return false;
    throw error;
  }
}

/** The entity's properties, or undefined when it does not exist. */
async function existing<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export class Topology {
  /** Declarations done or under way, by endpoint queue (lower case: names are case-insensitive). */
  private readonly declared = new Map<string, Promise<void>>();
  /** Sender-side declarations done or under way, by topic and queue (lower case). */
  private readonly declaredForSending = new Map<string, Promise<void>>();

  constructor(
    private readonly admin: ServiceBusAdministrationClient,
    private readonly defaults: Pick<QueueSettings, 'lockDurationMs' | 'maxDeliveryCount'>,
    private readonly logger: Logger,
  ) {}

  /**
   * Checks an endpoint's names and settings for Service Bus; throws `SLUICE_INVALID_OPTION` naming
   * what it cannot take. Used before anything is declared, with or without provisioning.
   */
  settingsOf(endpoint: EndpointSpec): QueueSettings {
    const check = new OptionChecker(`Service Bus endpoint ${endpoint.queue}`);
    if (!entityNamePattern.test(endpoint.queue)) {
      check.fail('queue', "must be letters, digits, '.', '_' or '-' on Service Bus (no ':')", endpoint.queue);
    }
    if (endpoint.topics.length > 0 && endpoint.queue.length > maxSubscriptionName) {
      check.fail(
        'queue',
        `must be at most ${maxSubscriptionName} characters: it names the endpoint's topic subscriptions`,
        endpoint.queue,
      );
    }
    for (const topic of endpoint.topics) {
      if (!entityNamePattern.test(topic))
        check.fail('topics', "must be letters, digits, '.', '_' or '-'", topic);
    }
    const broker =
      endpoint.options?.broker === undefined
        ? {}
        : check.object('options.broker', endpoint.options.broker, brokerOptions);
    const ttl = endpoint.options?.messageTtlMs;
    return {
      lockDurationMs: check.int(
        'options.broker.lockDurationMs',
        broker.lockDurationMs ?? this.defaults.lockDurationMs,
        100,
        300_000,
      ),
      maxDeliveryCount: check.int(
        'options.broker.maxDeliveryCount',
        broker.maxDeliveryCount ?? this.defaults.maxDeliveryCount,
        1,
        2_000,
      ),
      messageTtlMs: ttl === undefined ? undefined : check.int('options.messageTtlMs', ttl, 1, 2 ** 31 - 1),
      maxSizeInMegabytes:
        broker.maxSizeInMegabytes === undefined
          ? undefined
          : check.int('options.broker.maxSizeInMegabytes', broker.maxSizeInMegabytes, 1, 81_920),
    };
  }

  /** Declares the endpoint (once per transport; a failed declaration is tried again next time). */
  declareEndpoint(endpoint: EndpointSpec): Promise<void> {
    const key = endpoint.queue.toLowerCase();
    let declaring = this.declared.get(key);
    if (declaring === undefined) {
      declaring = this.declare(endpoint, this.settingsOf(endpoint));
      this.declared.set(key, declaring);
      declaring.catch(() => this.declared.delete(key));
    }
    return declaring;
  }

  /** Forgets what was declared, so the next declaration checks the broker again (after an entity vanished). */
  forget(queue: string): void {
    this.declared.delete(queue.toLowerCase());
  }

  /**
   * The sender's side of an endpoint: creates `consumer.queue` (with its settings), `topic` and the
   * subscription forwarding the topic to the queue, each only when missing, so a message sent before
   * the queue's consumer ever started waits in the queue. What exists is left as it is (its consumer
   * owns its settings and rule). Once per transport; a failed one, or one {@link forgetConsumerQueue}
   * dropped, is tried again at the next call.
   */
  declareConsumerQueue(topic: string, consumer: ConsumerQueue): Promise<void> {
    const key = `${topic.toLowerCase()}\n${consumer.queue.toLowerCase()}`;
    let declaring = this.declaredForSending.get(key);
    if (declaring === undefined) {
      const settings = this.settingsOf({
        queue: consumer.queue,
        topics: [topic],
        prefetch: 1,
        retryDelaysMs: [],
        options: consumer.options,
      });
      declaring = this.createMissing(topic, consumer.queue, settings);
      this.declaredForSending.set(key, declaring);
      declaring.catch(() => this.declaredForSending.delete(key));
    }
    return declaring;
  }

  /** Forgets the sender-side declarations for `topic` (its topic or queue vanished). */
  forgetConsumerQueue(topic: string): void {
    const prefix = `${topic.toLowerCase()}\n`;
    for (const key of this.declaredForSending.keys())
      if (key.startsWith(prefix)) this.declaredForSending.delete(key);
  }

  private async createMissing(topic: string, queue: string, settings: QueueSettings): Promise<void> {
    if (
      (await existing(() => this.admin.getQueue(queue))) === undefined &&
      (await createUnlessExists(() => this.admin.createQueue(queue, queueOptionsOf(settings))))
    ) {
      this.logger.info({ queue, topic }, 'Service Bus queue created by a sender');
    }
    await this.ensureTopic(topic);
    if ((await existing(() => this.admin.getSubscription(topic, queue))) === undefined) {
      await this.createSubscription(topic, queue, ruleFilterFor(undefined));
    }
  }

  private async declare(endpoint: EndpointSpec, settings: QueueSettings): Promise<void> {
    await this.ensureQueue(endpoint.queue, settings);
    const filter = ruleFilterFor(endpoint.filter);
    for (const topic of endpoint.topics) {
      await this.ensureTopic(topic);
      await this.ensureSubscription(topic, endpoint.queue, filter);
    }
  }

  private async ensureQueue(name: string, settings: QueueSettings): Promise<void> {
    const wanted = queueOptionsOf(settings);
    const current = await existing(() => this.admin.getQueue(name));
    if (current === undefined && (await createUnlessExists(() => this.admin.createQueue(name, wanted)))) {
      this.logger.info({ queue: name }, 'Service Bus queue created');
      return;
    }
    const queue = current ?? (await this.admin.getQueue(name));
    const differs = queueDifferences(queue, wanted);
    if (differs.length === 0) return;
    await this.admin.updateQueue({ ...queue, ...wanted });
    this.logger.info({ queue: name, changed: differs }, 'Service Bus queue settings updated');
  }

  private async ensureTopic(name: string): Promise<void> {
    if ((await existing(() => this.admin.getTopic(name))) !== undefined) return;
    if (await createUnlessExists(() => this.admin.createTopic(name))) {
      this.logger.info({ topic: name }, 'Service Bus topic created');
    }
  }

  private async ensureSubscription(topic: string, queue: string, filter: RuleFilter): Promise<void> {
    const wanted = subscriptionOptions(queue);
    const current = await existing(() => this.admin.getSubscription(topic, queue));
    if (current === undefined) {
      if (await this.createSubscription(topic, queue, filter)) return;
    } else if (!forwardsTo(current, queue) || current.deadLetteringOnFilterEvaluationExceptions) {
      await this.admin.updateSubscription({ ...current, ...wanted });
      this.logger.info({ topic, subscription: queue, forwardTo: queue }, 'Service Bus subscription updated');
    }
    await this.ensureRule(topic, queue, filter);
  }

  /** Creates the subscription of `queue` on `topic`, forwarding to it; false when it existed already. */
  private async createSubscription(topic: string, queue: string, filter: RuleFilter): Promise<boolean> {
    const created = await createUnlessExists(() =>
      this.admin.createSubscription(topic, queue, {
        ...subscriptionOptions(queue),
        defaultRuleOptions: { name: ruleName, filter },
      }),
    );
    if (created) {
      this.logger.info({ topic, subscription: queue, forwardTo: queue }, 'Service Bus subscription created');
    }
    return created;
  }

  /** Leaves exactly one rule, `sluice`, with `filter`: written (or rewritten) first, then the others removed. */
  private async ensureRule(topic: string, subscription: string, filter: RuleFilter): Promise<void> {
    const rules = [];
    for await (const rule of this.admin.listRules(topic, subscription)) rules.push(rule);
    const own = rules.find((rule) => rule.name === ruleName);
    if (own === undefined) await this.admin.createRule(topic, subscription, ruleName, filter);
    else if (!sameFilter(own.filter as RuleFilter, filter)) {
      const current = await this.admin.getRule(topic, subscription, ruleName);
      await this.admin.updateRule(topic, subscription, { ...current, filter });
    }
    const others = rules.filter((rule) => rule.name !== ruleName);
    for (const rule of others) await this.admin.deleteRule(topic, subscription, rule.name);
    if (own === undefined || others.length > 0 || !sameFilter(own.filter as RuleFilter, filter)) {
      this.logger.info(
        { topic, subscription, rule: ruleName, removed: others.map((r) => r.name) },
        'Service Bus subscription rule updated',
      );
    }
  }
}

/** What the administration API is asked for a queue with `settings`. */
function queueOptionsOf(settings: QueueSettings): CreateQueueOptions {
  const wanted: CreateQueueOptions = {
    lockDuration: isoDuration(settings.lockDurationMs),
    maxDeliveryCount: settings.maxDeliveryCount,
    deadLetteringOnMessageExpiration: true,
  };
  if (settings.messageTtlMs !== undefined)
    wanted.defaultMessageTimeToLive = isoDuration(settings.messageTtlMs);
  if (settings.maxSizeInMegabytes !== undefined) wanted.maxSizeInMegabytes = settings.maxSizeInMegabytes;
  return wanted;
}

/** The settings of the subscription that forwards a topic to `queue`. */
function subscriptionOptions(queue: string) {
  return { forwardTo: queue, deadLetteringOnFilterEvaluationExceptions: false };
}

function forwardsTo(subscription: SubscriptionProperties, queue: string): boolean {
  const target = subscription.forwardTo?.replace(/\/+$/, '').split('/').at(-1);
  return target?.toLowerCase() === queue.toLowerCase();
}

/** The settings of `queue` that differ from `wanted`, by name. */
function queueDifferences(queue: QueueProperties, wanted: CreateQueueOptions): string[] {
  const differs: string[] = [];
  if (durationMs(queue.lockDuration) !== durationMs(wanted.lockDuration)) differs.push('lockDuration');
  if (queue.maxDeliveryCount !== wanted.maxDeliveryCount) differs.push('maxDeliveryCount');
  if (queue.deadLetteringOnMessageExpiration !== true) differs.push('deadLetteringOnMessageExpiration');
  if (
    wanted.defaultMessageTimeToLive !== undefined &&
    durationMs(queue.defaultMessageTimeToLive) !== durationMs(wanted.defaultMessageTimeToLive)
  ) {
    differs.push('defaultMessageTimeToLive');
  }
  if (wanted.maxSizeInMegabytes !== undefined && queue.maxSizeInMegabytes !== wanted.maxSizeInMegabytes)
    differs.push('maxSizeInMegabytes');
  return differs;
}

/** Turns an administration error into a Sluice one (a 401/403 or 400 is the options' fault). */
export function provisioningError(
  error: unknown,
  what: string,
  redact: (text: string) => string,
): SluiceError {
  const status = statusOf(error);
  const text = redact(error instanceof Error ? error.message : String(error));
  if (status === 400 || status === 401 || status === 403) {
    return new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `Service Bus refused to declare ${what} (HTTP ${status}): ${text}`,
    );
  }
  return new SluiceError(ErrorCodes.CONNECTION_LOST, `could not declare ${what} on Service Bus: ${text}`);
}
