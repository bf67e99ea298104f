import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { badRequestError } from './broker-error.js';
import { parseDuration } from './duration.js';
import type {
  DuplicateDetectionSettings,
  EntityTimes,
  QueueEntity,
  QueueSettings,
  ReceivableSettings,
  SubscriptionEntity,
  SubscriptionSettings,
  TopicEntity,
  TopicSettings,
} from './entities.js';
import { systemPropertyNames } from './filterable-message.js';
import type { QueueCounts } from './message-queue.js';
import { type CorrelationFields, correlationRule, type Rule, sqlRule } from './rules.js';

/**
 * The ATOM documents of the administration API (api-version 2021-05): entries and feeds the SDK's
 * strict deserializers accept (every element they require is written), and the descriptions a
 * client PUTs, read into settings. The SDK names entities from each entry's `id` URL.
 */

const connectNs = 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect';
const instanceNs = 'http://www.w3.org/2001/XMLSchema-instance';
const countNs = 'http://schemas.microsoft.com/netservices/2011/06/servicebus';
const schemaNs = 'http://www.w3.org/2001/XMLSchema';
const apiVersion = '2021-05';

/** Escapes text for element content and attribute values. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Field = readonly [name: string, value: string | number | boolean | undefined];

function elements(fields: readonly Field[]): string {
  return fields
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `<${name}>${escape(String(value))}</${name}>`)
    .join('');
}

/** The URL an entry is known by (`https://<host>/<path>?api-version=...`). */
export function entryUrl(host: string, path: string): string {
  return `https://${host}/${path}?api-version=${apiVersion}`;
}

/** An ATOM entry whose content is `description` (an XML element). */
export function entry(
  host: string,
  path: string,
  title: string,
  times: EntityTimes,
  description: string,
): string {
  const url = escape(entryUrl(host, path));
  return (
    `<entry xmlns="http://www.w3.org/2005/Atom"><id>${url}</id><title type="text">${escape(title)}</title>` +
    `<published>${times.createdAt.toISOString()}</published><updated>${times.updatedAt.toISOString()}</updated>` +
    `<author><name>service-bus-standin</name></author><link rel="self" href="${url}"/>` +
    `<content type="application/xml">${description}</content></entry>`
  );
}

/** An ATOM feed of `entries` (each an `entry()` string). */
export function feed(host: string, path: string, title: string, entries: readonly string[]): string {
  const url = escape(entryUrl(host, path));
  return (
    `<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">${escape(title)}</title><id>${url}</id>` +
    `<updated>${new Date().toISOString()}</updated><link rel="self" href="${url}"/>${entries.join('')}</feed>`
  );
}

/** The error document the SDK reads `Error.Detail` from. */
export function errorDocument(statusCode: number, detail: string): string {
  return `<Error><Code>${statusCode}</Code><Detail>${escape(detail)}</Detail></Error>`;
}

function countDetails(counts: QueueCounts, deadLetters: number): string {
  const field = (name: string, value: number) => `<d2p1:${name}>${value}</d2p1:${name}>`;
  return (
    `<CountDetails xmlns:d2p1="${countNs}">` +
    field('ActiveMessageCount', counts.active) +
    field('DeadLetterMessageCount', deadLetters) +
    field('ScheduledMessageCount', counts.scheduled) +
    field('TransferMessageCount', 0) +
    field('TransferDeadLetterMessageCount', 0) +
    `</CountDetails>`
  );
}

function timeFields(times: EntityTimes): Field[] {
  return [
    ['CreatedAt', times.createdAt.toISOString()],
    ['UpdatedAt', times.updatedAt.toISOString()],
    ['AccessedAt', times.accessedAt.toISOString()],
  ];
}

