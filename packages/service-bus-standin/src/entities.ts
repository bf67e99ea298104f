import type { Message } from 'rhea';
import { badRequestError, BrokerError, entityNotFoundError } from './broker-error.js';
import { maxTimeSpan, parseDuration } from './duration.js';
import { filterableMessage } from './filterable-message.js';
import { MessageQueue, type QueueBehaviour } from './message-queue.js';
import { DuplicateDetector } from './duplicate-detector.js';
import { defaultRuleName, type Rule, ruleMatches, sqlRule } from './rules.js';
import { TimerSet } from './timers.js';

/**
 * Settings of a queue or subscription, named and written as the ATOM API writes them (durations in
 * ISO 8601). Those the stand-in acts on: `lockDuration`, `maxDeliveryCount`,
 * `defaultMessageTimeToLive`, `deadLetteringOnMessageExpiration`. The others are kept and reported.
 */
export interface ReceivableSettings {
  lockDuration: string;
  maxDeliveryCount: number;
  defaultMessageTimeToLive: string;
  deadLetteringOnMessageExpiration: boolean;
  enableBatchedOperations: boolean;
  autoDeleteOnIdle: string;
  status: string;
  userMetadata: string | undefined;
}

/** Duplicate detection, chosen when an entity is created (Service Bus refuses to change it later). */
export interface DuplicateDetectionSettings {
  requiresDuplicateDetection: boolean;
  duplicateDetectionHistoryTimeWindow: string;
}

/** Queue settings (`maxSizeInMegabytes` is reported, not enforced). */
export interface QueueSettings extends ReceivableSettings, DuplicateDetectionSettings {
  maxSizeInMegabytes: number;
}

/** Subscription settings. */
export interface SubscriptionSettings extends ReceivableSettings {
  deadLetteringOnFilterEvaluationExceptions: boolean;
  /**
   * Auto-forwarding: the queue each matching message is moved to instead of this subscription, as
   * the client wrote it (the SDK writes `sb://<host>/<queue>`); undefined when it keeps them.
   */
  forwardTo: string | undefined;
}

/** Topic settings (reported; `defaultMessageTimeToLive` caps its subscriptions' messages too). */
export interface TopicSettings extends DuplicateDetectionSettings {
  defaultMessageTimeToLive: string;
  maxSizeInMegabytes: number;
  enableBatchedOperations: boolean;
  autoDeleteOnIdle: string;
  status: string;
  userMetadata: string | undefined;
  supportOrdering: boolean;
}

const receivableDefaults: ReceivableSettings = {
  lockDuration: 'PT1M',
  maxDeliveryCount: 10,
  defaultMessageTimeToLive: maxTimeSpan,
  deadLetteringOnMessageExpiration: false,
  enableBatchedOperations: true,
  autoDeleteOnIdle: maxTimeSpan,
  status: 'Active',
  userMetadata: undefined,
};

/** A new queue's settings where none are given (those of a Standard-tier namespace). */
export const queueDefaults: QueueSettings = {
  ...receivableDefaults,
  maxSizeInMegabytes: 1024,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindow: 'PT10M',
};

/** A new subscription's settings where none are given. */
export const subscriptionDefaults: SubscriptionSettings = {
  ...receivableDefaults,
  deadLetteringOnFilterEvaluationExceptions: true,
  forwardTo: undefined,
};

/** A new topic's settings where none are given. */
export const topicDefaults: TopicSettings = {
  defaultMessageTimeToLive: maxTimeSpan,
  maxSizeInMegabytes: 1024,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindow: 'PT10M',
  enableBatchedOperations: true,
  autoDeleteOnIdle: maxTimeSpan,
  status: 'Active',
  userMetadata: undefined,
  supportOrdering: true,
};

/** Creation, update and access instants, as runtime properties report them. */
export class EntityTimes {
  readonly createdAt = new Date();
  updatedAt = new Date();
  accessedAt = new Date();
}

