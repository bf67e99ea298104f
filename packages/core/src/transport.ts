/**
 * The transport contract: the few operations a broker adapter implements, plus the capabilities it
 * declares. Policy (retry, dead-letter decisions, dedup, timeouts) lives in the host's middleware; a
 * transport only maps ack / retry(delay) / deadLetter(fault) onto its broker. Every transport passes
 * `describeTransportConformance()` from `@sluice/testing`.
 */
import type { MessageFilter } from './message-filter.js';

/** A message as it travels: envelope fields plus the encoded body. Transports never decode the body. */
export interface TransportMessage {
  /** Producer-assigned unique id; kept across retries, dead-lettering and replay. */
  readonly messageId: string;
  /** Versioned message type name, such as `orders.order-placed.v1`. */
  readonly type: string;
  /** MIME type of `body`, such as `application/json`. */
  readonly contentType: string;
  /** Id shared by every message of one business flow. */
  readonly correlationId?: string | undefined;
  /** Id of the message whose handling produced this one. */
  readonly causationId?: string | undefined;
  /** When the producer sent it. */
  readonly sentAt: Date;
  /** Application headers (string values only, so they map onto every broker). */
  readonly headers: Readonly<Record<string, string>>;
  /** The encoded payload, delivered byte for byte. */
  readonly body: Uint8Array;
}

/** Where a message is published: every queue bound to a topic, or one named queue. */
export type Destination = { readonly topic: string } | { readonly queue: string };

/** A message handed to {@link Transport.publish}. */
export interface OutgoingMessage extends TransportMessage {
  readonly destination: Destination;
  /** When true and no queue receives the message, `publish` rejects with `SLUICE_UNROUTABLE`. */
  readonly mandatory: boolean;
  /** Deliver no earlier than this (scheduled send). Needs `capabilities.scheduledSend`. */
  readonly notBefore?: Date | undefined;
  /** Discard (dead-letter) the message if it is not consumed within this many ms. */
  readonly ttlMs?: number | undefined;
}

/** Why a message was dead-lettered. */
export type FaultReason =
  'max-attempts' | 'unrecoverable' | 'decode-failed' | 'unknown-type' | 'validation-failed' | 'expired';

/** What the dead-lettered copy records about the failure; transports write it as fault headers. */
export interface Fault {
  readonly reason: FaultReason;
  /** `name` of the final error, such as `TypeError` or `UnrecoverableError`. */
  readonly errorType: string;
  /** `code` of the final error, when it had one. */
  readonly errorCode?: string | undefined;
  readonly errorMessage: string;
  /** The first lines of the stack trace (cut short to keep headers small). */
  readonly stack?: string | undefined;
  /** Delivery attempts made, the final one included. */
  readonly attempts: number;
  /** Name of the consumer that gave up. */
  readonly consumer: string;
  /** Queue the message was consumed from. */
  readonly queue: string;
  readonly time: Date;
  /** `traceparent` of the message as it arrived, kept on the copy in its own header. */
  readonly originalTraceparent?: string | undefined;
  /** Trace context of the dead-letter send, written over the copy's trace headers. */
  readonly traceHeaders?: Readonly<Record<string, string>> | undefined;
}

/**
 * One delivered message. Exactly one settlement call wins; later calls are ignored. Settlement after
 * the transport closed rejects with `SLUICE_CLOSED` and the broker redelivers the message.
 */
export interface Delivery {
  readonly message: TransportMessage;
  /** Queue it was consumed from. */
  readonly queue: string;
  /**
   * 1 on first delivery; one more for each `retry()` and, where the broker reports it, for each
   * redelivery after a consumer was lost.
   */
  readonly attempt: number;
  /** Removes the message. Resolves when the broker accepted the ack. */
  ack(): Promise<void>;
  /**
   * Redelivers the message with `attempt + 1`, no earlier than `delayMs` from now when
   * `capabilities.delayedRedelivery`, else at once. The message is never lost in between.
   */
  retry(delayMs: number): Promise<void>;
  /**
   * Moves the message, unchanged but for the fault headers, to the queue's dead-letter queue.
   * Resolves only after the copy is durable and the original removed (a crash in between gives a
   * duplicate in the dead-letter queue, never a loss).
   */
  deadLetter(fault: Fault): Promise<void>;
  /** Returns the message to its queue at once without counting an attempt (used when stopping). */
  release(): Promise<void>;
}

/** Settles one delivery; the transport awaits it to track in-flight work. It must not throw. */
export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

/** Per-queue broker settings; a transport ignores what it cannot honour and says so in its docs. */
export interface QueueOptions {
  /** Messages older than this are dead-lettered with reason `expired`. */
  readonly messageTtlMs?: number | undefined;
  /** Broker-side bound on ready messages; publishes beyond it are rejected by the broker. */
  readonly maxLength?: number | undefined;
  /** Broker-specific settings (RabbitMQ queue type, exchange kind, ...), see each transport. */
  readonly broker?: Readonly<Record<string, unknown>> | undefined;
}

