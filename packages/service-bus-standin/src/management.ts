import rhea, { type Message } from 'rhea';
import { decodeMessage, encodeDelivered, withMessageId } from './amqp-codec.js';
import { badRequestError, BrokerError, entityNotFoundError } from './broker-error.js';
import type { Reply } from './cbs.js';
import type { ResolvedAddress } from './entities.js';
import type { Faults } from './faults.js';
import { lockTokenFromUuid } from './lock-token.js';
import type { MessageQueue } from './message-queue.js';
import { type CorrelationFields, correlationRule, type Rule, sqlRule } from './rules.js';
import { SqlFilterError } from './sql-filter.js';

const { types } = rhea;

/** Descriptor codes of the rule descriptions `enumerate-rules` returns. */
const descriptors = {
  ruleDescription: 0x0000013700000004,
  sqlFilter: 0x0000001370000006,
  trueFilter: 0x0000001370000007,
  correlationFilter: 0x0000001370000009,
  emptyRuleAction: 0x0000013700000005,
};

/**
 * Answers a `$management` request for the entity at `path` (resolved to `entity`): renew-lock,
 * schedule-message, cancel-scheduled-message, peek-message (204 when nothing is there),
 * receive-by-sequence-number, update-disposition, add-rule, remove-rule, enumerate-rules. Refusals
 * carry `statusCode`, `statusDescription` and `errorCondition` as Service Bus writes them; sessions and
 * batch deletes answer 501.
 */
export function handleManagementRequest(
  request: Message,
  path: string,
  entity: ResolvedAddress,
  faults: Faults,
): Reply {
  try {
    const fault = faults.take('management');
    if (fault !== undefined) throw fault;
    const operation = String(
      (request.application_properties as Record<string, unknown> | undefined)?.operation,
    );
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<
      string,
      unknown
    >;
    return perform(operation, body, path, entity);
  } catch (error) {
    const refusal =
      error instanceof BrokerError
        ? error
        : error instanceof SqlFilterError
          ? badRequestError(error.message)
          : badRequestError(`The request could not be processed: ${(error as Error).message}`);
    return {
      application_properties: {
        statusCode: refusal.statusCode,
        statusDescription: refusal.message,
        errorCondition: refusal.condition,
      },
    };
  }
}

function perform(
  operation: string,
  body: Record<string, unknown>,
  path: string,
  entity: ResolvedAddress,
): Reply {
  switch (operation) {
    case 'com.microsoft:renew-lock': {
      const queue = receivable(entity, path);
      const expirations = lockTokens(body).map((token) => new Date(queue.renewLock(token)));
      return ok({ expirations: types.wrap_array(expirations, 0x83, undefined) });
    }
    case 'com.microsoft:schedule-message': {
      const target = sendable(entity, path);
      const entries = list(body.messages, 'messages') as Record<string, unknown>[];
      const sequenceNumbers = entries.map((entry) => {
        if (!Buffer.isBuffer(entry.message))
          throw badRequestError('Each scheduled entry needs its encoded message.');
        const message = withMessageId(decodeMessage(entry.message));
        const dueAt: unknown = message.message_annotations?.['x-opt-scheduled-enqueue-time'];
        if (!(dueAt instanceof Date))
          throw badRequestError('A scheduled message needs x-opt-scheduled-enqueue-time.');
        return target.schedule(message, entry.message.length, dueAt.getTime());
      });
      return ok({ 'sequence-numbers': types.wrap_array(sequenceNumbers, 0x81, undefined) });
    }
    case 'com.microsoft:cancel-scheduled-message': {
      const target = sendable(entity, path);
      for (const sequenceNumber of numbers(body['sequence-numbers'])) target.cancelScheduled(sequenceNumber);
      return ok({});
    }
    case 'com.microsoft:peek-message': {
      const queue = receivable(entity, path);
      const found = queue.peek(Number(body['from-sequence-number'] ?? 1), Number(body['message-count'] ?? 1));
      if (found.length === 0)
        return { application_properties: { statusCode: 204, statusDescription: 'No Content' } };
      return ok({ messages: found.map((stored) => ({ message: encodeDelivered(stored, undefined) })) });
    }
    case 'com.microsoft:receive-by-sequence-number': {
      const queue = receivable(entity, path);
      const mode = body['receiver-settle-mode'] === 0 ? 'receiveAndDelete' : 'peekLock';
      const received = queue.receiveDeferred(numbers(body['sequence-numbers']), mode);
      return ok({
        messages: received.map(({ stored, lock }) => ({
          message: encodeDelivered(stored, lock),
          ...(lock === undefined ? {} : { 'lock-token': types.wrap_uuid(rhea.string_to_uuid(lock.token)) }),
        })),
      });
    }
    case 'com.microsoft:update-disposition': {
      const queue = receivable(entity, path);
      const properties = body['properties-to-modify'] as Record<string, unknown> | undefined;
      for (const token of lockTokens(body)) {
        switch (body['disposition-status']) {
          case 'completed':
            queue.complete(token);
            break;
          case 'abandoned':
            queue.abandon(token, properties);
            break;
          case 'defered':
            queue.defer(token, properties);
            break;
          case 'suspended':
            queue.deadLetter(
              token,
              optionalString(body['deadletter-reason']),
              optionalString(body['deadletter-description']),
              properties,
            );
            break;
          default:
            throw badRequestError(`Unknown disposition-status '${String(body['disposition-status'])}'.`);
        }
      }
      return ok({});
    }
    case 'com.microsoft:add-rule': {
      const rules = subscriptionRules(entity, path);
      const rule = ruleFromDescription(String(body['rule-name']), body['rule-description']);
      if (rules.has(rule.name)) {
        throw new BrokerError(
          'com.microsoft:entity-already-exists',
          `The messaging entity '${path}/Rules/${rule.name}' already exists.`,
          409,
        );
      }
      rules.set(rule.name, rule);
      return ok({});
    }
    case 'com.microsoft:remove-rule': {
      const rules = subscriptionRules(entity, path);
      const name = String(body['rule-name']);
      if (!rules.delete(name)) throw entityNotFoundError(`${path}/Rules/${name}`);
      return ok({});
    }
    case 'com.microsoft:enumerate-rules': {
      const all = [...subscriptionRules(entity, path).values()];
      const skip = Number(body.skip ?? 0);
      const top = Number(body.top ?? all.length);
      const page = all.slice(skip, skip + top);
      if (page.length === 0)
        return { application_properties: { statusCode: 204, statusDescription: 'No Content' } };
      return ok({ rules: page.map((rule) => types.wrap_map({ 'rule-description': ruleDescription(rule) })) });
    }
    default:
      throw new BrokerError('amqp:not-implemented', `The stand-in does not implement '${operation}'.`, 501);
  }
}