/** Anything a sender link or `schedule-message` can target. */
export interface SendTarget {
  /**
   * Takes a message: available now, or scheduled when it carries a future
   * `x-opt-scheduled-enqueue-time`; dropped when duplicate detection has seen its id.
   */
  accept(message: Message, size: number): void;
  /**
   * Holds a message until `dueAt` (epoch ms); its sequence number for cancelling (a duplicate the
   * detection drops gets a number that names nothing).
   */
  schedule(message: Message, size: number, dueAt: number): number;
  /** Cancels a scheduled message; throws the not-found `BrokerError` when there is none. */
  cancelScheduled(sequenceNumber: number): void;
}

/** A queue: a send target and a message queue with its dead-letter sub-queue. */
export class QueueEntity implements SendTarget {
  readonly times = new EntityTimes();
  readonly messages: MessageQueue;
  private readonly duplicates = new DuplicateDetector(() => detectionWindowMs(this.settings));

  constructor(
    readonly name: string,
    public settings: QueueSettings,
  ) {
    const deadLetters = new MessageQueue(`${name}/$DeadLetterQueue`);
    this.messages = new MessageQueue(name, () => behaviourOf(this.settings), deadLetters);
  }

  accept(message: Message, size: number): void {
    this.times.accessedAt = new Date();
    const dueAt = scheduledTime(message);
    if (dueAt !== undefined && dueAt > Date.now()) this.schedule(message, size, dueAt);
    else if (!this.isDuplicate(message)) this.messages.enqueue(message, size);
  }

  schedule(message: Message, size: number, dueAt: number): number {
    if (this.isDuplicate(message)) return 0;
    return this.messages.schedule(message, size, dueAt);
  }

  private isDuplicate(message: Message): boolean {
    return this.settings.requiresDuplicateDetection && this.duplicates.isDuplicate(message);
  }

  cancelScheduled(sequenceNumber: number): void {
    this.messages.cancelScheduled(sequenceNumber);
  }
}

/** A topic subscription: its rules and its own message queue with dead-letter sub-queue. */
export class SubscriptionEntity {
  readonly times = new EntityTimes();
  readonly rules = new Map<string, Rule>();
  readonly messages: MessageQueue;

  constructor(
    readonly topic: TopicEntity,
    readonly name: string,
    public settings: SubscriptionSettings,
    defaultRule: Rule = sqlRule(defaultRuleName, '1=1'),
  ) {
    const path = `${topic.name}/Subscriptions/${name}`;
    const deadLetters = new MessageQueue(`${path}/$DeadLetterQueue`);
    this.messages = new MessageQueue(path, () => this.behaviour(), deadLetters);
    this.rules.set(defaultRule.name, defaultRule);
  }

  get path(): string {
    return `${this.topic.name}/Subscriptions/${this.name}`;
  }

  private behaviour(): QueueBehaviour {
    const own = behaviourOf(this.settings);
    const topicTtl = parseDuration(this.topic.settings.defaultMessageTimeToLive) ?? Number.POSITIVE_INFINITY;
    return { ...own, defaultTtlMs: Math.min(own.defaultTtlMs, topicTtl) };
  }
}

/**
 * A topic: a send target that copies each message to every subscription with a matching rule (a
 * message no subscription wants is dropped, as on Service Bus); a subscription that auto-forwards
 * hands its copy to its queue at once. Scheduled messages wait at the topic and are copied when due.
 */
export class TopicEntity implements SendTarget {
  readonly times = new EntityTimes();
  readonly subscriptions = new Map<string, SubscriptionEntity>();
  private readonly scheduled = new Map<number, Message>();
  private readonly dueTimers = new TimerSet<number>();
  private readonly duplicates = new DuplicateDetector(() => detectionWindowMs(this.settings));
  private nextSequenceNumber = 1;

  constructor(
    readonly name: string,
    public settings: TopicSettings,
    /** The queue a subscription forwards to, by the name its `forwardTo` gives (undefined: gone). */
    private readonly forwardTarget: (forwardTo: string) => QueueEntity | undefined,
  ) {}

  /** How many scheduled messages wait at the topic. */
  get scheduledCount(): number {
    return this.scheduled.size;
  }

  accept(message: Message, size: number): void {
    this.times.accessedAt = new Date();
    const dueAt = scheduledTime(message);
    if (dueAt !== undefined && dueAt > Date.now()) {
      this.schedule(message, size, dueAt);
      return;
    }
    if (this.isDuplicate(message)) return;
    this.copyToSubscriptions(message, size);
  }

