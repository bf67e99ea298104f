/**
 * Turns decorator records into validated endpoint configurations. Every check names the class and the
 * option, so a misconfigured consumer fails at start-up, never at its first message.
 */
import { backoffDelay } from './backoff.js';
import { getEndpointMetadata, type HandlerClass } from './decorators.js';
import { ErrorCodes, SluiceError } from './errors.js';
import { OptionChecker } from './option-checker.js';
import { acceptedTypes, type CommandDefinition, type MessageDefinition } from './message-definition.js';
import { describeFilterProblems, type MessageFilter } from './message-filter.js';
import { isValidBrokerName, subscriptionQueueName } from './naming.js';
import type {
  Backoff,
  CircuitBreakerOptions,
  EndpointOptions,
  MessageHandler,
  RetryOptions,
  ScalingOptions,
} from './types.js';
import type { QueueOptions } from './transport.js';

/** A consumer's settings after defaults and validation. */
export interface EndpointConfig {
  /** The class name; used in logs, metrics and fault headers. */
  readonly name: string;
  readonly handlerClass: HandlerClass;
  readonly kind: 'consumer' | 'event-handler';
  /** The service (host) it runs in. */
  readonly service: string;
  readonly message: MessageDefinition;
  readonly queue: string;
  /** Type names bound to the queue (the message's and those it upcasts). */
  readonly topics: readonly string[];
  readonly subscription: string | undefined;
  readonly filter: MessageFilter | undefined;
  readonly prefetch: number;
  readonly concurrency: number;
  readonly retry: {
    readonly attempts: number;
    readonly immediate: number;
    readonly backoff: Backoff;
    readonly redelivery: Backoff;
    readonly retryable: ((error: Error) => boolean) | undefined;
  };
  /** Delay before redelivery n (index n-1), one per possible redelivery. */
  readonly retryDelaysMs: readonly number[];
  readonly timeoutMs: number;
  readonly circuitBreaker: Required<CircuitBreakerOptions> | undefined;
  /** Dedup record TTL and claim lease, when idempotency is on. */
  readonly idempotency: { readonly ttlMs: number; readonly leaseMs: number } | undefined;
  readonly queueOptions: QueueOptions | undefined;
  readonly scaling: Required<ScalingOptions>;
}

export const defaultBackoff: Backoff = { initialMs: 50, factor: 2, maxMs: 1_000, jitter: 0.2 };
export const defaultRedelivery: Backoff = { initialMs: 1_000, factor: 5, maxMs: 300_000, jitter: 0 };
const defaultBreaker: Required<CircuitBreakerOptions> = { failures: 10, windowMs: 60_000, coolOffMs: 30_000 };
const defaultIdempotencyTtlMs = 24 * 60 * 60 * 1000;
/** A claim's lease: what a crash mid-handler delays redeliveries by, at most. Renewed while it runs. */
const defaultIdempotencyLeaseMs = 15_000;
/** A handler call is asked to stop (its signal aborts) after 5 minutes unless `timeoutMs` says otherwise. */
const defaultTimeoutMs = 300_000;

function brokerName(check: OptionChecker, option: string, value: unknown): string {
  if (typeof value !== 'string' || !isValidBrokerName(value)) {
    check.fail(option, 'must be 1-200 characters of letters, digits, ".", "_", ":" or "-"', value);
  }
  return value;
}

function checkBackoff(
  check: OptionChecker,
  option: string,
  value: Partial<Backoff> | undefined,
  defaults: Backoff,
): Backoff {
  const merged = { ...defaults, ...value };
  const backoff = {
    initialMs: check.int(`${option}.initialMs`, merged.initialMs, 0, 86_400_000),
    factor: check.number(`${option}.factor`, merged.factor, 1, 100),
    maxMs: check.int(`${option}.maxMs`, merged.maxMs, 0, 86_400_000),
    jitter: check.number(`${option}.jitter`, merged.jitter, 0, 1),
  };
  if (backoff.maxMs < backoff.initialMs) check.fail(`${option}.maxMs`, 'must be >= initialMs', backoff.maxMs);
  return backoff;
}

const knownOptions = new Set([
  'queue',
  'message',
  'subscription',
  'filter',
  'prefetch',
  'concurrency',
  'retry',
  'timeoutMs',
  'circuitBreaker',
  'idempotency',
  'queueOptions',
  'inject',
  'scaling',
]);

