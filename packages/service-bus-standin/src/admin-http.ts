import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  entry,
  errorDocument,
  feed,
  namespaceDescription,
  parsePutBody,
  queueDescription,
  queueSettingsFrom,
  ruleDescription,
  ruleFrom,
  subscriptionDescription,
  subscriptionSettingsFrom,
  topicDescription,
  topicSettingsFrom,
} from './atom.js';
import { badRequestError, BrokerError, entityNotFoundError } from './broker-error.js';
import {
  type DuplicateDetectionSettings,
  type Namespace,
  queueDefaults,
  type QueueEntity,
  subscriptionDefaults,
  type SubscriptionEntity,
  topicDefaults,
  type TopicEntity,
} from './entities.js';
import type { AccessTokens } from './access-token.js';
import { type FaultOperation, faultOperations, type Faults } from './faults.js';
import { defaultRuleName } from './rules.js';
import { grantCovers, type SasPolicy, SasError, verifySasToken } from './sas.js';
import { SqlFilterError } from './sql-filter.js';

/** What the administration endpoint needs. */
export interface AdminHttpOptions {
  readonly namespace: Namespace;
  readonly policies: readonly SasPolicy[];
  readonly accessTokens: AccessTokens;
  readonly faults: Faults;
  /** The fault hooks the control paths call. */
  readonly control: {
    dropConnections(): number;
    expireLocks(address?: string): number;
  };
  readonly createdAt: Date;
}

const maxBodyBytes = 1024 * 1024;

/**
 * The administration client's HTTPS endpoint (ATOM over HTTP, a SAS or the stand-in's bearer
 * token in `Authorization`):
 * namespace info; list, create (PUT), update (PUT with `If-Match: *`), get and delete of queues,
 * topics, subscriptions and rules, with runtime properties in every description. And, for a process
 * pointed at the stand-in from outside, the fault hooks as `POST /$stand-in/drop-connections`,
 * `POST /$stand-in/expire-locks[?entity=<address>]` and `POST /$stand-in/fail-next?operation=send` (same SAS auth).
 * Errors answer with Service Bus's status codes and an `<Error><Detail>` document.
 */
export function adminRequestHandler(
  options: AdminHttpOptions,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    readBody(request)
      .then((body) => route(options, request, body))
      .then(
        ({ status, xml }) => send(response, status, xml),
        (error: unknown) => {
          const refusal =
            error instanceof BrokerError
              ? error
              : error instanceof SqlFilterError
                ? badRequestError(error.message)
                : new BrokerError(
                    'amqp:internal-error',
                    `The stand-in failed: ${(error as Error).message}`,
                    500,
                  );
          send(response, refusal.statusCode, errorDocument(refusal.statusCode, refusal.message));
        },
      );
  };
}