/** A queue's `QueueDescription` with its runtime properties. */
export function queueDescription(queue: QueueEntity): string {
  const s = queue.settings;
  const counts = queue.messages.counts();
  const deadLetters = queue.messages.deadLetterQueue!.counts();
  return (
    `<QueueDescription xmlns="${connectNs}" xmlns:i="${instanceNs}">` +
    elements([
      ['LockDuration', s.lockDuration],
      ['MaxSizeInMegabytes', s.maxSizeInMegabytes],
      ['RequiresDuplicateDetection', s.requiresDuplicateDetection],
      ['RequiresSession', false],
      ['DefaultMessageTimeToLive', s.defaultMessageTimeToLive],
      ['DeadLetteringOnMessageExpiration', s.deadLetteringOnMessageExpiration],
      ['DuplicateDetectionHistoryTimeWindow', s.duplicateDetectionHistoryTimeWindow],
      ['MaxDeliveryCount', s.maxDeliveryCount],
      ['EnableBatchedOperations', s.enableBatchedOperations],
      ['SizeInBytes', counts.sizeInBytes + deadLetters.sizeInBytes],
      ['MessageCount', counts.active + counts.scheduled + deadLetters.active],
      ['IsAnonymousAccessible', false],
    ]) +
    `<AuthorizationRules/>` +
    elements([
      ['Status', s.status],
      ['UserMetadata', s.userMetadata],
      ...timeFields(queue.times),
      ['SupportOrdering', true],
    ]) +
    countDetails(counts, deadLetters.active) +
    elements([
      ['AutoDeleteOnIdle', s.autoDeleteOnIdle],
      ['EnablePartitioning', false],
      ['EntityAvailabilityStatus', 'Available'],
      ['EnableExpress', false],
    ]) +
    `</QueueDescription>`
  );
}

/** A topic's `TopicDescription` with its runtime properties. */
export function topicDescription(topic: TopicEntity): string {
  const s = topic.settings;
  return (
    `<TopicDescription xmlns="${connectNs}" xmlns:i="${instanceNs}">` +
    elements([
      ['DefaultMessageTimeToLive', s.defaultMessageTimeToLive],
      ['MaxSizeInMegabytes', s.maxSizeInMegabytes],
      ['RequiresDuplicateDetection', s.requiresDuplicateDetection],
      ['DuplicateDetectionHistoryTimeWindow', s.duplicateDetectionHistoryTimeWindow],
      ['EnableBatchedOperations', s.enableBatchedOperations],
      ['SizeInBytes', 0],
      ['FilteringMessagesBeforePublishing', false],
      ['IsAnonymousAccessible', false],
    ]) +
    `<AuthorizationRules/>` +
    elements([
      ['Status', s.status],
      ['UserMetadata', s.userMetadata],
      ...timeFields(topic.times),
      ['SupportOrdering', s.supportOrdering],
    ]) +
    countDetails({ active: 0, scheduled: topic.scheduledCount, sizeInBytes: 0 }, 0) +
    elements([
      ['AutoDeleteOnIdle', s.autoDeleteOnIdle],
      ['EnablePartitioning', false],
      ['SubscriptionCount', topic.subscriptions.size],
      ['EntityAvailabilityStatus', 'Available'],
      ['EnableExpress', false],
    ]) +
    `</TopicDescription>`
  );
}

/** A subscription's `SubscriptionDescription` with its runtime properties. */
export function subscriptionDescription(subscription: SubscriptionEntity): string {
  const s = subscription.settings;
  const counts = subscription.messages.counts();
  const deadLetters = subscription.messages.deadLetterQueue!.counts();
  return (
    `<SubscriptionDescription xmlns="${connectNs}" xmlns:i="${instanceNs}">` +
    elements([
      ['LockDuration', s.lockDuration],
      ['RequiresSession', false],
      ['DefaultMessageTimeToLive', s.defaultMessageTimeToLive],
      ['DeadLetteringOnMessageExpiration', s.deadLetteringOnMessageExpiration],
      ['DeadLetteringOnFilterEvaluationExceptions', s.deadLetteringOnFilterEvaluationExceptions],
      ['MessageCount', counts.active + counts.scheduled + deadLetters.active],
      ['MaxDeliveryCount', s.maxDeliveryCount],
      ['EnableBatchedOperations', s.enableBatchedOperations],
      ['Status', s.status],
      ['ForwardTo', s.forwardTo],
      ['UserMetadata', s.userMetadata],
      ...timeFields(subscription.times),
    ]) +
    countDetails(counts, deadLetters.active) +
    elements([
      ['AutoDeleteOnIdle', s.autoDeleteOnIdle],
      ['EntityAvailabilityStatus', 'Available'],
    ]) +
    `</SubscriptionDescription>`
  );
}

