/** Public types of handlers and their options. Defaults are listed on each option. */
import type { ServiceIdentifier } from 'inversify';
import type { Logger } from './logger.js';
import type { MessageFilter } from './message-filter.js';
import type { MessageDefinition } from './message-definition.js';
import type { QueueOptions } from './transport.js';

/** Exponential backoff: delay n (1-based) = min(maxMs, initialMs * factor^(n-1)) +/- jitter. */
export interface Backoff {
  /** First delay. */
  readonly initialMs: number;
  /** Growth per step; 1 gives a constant delay. */
  readonly factor: number;
  /** Cap on a delay (before jitter). */
  readonly maxMs: number;
  /** Random spread as a fraction of the delay, 0 to 1; 0.2 gives +/- 20%. */
  readonly jitter: number;
}

/**
 * Retry policy. A failing message is first retried in process (`immediate` tries in all, with
 * `backoff` between them); still failing, it is handed back to the transport for a delayed redelivery
 * (`redelivery` delays) until `attempts` deliveries were made; then it is dead-lettered.
 * `UnrecoverableError`, decode and validation failures skip all of this.
 */
export interface RetryOptions {
  /** Deliveries in all, the first included. Default 5. 1 means never redeliver. */
  readonly attempts?: number;
  /** Handler calls per delivery, the first included. Default 2. */
  readonly immediate?: number;
  /** Delay between in-process tries. Default 50 ms x2, at most 1 s, jitter 0.2. */
  readonly backoff?: Partial<Backoff>;
  /** Delay before each redelivery. Default 1 s x5, at most 5 min, no jitter (a broker queue per delay). */
  readonly redelivery?: Partial<Backoff>;
  /**
   * Says whether a failure is worth retrying; `false` dead-letters the message at once (reason
   * `unrecoverable`). Asked for errors the handler throws (timeouts included), never for Sluice's own
   * verdicts (unrecoverable, decode and validation failures dead-letter; an idempotency claim held
   * elsewhere retries). A predicate that throws counts as `true`. Default: every failure is retryable.
   */
  readonly retryable?: (error: Error) => boolean;
}

/** Pauses a consumer whose handler keeps failing, so a broken dependency does not burn retries. */
export interface CircuitBreakerOptions {
  /** Failures within `windowMs` that open the breaker. Default 10. */
  readonly failures?: number;
  /** Window for counting failures. Default 60 s. */
  readonly windowMs?: number;
  /** How long the consumer stays paused before a trial. Default 30 s. */
  readonly coolOffMs?: number;
}

/**
 * How KEDA scales the host on this consumer's queue (read by `@sluice/kube` to render one trigger per
 * queue; the host itself only validates it). The backlog is the queue's ready plus unacknowledged
 * messages, as KEDA's `rabbitmq` trigger counts it over the management API.
 */
export interface ScalingOptions {
  /**
   * Backlog one replica is meant to carry (KEDA's per-replica target, metric type AverageValue).
   * Default `2 x prefetch`: one prefetch window being handled and one waiting, so a replica at the
   * target is never starved and a backlog beyond what the replicas hold soon adds one.
   */
  readonly targetBacklogPerReplica?: number;
  /** Fewest replicas; 0 lets KEDA scale the host to zero when every queue is idle. Default 0. */
  readonly min?: number;
  /** Most replicas. Default 100 (KEDA's). */
  readonly max?: number;
  /** Seconds every queue must stay idle before KEDA scales to zero (only with `min` 0). Default 300. */
  readonly cooldownSeconds?: number;
  /** Backlog above which this queue counts as active, waking the host from zero. Default 0. */
  readonly activation?: number;
}