const scalingOptions = new Set(['targetBacklogPerReplica', 'min', 'max', 'cooldownSeconds', 'activation']);

/** The scaling hints with their defaults (see `ScalingOptions`); `min` must not exceed `max`. */
function checkScaling(check: OptionChecker, value: unknown, prefetch: number): Required<ScalingOptions> {
  const given = (value === undefined ? {} : check.object('scaling', value, scalingOptions)) as ScalingOptions;
  const scaling = {
    targetBacklogPerReplica: check.int(
      'scaling.targetBacklogPerReplica',
      given.targetBacklogPerReplica ?? 2 * prefetch,
      1,
      1_000_000_000,
    ),
    min: check.int('scaling.min', given.min ?? 0, 0, 10_000),
    max: check.int('scaling.max', given.max ?? 100, 1, 10_000),
    cooldownSeconds: check.int('scaling.cooldownSeconds', given.cooldownSeconds ?? 300, 0, 86_400),
    activation: check.int('scaling.activation', given.activation ?? 0, 0, 1_000_000_000),
  };
  if (scaling.min > scaling.max)
    check.fail('scaling.min', `must be <= scaling.max (${scaling.max})`, scaling.min);
  return scaling;
}

/**
 * Validates the decorator record of `handlerClass` merged over `defaults`; throws `SLUICE_INVALID_OPTION`
 * naming the class and the option.
 */
