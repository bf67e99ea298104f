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

/** A queue the sender knows consumes a topic (a command defined with `queue`), with its settings. */
export interface ConsumerQueue {
  readonly queue: string;
  readonly options?: QueueOptions | undefined;
}

/**
 * Where a message is published: every queue bound to a topic, or one named queue. With
 * `consumerQueue`, before the first publish of the topic the transport makes sure that queue exists
 * and is bound to the topic (see {@link Transport.publish}).
 */
export type Destination =
  { readonly topic: string; readonly consumerQueue?: ConsumerQueue | undefined } | { readonly queue: string };

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
 * One delivered message. The first settlement call wins: a later call (of any method) has no effect
 * and resolves at once (except after a copy refused for good, below). Every settlement rejects, and the broker redelivers the message, with:
 * `SLUICE_CLOSED` when the transport closed first; `SLUICE_CONNECTION_LOST` when the connection or
 * link the delivery came on is gone and the broker no longer takes its settlement;
 * `SLUICE_LOCK_LOST` when the broker took the delivery back (its lock ran out, where
 * `capabilities.locks`); `SLUICE_DEADLINE_EXCEEDED` when the transport's close deadline passed while
 * the settlement waited on the broker. `retry` and `deadLetter` also reject with what the copy's
 * publish rejects with (`SLUICE_PUBLISH_REFUSED`, ...), leaving the original unsettled. When that is
 * a refusal for good (`isCopyRefused`: `SLUICE_PUBLISH_REFUSED`, `SLUICE_INVALID_OPTION`), nothing
 * was sent and the delivery stays open (its lock kept, not handed back): the next settlement call
 * settles it (the host dead-letters a message whose retry copy was refused).
 */
export interface Delivery {
  readonly message: TransportMessage;
  /** Queue it was consumed from. */
  readonly queue: string;
  /**
   * 1 on first delivery; one more for each `retry()` and, where `capabilities.brokerDeliveryCount`,
   * for each time the message came back to its queue unsettled (a consumer lost, a lock run out).
   * `release()` never counts.
   */
  readonly attempt: number;
  /**
   * Where deliveries hold a lock the broker can take back (`capabilities.locks`): aborts, with a
   * `SluiceError` of code `SLUICE_LOCK_LOST` as its reason, when the lock is lost; the broker then
   * redelivers the message and every settlement rejects with that code. The host aborts the
   * handler's `ctx.signal` with it. Undefined on transports without locks.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Removes the message. Resolves when the transport has done what its broker allows to make the
   * removal stick: in-memory at once; RabbitMQ once the ack is written to the connection (AMQP 0-9-1
   * does not confirm acks, so a connection lost just after may still redeliver it); Service Bus once
   * the broker confirmed the completion.
   */
  ack(): Promise<void>;
  /**
   * Redelivers the message with `attempt + 1`, no earlier than `delayMs` from now when
   * `capabilities.delayedRedelivery`, else at once. The copy is accepted by the broker before the
   * original is removed: a crash in between gives a duplicate, never a loss.
   */
  retry(delayMs: number): Promise<void>;
  /**
   * Moves the message, unchanged but for the fault headers (an earlier fault's are replaced whole), to
   * the queue's dead-letter queue ({@link Transport.deadLetterQueue}). Resolves only after the copy is
   * durable and the original removed (a crash in between gives a duplicate in the dead-letter queue,
   * never a loss); where `capabilities.nativeDeadLetterQueue` the broker moves it in one step.
   */
  deadLetter(fault: Fault): Promise<void>;
  /**
   * Returns the message to its queue at once, as the host does with work it stops before finishing.
   * `attempt` does not count it on any transport. What the broker does: in-memory puts it at the back
   * of the queue; RabbitMQ publishes a copy carrying the current attempt, waits for the confirm, then
   * acks the original (so quorum queues' delivery limit does not count it); Service Bus abandons it,
   * which the broker counts as a delivery (`DeliveryCount` + 1, moved to the dead-letter queue at the
   * queue's `MaxDeliveryCount`): each stop that returns a message costs it one of those.
   */
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
  /**
   * The service the endpoint belongs to (a `ConsumerHost`'s `serviceName`). A transport that shares
   * entities between the endpoints of a service names them after it (RabbitMQ: one retry queue per
   * delay for all of them). Default: `sluice`.
   */
  readonly service?: string | undefined;
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
  /**
   * Stops handing out new deliveries; in-flight ones can still be settled. Resolves once no new
   * delivery will start. Idempotent.
   */
  pause(): Promise<void>;
  /** Resumes after {@link pause}. Idempotent. */
  resume(): Promise<void>;
  /**
   * Stops consuming for good; resolves once no new delivery will start. Deliveries in flight can still
   * be settled until the transport closes (the transport's close returns those left unsettled).
   * Idempotent.
   */
  close(): Promise<void>;
}

/**
 * What a transport can do; the host and the conformance suite adapt to it (each member names what
 * reads it).
 */