function ok(body: Record<string, unknown>): Reply {
  return { application_properties: { statusCode: 200, statusDescription: 'OK' }, body };
}

function receivable(entity: ResolvedAddress, path: string): MessageQueue {
  if (entity.receiveFrom === undefined) throw entityNotFoundError(path);
  return entity.receiveFrom;
}

function sendable(entity: ResolvedAddress, path: string): NonNullable<ResolvedAddress['sendTarget']> {
  if (entity.sendTarget === undefined) throw entityNotFoundError(path);
  return entity.sendTarget;
}

function subscriptionRules(entity: ResolvedAddress, path: string): Map<string, Rule> {
  if (entity.subscription === undefined) throw entityNotFoundError(path);
  return entity.subscription.rules;
}

function list(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value)) throw badRequestError(`'${name}' must be an array.`);
  return value;
}

function numbers(value: unknown): number[] {
  return list(value, 'sequence-numbers').map((item) => Number(item));
}

function lockTokens(body: Record<string, unknown>): string[] {
  return list(body['lock-tokens'], 'lock-tokens').map((item) => {
    if (!Buffer.isBuffer(item) || item.length !== 16)
      throw badRequestError('Each lock token must be a uuid.');
    return lockTokenFromUuid(item);
  });
}

function optionalString(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

const correlationKeys: Record<string, keyof CorrelationFields> = {
  'correlation-id': 'CorrelationId',
  'message-id': 'MessageId',
  to: 'To',
  'reply-to': 'ReplyTo',
  label: 'Label',
  'session-id': 'SessionId',
  'reply-to-session-id': 'ReplyToSessionId',
  'content-type': 'ContentType',
};

/** A rule from an `add-rule` description (`sql-filter` or `correlation-filter`; no rule action). */
function ruleFromDescription(name: string, description: unknown): Rule {
  const fields = (description ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (fields['sql-rule-action'] !== undefined && fields['sql-rule-action'] !== null) {
    throw badRequestError('Rule actions are not implemented by the stand-in.');
  }
  const sql = fields['sql-filter'];
  if (sql !== undefined && sql !== null) return sqlRule(name, String(sql.expression));
  const correlation = fields['correlation-filter'];
  if (correlation === undefined || correlation === null) {
    throw badRequestError('A rule description needs a sql-filter or a correlation-filter.');
  }
  const system: CorrelationFields = {};
  for (const [key, field] of Object.entries(correlationKeys)) {
    const value = correlation[key];
    if (value !== undefined && value !== null) system[field] = String(value);
  }
  const properties = (correlation.properties ?? {}) as Record<string, string | number | boolean>;
  return correlationRule(name, system, properties);
}

function ruleDescription(rule: Rule): unknown {
  const filter = rule.filter;
  const encodedFilter =
    filter.kind === 'sql'
      ? filter.sql.expression === '1=1'
        ? types.described(types.wrap_ulong(descriptors.trueFilter), types.wrap_list([]))
        : types.described(
            types.wrap_ulong(descriptors.sqlFilter),
            types.wrap_list([types.wrap_string(filter.sql.expression), types.wrap_int(20)]),
          )
      : types.described(
          types.wrap_ulong(descriptors.correlationFilter),
          types.wrap_list([
            ...Object.values(correlationKeys).map((field) => types.wrap(filter.fields[field] ?? null)),
            types.wrap_map(filter.properties),
          ]),
        );
  return types.described(
    types.wrap_ulong(descriptors.ruleDescription),
    types.wrap_list([
      encodedFilter,
      types.described(types.wrap_ulong(descriptors.emptyRuleAction), types.wrap_list([])),
      types.wrap_string(rule.name),
    ]),
  );
}
