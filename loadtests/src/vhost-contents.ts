/**
 * What a load run's vhost holds, by order id: the messages of its dead-letter queues (read with
 * @sluice/rabbitmq's `DeadLetters`, which puts an exact copy of each back before taking it, so a read
 * leaves the queue as it was and counts no delivery), and, once the consumers are gone, the messages
 * still waiting in the other queues (work and retry queues).
 *
 * With no consumer left, messages still move: a retry queue's message expires into its work queue
 * (its TTL), and a work queue dead-letters into its `.dlq`. A message moving between two reads is
 * seen in one of them only if the source is read before the target, so `locate` reads the retry
 * queues before the work queues, and the final accounting reads the dead-letter queues last.
 */
import { isDeadLetterQueueName, isRetryQueueName, silentLogger } from '@sluice/core';
import { DeadLetters } from '@sluice/rabbitmq';
import type { RabbitMqManagement } from './rabbitmq-management.js';

/** Messages read per queue by `locate` at most. */
const locateLimit = 5_000;

export interface DeadLettered {
  /** Per order id with a message in a dead-letter queue, that queue. */
  readonly orders: ReadonlyMap<string, string>;
  /** Per `<queue>: <fault reason> (<error type>)`, the count of messages. */
  readonly reasons: Readonly<Record<string, number>>;
  /** Messages in the dead-letter queues. */
  readonly messages: number;
}

export interface Located {
  /** Per order id asked for, the queues holding a message of it. */
  readonly queues: ReadonlyMap<string, readonly string[]>;
  /** False when a queue held more than 5,000 messages (the rest were not read). */
  readonly complete: boolean;
}

/** The order id in a message body, if it is an order's message. */
function orderIdOf(body: string): string | undefined {
  try {
    const { orderId } = JSON.parse(body) as { orderId?: unknown };
    return typeof orderId === 'string' ? orderId : undefined;
  } catch {
    return undefined;
  }
}

export class VhostContents {
  private readonly deadLetters: DeadLetters;

  /** `amqpUrl` names the vhost `vhost` (the one `management` lists queues of). */
  constructor(
    private readonly management: Pick<RabbitMqManagement, 'queues' | 'peek'>,
    private readonly vhost: string,
    amqpUrl: string,
  ) {
    this.deadLetters = new DeadLetters({
      url: amqpUrl,
      connectionName: 'sluice-loadtest-dlq',
      logger: silentLogger,
    });
  }

  /** Every message of every dead-letter queue of the vhost, left in place. */
  async deadLettered(): Promise<DeadLettered> {
    const orders = new Map<string, string>();
    const reasons: Record<string, number> = {};
    let messages = 0;
    for (const queue of await this.management.queues(this.vhost)) {
      if (!isDeadLetterQueueName(queue.name)) continue;
      for (const letter of await this.deadLetters.list(queue.name, { limit: Number.MAX_SAFE_INTEGER })) {
        messages++;
        const reason = `${queue.name}: ${letter.fault?.reason ?? 'unknown'} (${letter.fault?.errorType ?? 'no fault headers'})`;
        reasons[reason] = (reasons[reason] ?? 0) + 1;
        const orderId = orderIdOf(Buffer.from(letter.body).toString('utf8'));
        if (orderId !== undefined) orders.set(orderId, queue.name);
      }
    }
    return { orders, reasons, messages };
  }

  /**
   * The queues other than dead-letter queues that hold a message of `orderIds`, every retry queue read
   * before the work queues (see above). Reads through the management API (get and requeue, which
   * counts a delivery on a quorum queue): call it once, after the consumers have stopped.
   */
  async locate(orderIds: ReadonlySet<string>): Promise<Located> {
    const queues = new Map<string, string[]>();
    let complete = true;
    const names = (await this.management.queues(this.vhost))
      .map((queue) => queue.name)
      .filter((name) => !isDeadLetterQueueName(name));
    const retryQueues = names.filter(isRetryQueueName);
    for (const queue of [...retryQueues, ...names.filter((name) => !isRetryQueueName(name))]) {
      const messages = await this.management.peek(this.vhost, queue, locateLimit);
      if (messages.length >= locateLimit) complete = false;
      for (const { payload } of messages) {
        const orderId = orderIdOf(payload);
        if (orderId === undefined || !orderIds.has(orderId)) continue;
        const holding = queues.get(orderId) ?? [];
        if (!holding.includes(queue)) holding.push(queue);
        queues.set(orderId, holding);
      }
    }
    return { queues, complete };
  }

  /** Closes the dead-letter reader's connection. Idempotent. */
  close(): Promise<void> {
    return this.deadLetters.close();
  }
}