  schedule(message: Message, size: number, dueAt: number): number {
    if (this.isDuplicate(message)) return 0;
    const sequenceNumber = this.nextSequenceNumber++;
    this.scheduled.set(sequenceNumber, message);
    this.dueTimers.set(sequenceNumber, dueAt, () => {
      this.scheduled.delete(sequenceNumber);
      this.copyToSubscriptions(message, size);
    });
    return sequenceNumber;
  }

  private isDuplicate(message: Message): boolean {
    return this.settings.requiresDuplicateDetection && this.duplicates.isDuplicate(message);
  }

  private copyToSubscriptions(message: Message, size: number): void {
    const filterable = filterableMessage(message);
    for (const subscription of this.subscriptions.values()) {
      const rules = [...subscription.rules.values()];
      if (!rules.some((rule) => ruleMatches(rule, filterable))) continue;
      const { forwardTo } = subscription.settings;
      const target = forwardTo === undefined ? undefined : this.forwardTarget(forwardTo);
      if (target !== undefined) target.accept(message, size);
      else if (forwardTo === undefined) subscription.messages.enqueue(message, size);
      else {
        // The queue it forwards to was deleted since: Service Bus dead-letters in the source.
        subscription.messages.enqueueDeadLetter(message, size, {
          DeadLetterReason: 'ForwardingDestinationNotFound',
          DeadLetterErrorDescription: `The auto-forwarding destination '${forwardTo}' does not exist.`,
        });
      }
    }
  }

  cancelScheduled(sequenceNumber: number): void {
    if (!this.scheduled.delete(sequenceNumber)) {
      throw new BrokerError(
        'com.microsoft:message-not-found',
        `No scheduled message with sequence number ${sequenceNumber} in '${this.name}'.`,
        404,
      );
    }
    this.dueTimers.cancel(sequenceNumber);
  }

  /** Drops scheduled messages and every subscription (the topic was deleted). */
  close(error: BrokerError): void {
    this.dueTimers.clear();
    this.scheduled.clear();
    for (const subscription of this.subscriptions.values()) subscription.messages.close(error);
    this.subscriptions.clear();
  }
}

/** What an AMQP address names: a send target, a message queue to receive from, or neither. */
export interface ResolvedAddress {
  readonly sendTarget?: SendTarget;
  readonly receiveFrom?: MessageQueue;
  /** The subscription at the address (rule operations need it). */
  readonly subscription?: SubscriptionEntity;
}

/**
 * The namespace: queues and topics by name (case-insensitive, as on Service Bus; a queue and a
 * topic cannot share a name), and the address forms `q`, `t`, `t/Subscriptions/s` and
 * `<entity>/$DeadLetterQueue`. Creating what exists throws a 409 `BrokerError`, touching what does
 * not a 404 one.
 */
export class Namespace {
  private readonly queues = new Map<string, QueueEntity>();
  private readonly topics = new Map<string, TopicEntity>();

  constructor(readonly name: string) {}

  /** Every queue, in creation order. */
  allQueues(): QueueEntity[] {
    return [...this.queues.values()];
  }

  /** Every topic, in creation order. */
  allTopics(): TopicEntity[] {
    return [...this.topics.values()];
  }

  /** The queue named `name` (any case), if there is one. */
  queue(name: string): QueueEntity | undefined {
    return this.queues.get(name.toLowerCase());
  }

  /** The topic named `name` (any case), if there is one. */
  topic(name: string): TopicEntity | undefined {
    return this.topics.get(name.toLowerCase());
  }

  /** The subscription `name` of topic `topicName`, if there is one. */
  subscription(topicName: string, name: string): SubscriptionEntity | undefined {
    return this.topic(topicName)?.subscriptions.get(name.toLowerCase());
  }

  /** Creates a queue; throws 409 when the name is taken, 400 for a bad name or setting. */
  createQueue(name: string, settings: QueueSettings): QueueEntity {
    this.assertFree(name);
    const queue = new QueueEntity(name, validated(settings));
    this.queues.set(name.toLowerCase(), queue);
    return queue;
  }

