/**
 * What `sluice dlq` reads dead letters through: one broker's dead-letter tooling. RabbitMQ's is
 * `rabbitmq-source.ts`; another broker (Service Bus) adds its own source and an entry in
 * `openDeadLetterSource` (`dlq.ts`); the command, its output and its exit codes stay the same.
 */
import type { DeadLetter } from '@sluice/rabbitmq';

/**
 * One dead letter as `sluice dlq` shows it: the fields of @sluice/rabbitmq's `DeadLetter` (id, type,
 * correlation id, send time, headers, fault, source queue, content type, body, problems), with the
 * broker's own dead-lettering history (`deaths`, RabbitMQ's `x-death`; may be empty) reduced to what
 * any broker has. Another broker's source returns the same shape.
 */
export type DeadLetterRecord = Omit<DeadLetter, 'deaths'> & {
  readonly deaths: readonly { readonly reason: string }[];
};

/** Which dead letters a replay sends back. */
export type ReplaySelection = { readonly messageIds: readonly string[] } | { readonly all: true };

/** What a replay did. */
export interface ReplayOutcome {
  readonly replayed: readonly string[];
  readonly notFound: readonly string[];
  readonly failed: readonly { readonly messageId: string; readonly error: string }[];
}

export interface DeadLetterSource {
  /**
   * Where it reads, for every line that reports a result or a failure: the broker, its address and
   * the namespace or vhost, such as `RabbitMQ 127.0.0.1:5672, vhost "/", user guest`; never a secret.
   */
  readonly location: string;
  /**
   * Set when nobody chose the broker (no option, no environment variable) and the source fell back to
   * its default: how to point it elsewhere. Printed with every result and failure.
   */
  readonly defaultNotice: string | undefined;
  /** The dead-letter queue of `queue` as the broker names it. */
  deadLetterQueueOf(queue: string): string;
  /** Up to `limit` dead letters of `queue`, left in place. Rejects when there is no such queue. */
  list(queue: string, limit: number): Promise<readonly DeadLetterRecord[]>;
  /** The dead letter `messageId` of `queue`, left in place; undefined when it is not there. */
  inspect(queue: string, messageId: string): Promise<DeadLetterRecord | undefined>;
  /** Sends the selected dead letters back to their source queues; resolves with what it did. */
  replay(queue: string, selection: ReplaySelection): Promise<ReplayOutcome>;
  /** Releases the connection. Idempotent. */
  close(): Promise<void>;
}