/** A rule's `RuleDescription`. */
export function ruleDescription(rule: Rule): string {
  const filter = rule.filter;
  let filterXml: string;
  if (filter.kind === 'sql') {
    const type = filter.sql.expression === '1=1' ? 'TrueFilter' : 'SqlFilter';
    filterXml =
      `<Filter i:type="${type}">` +
      elements([
        ['SqlExpression', filter.sql.expression],
        ['CompatibilityLevel', 20],
      ]) +
      `</Filter>`;
  } else {
    const properties = Object.entries(filter.properties)
      .map(
        ([key, value]) =>
          `<KeyValueOfstringanyType><Key>${escape(key)}</Key><Value i:type="d6p1:${xmlType(value)}" xmlns:d6p1="${schemaNs}">${escape(String(value))}</Value></KeyValueOfstringanyType>`,
      )
      .join('');
    filterXml =
      `<Filter i:type="CorrelationFilter">` +
      elements(systemPropertyNames.map((name) => [name, filter.fields[name]] as const)) +
      (properties === '' ? '' : `<Properties>${properties}</Properties>`) +
      `</Filter>`;
  }
  return (
    `<RuleDescription xmlns="${connectNs}" xmlns:i="${instanceNs}">${filterXml}<Action i:type="EmptyRuleAction"/>` +
    elements([
      ['CreatedAt', rule.createdAt.toISOString()],
      ['Name', rule.name],
    ]) +
    `</RuleDescription>`
  );
}

/** The namespace's `NamespaceInfo`. */
export function namespaceDescription(name: string, createdAt: Date): string {
  return (
    `<NamespaceInfo xmlns="${connectNs}" xmlns:i="${instanceNs}">` +
    elements([
      ['CreatedTime', createdAt.toISOString()],
      ['MessagingSKU', 'Standard'],
      ['ModifiedTime', createdAt.toISOString()],
      ['Name', name],
      ['NamespaceType', 'Messaging'],
    ]) +
    `</NamespaceInfo>`
  );
}