export function resolveEndpointConfig(
  handlerClass: HandlerClass,
  serviceName: string,
  defaults: EndpointOptions = {},
): EndpointConfig {
  const name = handlerClass.name || 'anonymous class';
  const metadata = getEndpointMetadata(handlerClass);
  if (metadata === undefined) {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `${name} is registered as a consumer but has no @Consumer or @EventHandler decorator`,
    );
  }
  const decorator = metadata.kind === 'consumer' ? '@Consumer' : '@EventHandler';
  const check: OptionChecker = new OptionChecker(`${decorator} on ${name}`);
  if (typeof (handlerClass.prototype as Partial<MessageHandler> | undefined)?.handle !== 'function') {
    throw new SluiceError(
      ErrorCodes.INVALID_OPTION,
      `${decorator} on ${name}: the class has no handle(message, context) method`,
    );
  }
  const options: Record<string, unknown> & EndpointOptions = { ...defaults, ...metadata.options };
  for (const key of Object.keys(metadata.options)) {
    if (!knownOptions.has(key)) check.fail(key, 'is not a known option', (metadata.options as never)[key]);
  }

  const message = metadata.message as MessageDefinition | undefined;
  if (typeof message?.type !== 'string' || !(message.upcasters instanceof Map)) {
    check.fail('message', 'must be a definition from defineCommand() or defineEvent()', message);
  }
  if (metadata.kind === 'event-handler' && message.kind !== 'event') {
    check.fail('message', 'must be an event (defineEvent) for @EventHandler', message.type);
  }

  let queue: string;
  let subscription: string | undefined;
  let filter: MessageFilter | undefined;
  const named = message.kind === 'command' ? (message as CommandDefinition) : undefined;
  if (metadata.kind === 'consumer') {
    const given = metadata.options.queue;
    if (named?.queue === undefined) queue = brokerName(check, 'queue', given);
    else if (given === undefined || given === named.queue) queue = named.queue;
    else {
      check.fail(
        'queue',
        `must be "${named.queue}" (the queue ${message.type} is defined with), or left out`,
        given,
      );
    }
  } else {
    subscription = brokerName(check, 'subscription', metadata.options.subscription);
    queue = subscriptionQueueName(serviceName, subscription);
    filter = metadata.options.filter;
    if (filter !== undefined) {
      const problems = describeFilterProblems(filter);
      if (problems.length > 0) check.fail('filter', `is invalid: ${problems.join('; ')}`, filter);
    }
  }

  const prefetch = check.int('prefetch', options.prefetch ?? 10, 1, 65_535);
  const concurrency = check.int('concurrency', options.concurrency ?? prefetch, 1, prefetch);
  const own = metadata.options.retry ?? {};
  if (typeof own !== 'object' || own === null) check.fail('retry', 'must be an object', own);
  // Host defaults and the decorator merge per field, so a decorator setting only `attempts` keeps the
  // host's delays.
  const base = defaults.retry ?? {};
  const retryOptions: RetryOptions = {
    ...base,
    ...own,
    backoff: { ...base.backoff, ...own.backoff },
    redelivery: { ...base.redelivery, ...own.redelivery },
  };
  const attempts = check.int('retry.attempts', retryOptions.attempts ?? 5, 1, 100);
  const retry = {
    attempts,
    immediate: check.int('retry.immediate', retryOptions.immediate ?? 2, 1, 100),
    backoff: checkBackoff(check, 'retry.backoff', retryOptions.backoff, defaultBackoff),
    redelivery: checkBackoff(check, 'retry.redelivery', retryOptions.redelivery, defaultRedelivery),
    retryable: retryOptions.retryable,
  };
  if (retry.retryable !== undefined && typeof retry.retryable !== 'function') {
    check.fail('retry.retryable', 'must be a function (error) => boolean', retry.retryable);
  }
  if (retry.redelivery.jitter !== 0) {
    check.fail(
      'retry.redelivery.jitter',
      'must be 0 (brokers keep one delay queue per delay)',
      retry.redelivery.jitter,
    );
  }
  const retryDelaysMs = Array.from({ length: attempts - 1 }, (_, i) => backoffDelay(retry.redelivery, i + 1));

  const timeoutMs = check.int('timeoutMs', options.timeoutMs ?? defaultTimeoutMs, 1, 86_400_000);

  let circuitBreaker: Required<CircuitBreakerOptions> | undefined;
  if (options.circuitBreaker !== undefined && options.circuitBreaker !== false) {
    const given = options.circuitBreaker === true ? {} : options.circuitBreaker;
    const merged = { ...defaultBreaker, ...given };
    circuitBreaker = {
      failures: check.int('circuitBreaker.failures', merged.failures, 1, 1_000_000),
      windowMs: check.int('circuitBreaker.windowMs', merged.windowMs, 1, 86_400_000),
      coolOffMs: check.int('circuitBreaker.coolOffMs', merged.coolOffMs, 1, 86_400_000),
    };
  }

  let idempotency: EndpointConfig['idempotency'];
  if (options.idempotency === true) {
    idempotency = { ttlMs: defaultIdempotencyTtlMs, leaseMs: defaultIdempotencyLeaseMs };
  } else if (typeof options.idempotency === 'object' && options.idempotency !== null) {
    const given = check.object('idempotency', options.idempotency, new Set(['ttlMs', 'leaseMs']));
    idempotency = {
      ttlMs: check.int('idempotency.ttlMs', given.ttlMs ?? defaultIdempotencyTtlMs, 1, 365 * 86_400_000),
      leaseMs: check.int('idempotency.leaseMs', given.leaseMs ?? defaultIdempotencyLeaseMs, 100, 86_400_000),
    };
  } else if (options.idempotency !== undefined && options.idempotency !== false) {
    check.fail('idempotency', 'must be a boolean or { ttlMs, leaseMs }', options.idempotency);
  }

  // A queue its senders declare has the settings of its definition, or a sender and its consumer
  // would declare it differently (RabbitMQ refuses the second declaration).
  if (named?.queue !== undefined && metadata.kind === 'consumer' && options.queueOptions !== undefined) {
    check.fail(
      'queueOptions',
      `cannot be set on the consumer or in the host defaults: the senders of ${message.type} declare its queue ${named.queue} too, so its settings go on the definition (defineCommand queueOptions)`,
      options.queueOptions,
    );
  }
  const queueOptions =
    named?.queue !== undefined && metadata.kind === 'consumer' ? named.queueOptions : options.queueOptions;
  if (queueOptions?.messageTtlMs !== undefined) {
    check.int('queueOptions.messageTtlMs', queueOptions.messageTtlMs, 1, 2 ** 31 - 1);
  }
  if (queueOptions?.maxLength !== undefined) {
    check.int('queueOptions.maxLength', queueOptions.maxLength, 1, 2 ** 31 - 1);
  }

  const scaling = checkScaling(check, options.scaling, prefetch);

  return {
    name,
    handlerClass,
    kind: metadata.kind,
    service: serviceName,
    message,
    queue,
    topics: acceptedTypes(message),
    subscription,
    filter,
    prefetch,
    concurrency,
    retry,
    retryDelaysMs,
    timeoutMs,
    circuitBreaker,
    idempotency,
    queueOptions,
    scaling,
  };
}