  /** Creates a topic; throws 409 when the name is taken, 400 for a bad name. */
  createTopic(name: string, settings: TopicSettings): TopicEntity {
    this.assertFree(name);
    const topic = new TopicEntity(name, settings, (forwardTo) => this.queue(forwardedName(forwardTo)));
    this.topics.set(name.toLowerCase(), topic);
    return topic;
  }

  /** Creates a subscription with `defaultRule` (default `$Default`, `1=1`); 404 without the topic, 409 when taken. */
  createSubscription(
    topicName: string,
    name: string,
    settings: SubscriptionSettings,
    defaultRule?: Rule,
  ): SubscriptionEntity {
    const topic = this.topic(topicName);
    if (topic === undefined) throw entityNotFoundError(topicName);
    assertValidName(name);
    if (topic.subscriptions.has(name.toLowerCase()))
      throw alreadyExists(`${topicName}/Subscriptions/${name}`);
    const subscription = new SubscriptionEntity(
      topic,
      name,
      this.forwardable(validated(settings)),
      defaultRule,
    );
    topic.subscriptions.set(name.toLowerCase(), subscription);
    return subscription;
  }

  /** Applies new settings to a subscription after checking them (its forwarding target included). */
  updateSubscription(subscription: SubscriptionEntity, settings: SubscriptionSettings): void {
    this.updateSettings(subscription, this.forwardable(settings));
  }

  /** Deletes a queue: its messages are dropped and its receivers detached; 404 when missing. */
  deleteQueue(name: string): void {
    const queue = this.queue(name);
    if (queue === undefined) throw entityNotFoundError(name);
    this.queues.delete(name.toLowerCase());
    queue.messages.close(entityNotFoundError(name));
  }

  /** Deletes a topic with its subscriptions; 404 when missing. */
  deleteTopic(name: string): void {
    const topic = this.topic(name);
    if (topic === undefined) throw entityNotFoundError(name);
    this.topics.delete(name.toLowerCase());
    topic.close(entityNotFoundError(name));
  }

  /** Deletes a subscription; 404 when missing. */
  deleteSubscription(topicName: string, name: string): void {
    const subscription = this.subscription(topicName, name);
    if (subscription === undefined) throw entityNotFoundError(`${topicName}/Subscriptions/${name}`);
    subscription.topic.subscriptions.delete(name.toLowerCase());
    subscription.messages.close(entityNotFoundError(subscription.path));
  }

  /** Applies new settings to a queue or subscription after checking them. */
  updateSettings<S extends ReceivableSettings>(
    entity: { settings: S; times: EntityTimes },
    settings: S,
  ): void {
    entity.settings = validated(settings);
    entity.times.updatedAt = new Date();
  }

  /** Resolves an AMQP address (without host); an empty result when nothing is there. */
  resolve(address: string): ResolvedAddress {
    const parts = address.replace(/^\/+|\/+$/g, '').split('/');
    const deadLetter = parts.at(-1)?.toLowerCase() === '$deadletterqueue';
    if (deadLetter) parts.pop();
    let found:
      { messages: MessageQueue; sendTarget?: SendTarget; subscription?: SubscriptionEntity } | undefined;
    if (parts.length === 1) {
      const queue = this.queue(parts[0]!);
      const topic = this.topic(parts[0]!);
      if (queue !== undefined) found = { messages: queue.messages, sendTarget: queue };
      else if (topic !== undefined && !deadLetter) return { sendTarget: topic };
    } else if (parts.length === 3 && parts[1]!.toLowerCase() === 'subscriptions') {
      const subscription = this.subscription(parts[0]!, parts[2]!);
      if (subscription !== undefined) found = { messages: subscription.messages, subscription };
    }
    if (found === undefined) return {};
    if (deadLetter) return { receiveFrom: found.messages.deadLetterQueue };
    return { receiveFrom: found.messages, sendTarget: found.sendTarget, subscription: found.subscription };
  }