function xmlType(value: string | number | boolean): string {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  return 'string';
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/** A PUT body's description: its element name (`QueueDescription`, ...) and its fields. */
export interface PutDescription {
  readonly kind: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Reads an ATOM entry a client PUT; throws a 400 `BrokerError` when it is not one. */
export function parsePutBody(body: string): PutDescription {
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    throw badRequestError(`The request body is not XML: ${valid.err.msg} (line ${valid.err.line}).`);
  }
  const document = parser.parse(body) as Record<string, unknown>;
  const content = (document.entry as Record<string, unknown> | undefined)?.content as
    Record<string, unknown> | undefined;
  const kind = Object.keys(content ?? {}).find((key) => !key.startsWith('@'));
  if (content === undefined || kind === undefined)
    throw badRequestError('The request body is not an ATOM entry with content.');
  const fields = content[kind];
  return {
    kind,
    fields: typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : {},
  };
}

/** Queue settings from a `QueueDescription`, starting from `base` (the defaults, or the current ones). */
export function queueSettingsFrom(
  fields: Readonly<Record<string, unknown>>,
  base: QueueSettings,
): QueueSettings {
  refuseUnsupported(fields, ['RequiresSession', 'EnablePartitioning', 'EnableExpress']);
  if (fields.ForwardTo !== undefined || fields.ForwardDeadLetteredMessagesTo !== undefined) {
    throw badRequestError('Auto-forwarding from a queue is not implemented by the stand-in.');
  }
  return {
    ...receivableSettingsFrom(fields, base),
    ...duplicateDetectionFrom(fields, base),
    maxSizeInMegabytes: integer(fields, 'MaxSizeInMegabytes', base.maxSizeInMegabytes),
  };
}

/** Subscription settings from a `SubscriptionDescription`. */
export function subscriptionSettingsFrom(
  fields: Readonly<Record<string, unknown>>,
  base: SubscriptionSettings,
): SubscriptionSettings {
  refuseUnsupported(fields, ['RequiresSession']);
  if (fields.ForwardDeadLetteredMessagesTo !== undefined) {
    throw badRequestError('Forwarding dead-lettered messages is not implemented by the stand-in.');
  }
  const forwardTo = text(fields, 'ForwardTo');
  return {
    ...receivableSettingsFrom(fields, base),
    forwardTo: forwardTo === '' ? undefined : (forwardTo ?? base.forwardTo),
    deadLetteringOnFilterEvaluationExceptions: flag(
      fields,
      'DeadLetteringOnFilterEvaluationExceptions',
      base.deadLetteringOnFilterEvaluationExceptions,
    ),
  };
}

/** Topic settings from a `TopicDescription`. */
export function topicSettingsFrom(
  fields: Readonly<Record<string, unknown>>,
  base: TopicSettings,
): TopicSettings {
  refuseUnsupported(fields, ['EnablePartitioning', 'EnableExpress']);
  return {
    ...duplicateDetectionFrom(fields, base),
    defaultMessageTimeToLive: text(fields, 'DefaultMessageTimeToLive') ?? base.defaultMessageTimeToLive,
    maxSizeInMegabytes: integer(fields, 'MaxSizeInMegabytes', base.maxSizeInMegabytes),
    enableBatchedOperations: flag(fields, 'EnableBatchedOperations', base.enableBatchedOperations),
    autoDeleteOnIdle: text(fields, 'AutoDeleteOnIdle') ?? base.autoDeleteOnIdle,
    status: text(fields, 'Status') ?? base.status,
    userMetadata: text(fields, 'UserMetadata') ?? base.userMetadata,
    supportOrdering: flag(fields, 'SupportOrdering', base.supportOrdering),
  };
}

/**
 * A rule from a `RuleDescription` (or a subscription's `DefaultRuleDescription`): a SQL filter (true
 * and false filters are SQL `1=1` / `1=0`) or a correlation filter. Parameters and rule actions are
 * refused as not implemented.
 */
export function ruleFrom(fields: Readonly<Record<string, unknown>>, name: string): Rule {
  const filter = (fields.Filter ?? {}) as Record<string, unknown>;
  const action = (fields.Action ?? {}) as Record<string, unknown>;
  if (action['@type'] !== undefined && action['@type'] !== 'EmptyRuleAction') {
    throw badRequestError('Rule actions are not implemented by the stand-in.');
  }
  if (filter.Parameters !== undefined)
    throw badRequestError('SQL filter parameters are not implemented by the stand-in.');
  const type = String(filter['@type'] ?? 'SqlFilter');
  if (type === 'TrueFilter') return sqlRule(name, '1=1');
  if (type === 'FalseFilter') return sqlRule(name, '1=0');
  if (type === 'SqlFilter') return sqlRule(name, text(filter, 'SqlExpression') ?? '');
  if (type !== 'CorrelationFilter')
    throw badRequestError(`Filter type '${type}' is not implemented by the stand-in.`);
  const system: CorrelationFields = {};
  for (const element of systemPropertyNames) {
    const value = text(filter, element);
    if (value !== undefined) system[element] = value;
  }
  return correlationRule(name, system, keyValuePairs(filter.Properties));
}

function receivableSettingsFrom(
  fields: Readonly<Record<string, unknown>>,
  base: ReceivableSettings,
): ReceivableSettings {
  return {
    lockDuration: text(fields, 'LockDuration') ?? base.lockDuration,
    maxDeliveryCount: integer(fields, 'MaxDeliveryCount', base.maxDeliveryCount),
    defaultMessageTimeToLive: text(fields, 'DefaultMessageTimeToLive') ?? base.defaultMessageTimeToLive,
    deadLetteringOnMessageExpiration: flag(
      fields,
      'DeadLetteringOnMessageExpiration',
      base.deadLetteringOnMessageExpiration,
    ),
    enableBatchedOperations: flag(fields, 'EnableBatchedOperations', base.enableBatchedOperations),
    autoDeleteOnIdle: text(fields, 'AutoDeleteOnIdle') ?? base.autoDeleteOnIdle,
    status: text(fields, 'Status') ?? base.status,
    userMetadata: text(fields, 'UserMetadata') ?? base.userMetadata,
  };
}

/** Duplicate detection from a description; it cannot be switched on or off after creation. */
function duplicateDetectionFrom(
  fields: Readonly<Record<string, unknown>>,
  base: DuplicateDetectionSettings,
): DuplicateDetectionSettings {
  const window =
    text(fields, 'DuplicateDetectionHistoryTimeWindow') ?? base.duplicateDetectionHistoryTimeWindow;
  if (parseDuration(window) === undefined) {
    throw badRequestError(`DuplicateDetectionHistoryTimeWindow '${window}' is not a duration.`);
  }
  return {
    requiresDuplicateDetection: flag(fields, 'RequiresDuplicateDetection', base.requiresDuplicateDetection),
    duplicateDetectionHistoryTimeWindow: window,
  };
}

function refuseUnsupported(fields: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const name of names) {
    if (text(fields, name) === 'true')
      throw badRequestError(`${name}=true is not implemented by the stand-in.`);
  }
  const rules = fields.AuthorizationRules;
  if (typeof rules === 'object' && rules !== null && Object.keys(rules).length > 0) {
    throw badRequestError('Entity-level authorization rules are not implemented by the stand-in.');
  }
}