export interface TransportCapabilities {
  /**
   * `retry(delayMs)` waits on the broker side rather than redelivering at once. Read by the
   * conformance suite (the retry-delay case); a host on a transport without it warns at start when a
   * consumer asks for redelivery delays.
   */
  readonly delayedRedelivery: boolean;
  /** `OutgoingMessage.notBefore` is honoured. Read by `Bus` (a delayed send fails without it) and the suite. */
  readonly scheduledSend: boolean;
  /** `OutgoingMessage.ttlMs` and `QueueOptions.messageTtlMs` are honoured. Read by the suite. */
  readonly messageTtl: boolean;
  /**
   * Messages survive a broker restart. Nothing here can restart a broker, so the suite cannot check
   * it; a host on a transport without it says in its start-up log line that queued messages end with
   * the process.
   */
  readonly durable: boolean;
  /**
   * Per-queue order of first deliveries matches publish order (one publisher, one consumer). Read by
   * the suite: without it, the cases compare sets of messages, not sequences.
   */
  readonly ordered: boolean;
  /** `QueueOptions.maxLength` is honoured (`publish` rejects with `SLUICE_QUEUE_FULL`). Read by the suite. */
  readonly maxLength: boolean;
  /**
   * `EndpointSpec.filter` is applied by the broker: a message that fails it never reaches the queue.
   * Without it the queue receives every message of its topics and the host skips those that fail
   * (the host checks the filter either way). Read by the suite.
   */
  readonly brokerFilters: boolean;
  /**
   * The dead-letter queue is the broker's own (Service Bus `<entity>/$DeadLetterQueue`): the broker
   * moves messages there in one step, also by itself (delivery limit, expiry), and nothing can be
   * published to it. Without it, `deadLetter` publishes a copy there and acks the original. Read by
   * the telemetry: a native dead-lettering is one settle span, with no PRODUCER span for a copy.
   */
  readonly nativeDeadLetterQueue: boolean;
  /**
   * The broker counts deliveries that come back unsettled (consumer lost, lock run out), and
   * `Delivery.attempt` includes them. Read by the suite.
   */
  readonly brokerDeliveryCount: boolean;
  /**
   * A delivery is held under a lock the broker takes back when it runs out (Service Bus peek-lock).
   * The transport renews it while the delivery is unsettled (up to a maximum it documents); a lost
   * lock aborts `Delivery.signal` with `SLUICE_LOCK_LOST` and the broker redelivers. Without it, a
   * delivery stays the consumer's until settled or its connection is lost. Read by the suite.
   */
  readonly locks: boolean;
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
 * before that, `publish` and `subscribe` reject with `SLUICE_CLOSED` saying the transport is not
 * connected yet (a host's bus used before `host.start()`), never with a routing or connection error.
 * `close` may be called at any time.
 */
export interface Transport {
  /** Short name for logs and metrics, such as `rabbitmq` or `in-memory`. */
  readonly name: string;
  readonly capabilities: TransportCapabilities;
  /** OpenTelemetry description; without it spans say `messaging.system` = the transport's name. */
  readonly telemetry?: TransportTelemetry;
  /**
   * Connects to the broker. Idempotent: later calls share the first successful connect. Rejects at
   * once with `SLUICE_CONNECTION_REFUSED` when the broker refuses in a way retrying cannot fix (the
   * credentials, the virtual host or namespace, a TLS certificate: the message names which); with
   * `SLUICE_CONNECTION_LOST` when the broker stayed unreachable for the transport's connect timeout
   * (the message says what the last attempt met); with `SLUICE_CLOSED` after `close`.
   */
  connect(): Promise<void>;
  /**
   * Publishes messages; resolves when the broker has accepted every one of them (confirmed, where the
   * broker confirms). Rejects if any was not accepted; none is silently dropped. A topic message goes
   * to every bound queue that has room; when one of them is at its `maxLength` the publish rejects with
   * `SLUICE_QUEUE_FULL` and the queues with room keep their copy (publishing it again duplicates it
   * there). Other rejections: `SLUICE_UNROUTABLE` (mandatory, or to a queue, and no queue took it),
   * `SLUICE_PUBLISH_REFUSED` (the broker refused this message itself: its size, a property; sending it
   * again fails the same way), `SLUICE_INVALID_OPTION` (`notBefore` without
   * `capabilities.scheduledSend`), `SLUICE_CONNECTION_LOST` (no connection came back within the
   * transport's publish timeout), `SLUICE_DEADLINE_EXCEEDED` (the broker did not answer within it),
   * `SLUICE_CLOSED` (the transport closed first). After a rejection other than the first two, a
   * message may still have reached the broker.
   *
   * A topic message with `destination.consumerQueue` is declared for on the sender side first: the
   * queue, when missing, is created as `subscribe` would create it for an endpoint of that queue
   * with those options (its dead-letter queue too), and bound to the topic, as `subscribe` binds
   * it; what exists already is left as it is (its consumer owns its settings). Once per queue and
   * topic per transport (again after the broker lost the topic). So a command sent before its
   * consumer ever started waits in its queue, whatever order services start in.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  /**
   * Declares the endpoint (idempotent) and starts consuming it; resolves once the consumer is
   * attached. `onDelivery` is called for at most `prefetch` unsettled deliveries at once. Rejects with
   * `SLUICE_INVALID_OPTION` when the broker refuses the declaration (a queue declared before with
   * other settings, a name it does not allow), `SLUICE_CONNECTION_LOST` when no connection is up
   * within the connect timeout, `SLUICE_CLOSED` after `close`. Once attached, the consumer survives
   * connection and consumer loss by itself; `isConnected` is false while it is down.
   */
  subscribe(endpoint: EndpointSpec, onDelivery: DeliveryHandler): Promise<Subscription>;
  /**
   * Messages ready for delivery in `queue` (not counting in-flight or delayed ones); 0 for a queue
   * that does not exist. Rejects with `SLUICE_CONNECTION_LOST` when the broker cannot be asked and
   * `SLUICE_CLOSED` after `close`.
   */
  queueDepth(queue: string): Promise<number>;
  /** True while the broker connection is up and every subscription is attached (the host's `/readyz`). */
  isConnected(): boolean;
  /**
   * The queue where {@link Delivery.deadLetter} puts the messages of `queue`; subscribing to it reads
   * them. The same name for the same queue every time, before or after `connect`. In-memory and
   * RabbitMQ: `<queue>.dlq` (`deadLetterQueueName`); Service Bus: `<queue>/$DeadLetterQueue`.
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