  /**
   * Ends locks now, as if they had run out: those of the queue, subscription or dead-letter
   * sub-queue at `address`, or every lock when no address is given; how many. Throws the not-found
   * `BrokerError` for an unknown address.
   */
  expireLocks(address?: string): number {
    if (address !== undefined) {
      const queue = this.resolve(address).receiveFrom;
      if (queue === undefined) throw entityNotFoundError(address);
      return queue.expireLocks();
    }
    const receivables = [
      ...this.allQueues().map((queue) => queue.messages),
      ...this.allTopics().flatMap((topic) => [...topic.subscriptions.values()].map((s) => s.messages)),
    ];
    return receivables
      .flatMap((queue) => [queue, queue.deadLetterQueue!])
      .reduce((count, queue) => count + queue.expireLocks(), 0);
  }

  /** Ends every entity (the stand-in is closing). */
  close(): void {
    const error = new BrokerError('amqp:connection:forced', 'The stand-in is shutting down.', 503);
    for (const queue of this.queues.values()) queue.messages.close(error);
    for (const topic of this.topics.values()) topic.close(error);
    this.queues.clear();
    this.topics.clear();
  }

  /** `settings` when their `forwardTo` names an existing queue (or nothing); else a 400. */
  private forwardable(settings: SubscriptionSettings): SubscriptionSettings {
    const { forwardTo } = settings;
    if (forwardTo !== undefined && this.queue(forwardedName(forwardTo)) === undefined) {
      throw badRequestError(
        `The auto-forwarding destination '${forwardTo}' is not a queue of this namespace (the stand-in forwards to queues only).`,
      );
    }
    return settings;
  }

  private assertFree(name: string): void {
    assertValidName(name);
    if (this.queues.has(name.toLowerCase()) || this.topics.has(name.toLowerCase())) throw alreadyExists(name);
  }
}

function assertValidName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/.test(name)) {
    throw badRequestError(`'${name}' is not a valid entity name (letters, digits, '.', '_', '-').`);
  }
}

/** The entity name in a `forwardTo` value: the path of `sb://host/name` (or the bare name). */
function forwardedName(forwardTo: string): string {
  const match = /^[a-z]+:\/\/[^/]*\/(.*)$/i.exec(forwardTo);
  return (match === null ? forwardTo : match[1]!).replace(/\/+$/, '');
}

function alreadyExists(path: string): BrokerError {
  return new BrokerError(
    'com.microsoft:entity-already-exists',
    `The messaging entity '${path}' already exists.`,
    409,
  );
}

/** Lock durations from 100 ms (shorter than Service Bus's 5 s floor, so tests stay fast) to 5 min. */
function validated<S extends ReceivableSettings>(settings: S): S {
  const lockMs = parseDuration(settings.lockDuration);
  if (lockMs === undefined || lockMs < 100 || lockMs > 300_000) {
    throw badRequestError(`LockDuration '${settings.lockDuration}' must be a duration from PT0.1S to PT5M.`);
  }
  if (!Number.isInteger(settings.maxDeliveryCount) || settings.maxDeliveryCount < 1) {
    throw badRequestError(
      `MaxDeliveryCount '${settings.maxDeliveryCount}' must be a whole number of at least 1.`,
    );
  }
  if (parseDuration(settings.defaultMessageTimeToLive) === undefined) {
    throw badRequestError(
      `DefaultMessageTimeToLive '${settings.defaultMessageTimeToLive}' is not a duration.`,
    );
  }
  return settings;
}

function detectionWindowMs(settings: DuplicateDetectionSettings): number {
  return parseDuration(settings.duplicateDetectionHistoryTimeWindow) ?? 600_000;
}

function behaviourOf(settings: ReceivableSettings): QueueBehaviour {
  return {
    lockDurationMs: parseDuration(settings.lockDuration)!,
    maxDeliveryCount: settings.maxDeliveryCount,
    defaultTtlMs: parseDuration(settings.defaultMessageTimeToLive)!,
    deadLetteringOnMessageExpiration: settings.deadLetteringOnMessageExpiration,
  };
}

const scheduledEnqueueTime = 'x-opt-scheduled-enqueue-time';

function scheduledTime(message: Message): number | undefined {
  const value: unknown = message.message_annotations?.[scheduledEnqueueTime];
  if (value instanceof Date) return value.getTime();
  return typeof value === 'number' ? value : undefined;
}
