/**
 * Every broker name Sluice derives (queues, dead-letter queues, retry queues, subscription queues)
 * comes from here, so tools, charts and transports agree on them.
 */

/** Queue of an `@EventHandler` subscription: `<service>.<subscription>`. */
export function subscriptionQueueName(serviceName: string, subscription: string): string {
  return `${serviceName}.${subscription}`;
}

/** Dead-letter queue of a queue: `<queue>.dlq`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dlq`;
}

/**
 * Holding queue shared by the endpoints of `service` for redeliveries after `delayMs`:
 * `<service>.retry.<delayMs>ms`, or `<service>.<variant>.retry.<delayMs>ms` for a variant (RabbitMQ:
 * `classic`, for the endpoints on classic queues).
 */
export function retryQueueName(service: string, delayMs: number, variant?: string): string {
  return `${service}${variant === undefined ? '' : `.${variant}`}.retry.${delayMs}ms`;
}

/** True for names produced by {@link retryQueueName}. */
export function isRetryQueueName(queue: string): boolean {
  return /\.retry\.\d+ms$/.test(queue);
}

/** The queue whose dead-letter queue is `dlq` (the inverse of {@link deadLetterQueueName}). */
export function queueOfDeadLetterQueue(dlq: string): string {
  return isDeadLetterQueueName(dlq) ? dlq.slice(0, -'.dlq'.length) : dlq;
}

/** True for names produced by {@link deadLetterQueueName}. */
export function isDeadLetterQueueName(queue: string): boolean {
  return queue.endsWith('.dlq');
}

const subQueueSuffix = '/$DeadLetterQueue';

/** Service Bus: the dead-letter sub-queue of an entity, `<entity>/$DeadLetterQueue`. */
export function deadLetterSubQueueName(entity: string): string {
  return `${entity}${subQueueSuffix}`;
}

/** The entity whose dead-letter sub-queue is `name`; undefined when `name` is none. */
export function entityOfDeadLetterSubQueue(name: string): string | undefined {
  return name.toLowerCase().endsWith(subQueueSuffix.toLowerCase())
    ? name.slice(0, -subQueueSuffix.length)
    : undefined;
}

const brokerNamePattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** True when `name` is safe as a queue, topic or subscription name on every supported broker. */
export function isValidBrokerName(name: string): boolean {
  return brokerNamePattern.test(name);
}