function text(fields: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null || typeof value === 'object') return undefined;
  return String(value);
}

function integer(fields: Readonly<Record<string, unknown>>, name: string, fallback: number): number {
  const value = text(fields, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw badRequestError(`${name} '${value}' is not a whole number.`);
  return parsed;
}

function flag(fields: Readonly<Record<string, unknown>>, name: string, fallback: boolean): boolean {
  const value = text(fields, name);
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false')
    throw badRequestError(`${name} '${value}' is not true or false.`);
  return value === 'true';
}

function keyValuePairs(value: unknown): Record<string, string | number | boolean> {
  const pairs = (value as { KeyValueOfstringanyType?: unknown } | undefined)?.KeyValueOfstringanyType;
  const list = pairs === undefined ? [] : Array.isArray(pairs) ? pairs : [pairs];
  const result: Record<string, string | number | boolean> = {};
  for (const pair of list as { Key?: unknown; Value?: { '#text'?: unknown; '@type'?: unknown } }[]) {
    const raw = String(pair.Value?.['#text'] ?? '');
    const type = String(pair.Value?.['@type'] ?? '').replace(/^.*:/, '');
    if (type === 'string') result[String(pair.Key)] = raw;
    else if (type === 'boolean') result[String(pair.Key)] = raw === 'true';
    else if (type === 'double' || type === 'long' || type === 'int') result[String(pair.Key)] = Number(raw);
    else throw badRequestError(`Correlation property type '${type}' is not implemented by the stand-in.`);
  }
  return result;
}