/** Options shared by `@Consumer` and `@EventHandler`. */
export interface EndpointOptions {
  /** Most deliveries held unsettled at once. Default 10. */
  readonly prefetch?: number;
  /** Most handlers running at once; at most `prefetch`. Default `prefetch`. */
  readonly concurrency?: number;
  readonly retry?: RetryOptions;
  /**
   * Fails a handler call that runs longer, with `SLUICE_HANDLER_TIMEOUT` (retried like any failure):
   * its `ctx.signal` aborts then, and the failure counts once the call has returned. A call that
   * ignores its signal keeps its concurrency slot and idempotency claim until it returns; one still
   * running a second later is logged as a warning and counted in `sluice_handlers_overdue`.
   * Default 300,000 (5 minutes); at most 86,400,000 (24 hours).
   */
  readonly timeoutMs?: number;
  /** Off unless given (`true` for the defaults). */
  readonly circuitBreaker?: boolean | CircuitBreakerOptions;
  /**
   * Handles each message id once (by this consumer), through the host's `IdempotencyStore`. Off
   * unless given. `ttlMs`: how long a handled id is remembered (default 24 h). `leaseMs`: the lease of
   * the claim taken while a delivery is handled, renewed every third of it while the handler runs
   * (default 15 s); a process that crashes mid-handler delays the message's redeliveries by at most
   * this much. `true` takes both defaults.
   */
  readonly idempotency?: boolean | { readonly ttlMs?: number; readonly leaseMs?: number };
  /** Broker settings of the queue. */
  readonly queueOptions?: QueueOptions;
  /** KEDA scaling hints for this queue; see `ScalingOptions` for the defaults. */
  readonly scaling?: ScalingOptions;
}

/** How a decorated class names its constructor dependencies without parameter decorators. */
export interface InjectOption {
  /**
   * The constructor's dependencies, one token (class, symbol or string) per parameter, in order. The
   * way to inject under standard decorators (no parameter decorators there); with
   * `experimentalDecorators`, `@inject(Token)` on a parameter does the same, and with
   * `emitDecoratorMetadata` a parameter typed by a class needs neither. Default: none.
   */
  readonly inject?: readonly ServiceIdentifier[];
}

export interface ConsumerOptions<T = unknown> extends EndpointOptions, InjectOption {
  /**
   * The queue to consume (competing consumers share it). Default: the queue the command's definition
   * names (`defineCommand(type, { queue })`); required when it names none.
   */
  readonly queue?: string;
  /** The message it handles, usually a command. */
  readonly message: MessageDefinition<T>;
}

export interface EventHandlerOptions extends EndpointOptions, InjectOption {
  /** Subscription name; the queue is `<serviceName>.<subscription>`. */
  readonly subscription: string;
  /** Only messages whose properties match are handled. */
  readonly filter?: MessageFilter;
}

/** What a handler knows about the message it is handling. */
export interface MessageContext {
  readonly messageId: string;
  readonly type: string;
  readonly correlationId: string | undefined;
  readonly causationId: string | undefined;
  readonly sentAt: Date;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 on first delivery. */
  readonly attempt: number;
  readonly queue: string;
  /** The consumer's name (its class name). */
  readonly consumer: string;
  /**
   * Aborted when the handler's `timeoutMs` passed, the host's drain deadline did, or the broker took
   * the delivery back (its lock was lost: the reason's code is `SLUICE_LOCK_LOST`, and the broker
   * redelivers the message). Pass it to what the handler awaits (`fetch`, database calls): a handler
   * that ignores it keeps running and keeps its concurrency slot.
   */
  readonly signal: AbortSignal;
  /** A child of the host logger bound to this message's id, type and consumer. */
  readonly logger: Logger;
}

/** A class decorated with `@Consumer` or `@EventHandler`. */
export interface MessageHandler<T = unknown> {
  /** Return (or resolve) to acknowledge; throw (or reject) to retry or dead-letter. */
  handle(message: T, context: MessageContext): unknown;
}

/** Options for one `send` / `publish`. */
export interface SendOptions {
  /** Default: a new UUID. Set it to make retries of a send idempotent downstream. */
  readonly messageId?: string;
  /** Default: the correlation id of the message being handled, else the message id. */
  readonly correlationId?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Deliver no earlier than this many ms from now. */
  readonly delayMs?: number;
  /** Deliver no earlier than this time. */
  readonly deliverAt?: Date;
  /** Drop (dead-letter) if not consumed within this many ms. */
  readonly ttlMs?: number;
}