/** What {@link Transport.subscribe} declares and consumes. Declaring is idempotent. */
export interface EndpointSpec {
  /** The queue to consume; it and its dead-letter queue are declared when missing. */
  readonly queue: string;
  /** Topics (message type names) bound to the queue. Empty: consume the queue as it is. */
  readonly topics: readonly string[];
  /** Most unsettled deliveries handed to this subscriber at once. */
  readonly prefetch: number;
  /** Transports that can filter on the broker apply this; the host checks it again either way. */
  readonly filter?: MessageFilter | undefined;
  /** Every delay `retry()` will be asked for, so brokers that need per-delay queues declare them now. */
  readonly retryDelaysMs: readonly number[];
  readonly options?: QueueOptions | undefined;
}

/** A running consumer of one queue. */
export interface Subscription {
  readonly queue: string;
  /** Stops handing out new deliveries; in-flight ones can still be settled. Idempotent. */
  pause(): Promise<void>;
  /** Resumes after {@link pause}. Idempotent. */
  resume(): Promise<void>;
  /** Stops consuming for good; in-flight deliveries can still be settled until the transport closes. */
  close(): Promise<void>;
}

/** What a transport can do; the host and the conformance suite adapt to it. */
export interface TransportCapabilities {
  /** `retry(delayMs)` waits on the broker side rather than redelivering at once. */
  readonly delayedRedelivery: boolean;
  /** `OutgoingMessage.notBefore` is honoured. */
  readonly scheduledSend: boolean;
  /** `OutgoingMessage.ttlMs` and `QueueOptions.messageTtlMs` are honoured. */
  readonly messageTtl: boolean;
  /** Messages survive a broker restart. */
  readonly durable: boolean;
  /** Per-queue order of first deliveries matches publish order. */
  readonly ordered: boolean;
}

/** Settlement and send operations, named per broker in {@link TransportTelemetry.operationNames}. */
export type MessagingOperation = 'send' | 'ack' | 'retry' | 'deadLetter' | 'release';

/**
 * How a transport describes itself to OpenTelemetry (messaging semantic conventions). Every member is
 * optional; the defaults suit a broker with plain queue and topic names.
 */
export interface TransportTelemetry {
  /** `messaging.system`, such as `rabbitmq` or `servicebus`. */
  readonly system: string;
  readonly serverAddress?: string | undefined;
  readonly serverPort?: number | undefined;
  /** `messaging.operation.name` per operation. Defaults: send, ack, retry, dead_letter, release. */
  readonly operationNames?: Partial<Record<MessagingOperation, string>>;
  /** `messaging.destination.name` of a publish. Default: the topic or queue name. */
  sendDestination?(destination: Destination): string;
  /** `messaging.destination.name` of a delivery. Default: the queue name. */
  consumeDestination?(queue: string, message: TransportMessage): string;
  /** Broker attributes of a delivery (delivery tag, delivery count, enqueued time, ...). */
  deliveryAttributes?(delivery: Delivery): Readonly<Record<string, string | number | boolean>>;
  /**
   * Headers that carry the `traceparent` value too (Service Bus: `Diagnostic-Id`): written on send,
   * read on receive when `traceparent` is absent.
   */
  readonly traceparentAliases?: readonly string[];
}

/**
 * A broker adapter. Methods other than `connect` may be called only after `connect` resolved;
 * `close` may be called at any time.
 */
export interface Transport {
  /** Short name for logs and metrics, such as `rabbitmq` or `in-memory`. */
  readonly name: string;
  readonly capabilities: TransportCapabilities;
  /** OpenTelemetry description; without it spans say `messaging.system` = the transport's name. */
  readonly telemetry?: TransportTelemetry;
  /** Connects to the broker. Idempotent. */
  connect(): Promise<void>;
  /**
   * Publishes messages; resolves when the broker has accepted every one of them (confirmed, where the
   * broker confirms). Rejects if any was not accepted; none is silently dropped. A topic message goes
   * to every bound queue that has room; when one of them is at its `maxLength` the publish rejects with
   * `SLUICE_QUEUE_FULL` and the queues with room keep their copy (publishing it again duplicates it
   * there). Other rejections: `SLUICE_UNROUTABLE` (mandatory, or to a queue, and no queue took it),
   * `SLUICE_CLOSED` (the transport closed first).
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  /** Declares the endpoint (idempotent) and starts consuming it. */
  subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription>;
  /** Messages ready for delivery in `queue` (not counting in-flight or delayed ones). */
  queueDepth(queue: string): Promise<number>;
  /** True while the broker connection is up. */
  isConnected(): boolean;
  /**
   * The queue where {@link Delivery.deadLetter} puts the messages of `queue`; subscribing to it reads
   * them. The same name for the same queue every time, before or after `connect`. In-memory and
   * RabbitMQ: `<queue>.dlq` (`deadLetterQueueName`).
   */
  deadLetterQueue(queue: string): string;
  /**
   * Stops every subscription, waits for pending publishes to be accepted and for settlements in
   * progress, sends the settlements the broker has not had yet, returns unsettled deliveries to the
   * broker and disconnects. Idempotent; concurrent calls share one close.
   *
   * `signal` is the caller's deadline (any call's signal counts). Once it aborts, or if it has already,
   * the transport stops waiting for the broker: publishes not yet accepted reject with `SLUICE_CLOSED`
   * (such a message may still reach the broker), settlements waiting on the broker reject, and the
   * promise resolves at once, leaving a disconnect still under way to finish in the background.
   * Without `signal`, each pending publish is bounded by the transport's own publish timeout.
   */
  close(signal?: AbortSignal): Promise<void>;
}