function send(response: ServerResponse, status: number, xml: string | undefined): void {
  response.writeHead(
    status,
    xml === undefined ? {} : { 'content-type': 'application/atom+xml;type=entry;charset=utf-8' },
  );
  response.end(xml);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw badRequestError(`The request body exceeds ${maxBodyBytes} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Answer {
  readonly status: number;
  readonly xml?: string;
}

async function route(options: AdminHttpOptions, request: IncomingMessage, body: string): Promise<Answer> {
  const url = new URL(request.url ?? '/', 'https://stand-in');
  const segments = url.pathname
    .split('/')
    .filter((segment) => segment !== '')
    .map(decodeURIComponent);
  authorize(options, request, segments.join('/'));
  const fault = options.faults.take('admin');
  if (fault !== undefined) throw fault;
  const host = request.headers.host ?? 'localhost';
  const method = request.method ?? 'GET';
  const ns = options.namespace;
  const [first, second, third, fourth, fifth] = segments;

  if (first === '$stand-in' && method === 'POST') return control(options, second, url);
  if (first === '$namespaceinfo' && segments.length === 1) {
    return {
      status: 200,
      xml: entry(
        host,
        '$namespaceinfo',
        ns.name,
        timesOf(options.createdAt),
        namespaceDescription(ns.name, options.createdAt),
      ),
    };
  }
  if (first === '$Resources' && segments.length === 2 && method === 'GET') {
    const page = pageOf(url);
    if (second === 'Queues') {
      return {
        status: 200,
        xml: feed(
          host,
          '$Resources/Queues',
          'Queues',
          page(ns.allQueues()).map((queue) => queueEntry(host, queue)),
        ),
      };
    }
    if (second === 'Topics') {
      return {
        status: 200,
        xml: feed(
          host,
          '$Resources/Topics',
          'Topics',
          page(ns.allTopics()).map((topic) => topicEntry(host, topic)),
        ),
      };
    }
  }
  if (first === undefined) throw badRequestError('The request names no entity.');
  if (segments.length === 1) return entityRequest(ns, method, host, first, body, request);
  if (second?.toLowerCase() !== 'subscriptions') throw entityNotFoundError(segments.join('/'));
  const topic = ns.topic(first);
  if (topic === undefined) throw entityNotFoundError(first);
  if (segments.length === 2 && method === 'GET') {
    const subscriptions = pageOf(url)([...topic.subscriptions.values()]);
    return {
      status: 200,
      xml: feed(
        host,
        `${topic.name}/Subscriptions`,
        'Subscriptions',
        subscriptions.map((s) => subscriptionEntry(host, s)),
      ),
    };
  }
  if (third === undefined) throw badRequestError('The request names no subscription.');
  if (segments.length === 3) return subscriptionRequest(ns, method, host, topic, third, body, request);
  if (fourth?.toLowerCase() !== 'rules') throw entityNotFoundError(segments.join('/'));
  const subscription = ns.subscription(topic.name, third);
  if (subscription === undefined) throw entityNotFoundError(`${topic.name}/Subscriptions/${third}`);
  if (segments.length === 4 && method === 'GET') {
    const rules = pageOf(url)([...subscription.rules.values()]);
    return {
      status: 200,
      xml: feed(
        host,
        `${subscription.path}/Rules`,
        'Rules',
        rules.map((rule) => ruleEntry(host, subscription, rule.name)),
      ),
    };
  }
  if (fifth === undefined || segments.length !== 5) throw badRequestError('The request names no rule.');
  return ruleRequest(method, host, subscription, fifth, body, request);
}

function entityRequest(
  ns: Namespace,
  method: string,
  host: string,
  name: string,
  body: string,
  request: IncomingMessage,
): Answer {
  const queue = ns.queue(name);
  const topic = ns.topic(name);
  if (method === 'GET') {
    if (queue !== undefined) return { status: 200, xml: queueEntry(host, queue) };
    if (topic !== undefined) return { status: 200, xml: topicEntry(host, topic) };
    throw entityNotFoundError(name);
  }
  if (method === 'DELETE') {
    if (queue !== undefined) ns.deleteQueue(name);
    else ns.deleteTopic(name);
    return { status: 200 };
  }
  if (method !== 'PUT') throw badRequestError(`${method} is not supported here.`);
  const { kind, fields } = parsePutBody(body);
  const update = isUpdate(request);
  if (kind === 'QueueDescription') {
    if (!update)
      return {
        status: 201,
        xml: queueEntry(host, ns.createQueue(name, queueSettingsFrom(fields, queueDefaults))),
      };
    if (queue === undefined) throw entityNotFoundError(name);
    ns.updateSettings(queue, unchangedDetection(queue.settings, queueSettingsFrom(fields, queue.settings)));
    return { status: 200, xml: queueEntry(host, queue) };
  }
  if (kind === 'TopicDescription') {
    if (!update)
      return {
        status: 201,
        xml: topicEntry(host, ns.createTopic(name, topicSettingsFrom(fields, topicDefaults))),
      };
    if (topic === undefined) throw entityNotFoundError(name);
    topic.settings = unchangedDetection(topic.settings, topicSettingsFrom(fields, topic.settings));
    topic.times.updatedAt = new Date();
    return { status: 200, xml: topicEntry(host, topic) };
  }
  throw badRequestError(`A ${kind} cannot be put at '${name}'.`);
}

function subscriptionRequest(
  ns: Namespace,
  method: string,
  host: string,
  topic: TopicEntity,
  name: string,
  body: string,
  request: IncomingMessage,
): Answer {
  const existing = ns.subscription(topic.name, name);
  if (method === 'GET') {
    if (existing === undefined) throw entityNotFoundError(`${topic.name}/Subscriptions/${name}`);
    return { status: 200, xml: subscriptionEntry(host, existing) };
  }
  if (method === 'DELETE') {
    ns.deleteSubscription(topic.name, name);
    return { status: 200 };
  }
  if (method !== 'PUT') throw badRequestError(`${method} is not supported here.`);
  const { kind, fields } = parsePutBody(body);
  if (kind !== 'SubscriptionDescription')
    throw badRequestError(`A ${kind} cannot be put at a subscription path.`);
  if (!isUpdate(request)) {
    const description = fields.DefaultRuleDescription;
    // The default rule keeps the name the description gives it ($Default without one).
    const defaultRule =
      typeof description === 'object' && description !== null
        ? ruleFrom(
            description as Record<string, unknown>,
            typeof (description as { Name?: unknown }).Name === 'string'
              ? (description as { Name: string }).Name
              : defaultRuleName,
          )
        : undefined;
    const created = ns.createSubscription(
      topic.name,
      name,
      subscriptionSettingsFrom(fields, subscriptionDefaults),
      defaultRule,
    );
    return { status: 201, xml: subscriptionEntry(host, created) };
  }
  if (existing === undefined) throw entityNotFoundError(`${topic.name}/Subscriptions/${name}`);
  ns.updateSubscription(existing, subscriptionSettingsFrom(fields, existing.settings));
  return { status: 200, xml: subscriptionEntry(host, existing) };
}

function ruleRequest(
  method: string,
  host: string,
  subscription: SubscriptionEntity,
  name: string,
  body: string,
  request: IncomingMessage,
): Answer {
  const path = `${subscription.path}/Rules/${name}`;
  if (method === 'GET') {
    if (!subscription.rules.has(name)) throw entityNotFoundError(path);
    return { status: 200, xml: ruleEntry(host, subscription, name) };
  }
  if (method === 'DELETE') {
    if (!subscription.rules.delete(name)) throw entityNotFoundError(path);
    return { status: 200 };
  }
  if (method !== 'PUT') throw badRequestError(`${method} is not supported here.`);
  const { kind, fields } = parsePutBody(body);
  if (kind !== 'RuleDescription') throw badRequestError(`A ${kind} cannot be put at a rule path.`);
  const update = isUpdate(request);
  if (!/^[A-Za-z0-9$][A-Za-z0-9._$-]{0,49}$/.test(name))
    throw badRequestError(`'${name}' is not a valid rule name.`);
  if (update && !subscription.rules.has(name)) throw entityNotFoundError(path);
  if (!update && subscription.rules.has(name)) {
    throw new BrokerError(
      'com.microsoft:entity-already-exists',
      `The messaging entity '${path}' already exists.`,
      409,
    );
  }
  subscription.rules.set(name, ruleFrom(fields, name));
  return { status: update ? 200 : 201, xml: ruleEntry(host, subscription, name) };
}

function control(options: AdminHttpOptions, action: string | undefined, url: URL): Answer {
  if (action === 'drop-connections')
    return { status: 200, xml: `<Dropped>${options.control.dropConnections()}</Dropped>` };
  if (action === 'expire-locks') {
    const expired = options.control.expireLocks(url.searchParams.get('entity') ?? undefined);
    return { status: 200, xml: `<Expired>${expired}</Expired>` };
  }
  if (action === 'fail-next') {
    const operation = url.searchParams.get('operation') as FaultOperation | null;
    if (operation === null || !faultOperations.includes(operation)) {
      throw badRequestError(`fail-next needs ?operation= one of ${faultOperations.join(', ')}.`);
    }
    const condition = url.searchParams.get('condition') ?? undefined;
    options.faults.failNext(operation, condition === undefined ? {} : { condition });
    return { status: 200 };
  }
  throw entityNotFoundError(`$stand-in/${action ?? ''}`);
}

function authorize(options: AdminHttpOptions, request: IncomingMessage, path: string): void {
  const header = request.headers.authorization;
  const unauthorized = (why: string) =>
    new BrokerError('amqp:unauthorized-access', `Unauthorized: ${why}.`, 401);
  if (header === undefined) throw unauthorized('the request has no Authorization header');
  try {
    const grant = header.startsWith('Bearer ')
      ? options.accessTokens.verify(header.slice('Bearer '.length))
      : verifySasToken(header, options.policies);
    if (!grantCovers(grant, path)) throw unauthorized(`the token does not cover '${path}'`);
  } catch (error) {
    if (error instanceof SasError) throw unauthorized(error.message);
    throw error;
  }
}

/** `next`, unless it switches duplicate detection, which Service Bus fixes at creation. */
function unchangedDetection<S extends DuplicateDetectionSettings>(current: S, next: S): S {
  if (current.requiresDuplicateDetection !== next.requiresDuplicateDetection) {
    throw badRequestError('RequiresDuplicateDetection cannot be changed after the entity is created.');
  }
  return next;
}

function isUpdate(request: IncomingMessage): boolean {
  return request.headers['if-match'] === '*';
}

function pageOf(url: URL): <T>(items: T[]) => T[] {
  const skip = Number(url.searchParams.get('$skip') ?? 0);
  const top = url.searchParams.get('$top');
  return (items) => items.slice(skip, top === null ? undefined : skip + Number(top));
}

function timesOf(at: Date): { createdAt: Date; updatedAt: Date; accessedAt: Date } {
  return { createdAt: at, updatedAt: at, accessedAt: at };
}

function queueEntry(host: string, queue: QueueEntity): string {
  return entry(host, queue.name, queue.name, queue.times, queueDescription(queue));
}

function topicEntry(host: string, topic: TopicEntity): string {
  return entry(host, topic.name, topic.name, topic.times, topicDescription(topic));
}

function subscriptionEntry(host: string, subscription: SubscriptionEntity): string {
  return entry(
    host,
    subscription.path,
    subscription.name,
    subscription.times,
    subscriptionDescription(subscription),
  );
}

function ruleEntry(host: string, subscription: SubscriptionEntity, name: string): string {
  const rule = subscription.rules.get(name)!;
  const times = timesOf(rule.createdAt);
  return entry(host, `${subscription.path}/Rules/${name}`, name, times, ruleDescription(rule));
}
