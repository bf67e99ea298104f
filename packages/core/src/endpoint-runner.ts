/**
 * Runs one consumer: subscribes its queue, bounds concurrency, pushes each delivery through the
 * composed pipeline and settles it. The runner owns settlement; handlers only return or throw.
 */
import { context, type Context } from '@opentelemetry/api';
import { InversifyCoreError } from '@inversifyjs/core';
import type { Container, Newable } from 'inversify';
import type { Codec } from './codec.js';
import type { EndpointConfig } from './endpoint-config.js';
import { isCopyRefused, isUnrecoverable, toError, UnrecoverableError } from './errors.js';
import type { EndpointMetrics } from './host-metrics.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { Logger } from './logger.js';
import { IdleLatch } from './idle-latch.js';
import { runInMessageScope } from './message-scope.js';
import { settlementFor, settlementForRefusedRetry } from './settlement-policy.js';
import type { StartGate } from './start-gate.js';
import { CircuitBreaker } from './middleware/circuit-breaker.js';
import { decodeMiddleware } from './middleware/decode.js';
import { filterMiddleware } from './middleware/filter.js';
import { idempotencyMiddleware } from './middleware/idempotency.js';
import { compose, type Invocation, type Middleware } from './middleware/invocation.js';
import { retryMiddleware } from './middleware/retry.js';
import { timeoutMiddleware } from './middleware/timeout.js';
import { validateMiddleware } from './middleware/validate.js';
import type { EndpointTelemetry, ProcessTrace } from './telemetry/endpoint-telemetry.js';
import { traceLogFields } from './telemetry/span-factory.js';
import type { Delivery, Fault, Subscription, Transport } from './transport.js';
import type { MessageContext, MessageHandler } from './types.js';

/** How a delivery ended. */
export type Outcome = 'handled' | 'filtered' | 'duplicate' | 'retried' | 'dead-lettered' | 'released';

/** Emitted once per settled delivery. */
export interface SettledEvent {
  readonly outcome: Outcome;
  readonly consumer: string;
  readonly queue: string;
  readonly messageId: string;
  readonly type: string;
  /** The message's correlation id, when it has one. */
  readonly correlationId: string | undefined;
  readonly attempt: number;
  readonly durationMs: number;
  /** For `retried`: the redelivery delay. */
  readonly delayMs?: number;
  /** For `dead-lettered`. */
  readonly fault?: Fault;
  /** The final error, for `retried`, `dead-lettered` and `released`. */
  readonly error?: Error;
}

/** Emitted for every failed handler call (each in-process try). */
export interface FailedEvent {
  readonly consumer: string;
  readonly queue: string;
  readonly messageId: string;
  readonly attempt: number;
  readonly tryNumber: number;
  readonly error: Error;
}

export interface RunnerDependencies {
  readonly container: Container;
  readonly transport: Transport;
  readonly codecs: readonly Codec[];
  readonly idempotencyStore: IdempotencyStore;
  readonly logger: Logger;
  readonly metrics: EndpointMetrics;
  readonly middleware: readonly Middleware[];
  /** Aborted when the host starts draining: no more in-process retries or breaker waits. */
  readonly draining: AbortSignal;
  /** Aborted when the drain deadline passes: handlers are asked to stop. */
  readonly deadline: AbortSignal;
  readonly telemetry: EndpointTelemetry;
  /**
   * Opens once every endpoint of the host is attached, or the host stops. Deliveries wait for it, so
   * a handler never publishes to another endpoint of its host before that one's queue exists (an
   * event sent then would reach no one); one still waiting when the host stops is left unsettled,
   * and the transport's close returns it to the broker.
   */
  readonly attached: Pick<StartGate, 'open' | 'opened'>;
  readonly onSettled: (event: SettledEvent) => void;
  readonly onFailed: (event: FailedEvent) => void;
}

class DeliveryContext implements MessageContext {
  private childLogger: Logger | undefined;

  constructor(
    private readonly delivery: Delivery,
    readonly consumer: string,
    readonly signal: AbortSignal,
    private readonly parentLogger: Logger,
    /** The context the handler runs in: its span's ids go on the logger's lines. */
    private readonly traceContext: Context,
  ) {}

  get messageId() {
    return this.delivery.message.messageId;
  }
  get type() {
    return this.delivery.message.type;
  }
  get correlationId() {
    return this.delivery.message.correlationId;
  }
  get causationId() {
    return this.delivery.message.causationId;
  }
  get sentAt() {
    return this.delivery.message.sentAt;
  }
  get headers() {
    return this.delivery.message.headers;
  }
  get attempt() {
    return this.delivery.attempt;
  }
  get queue() {
    return this.delivery.queue;
  }
  get logger(): Logger {
    this.childLogger ??= this.parentLogger.child({
      messageId: this.messageId,
      type: this.type,
      correlationId: this.correlationId,
      attempt: this.attempt,
      ...traceLogFields(this.traceContext),
    });
    return this.childLogger;
  }
}

/** What every log line about a delivery carries, so one can follow a message or a flow. */
function messageFields(delivery: Delivery) {
  const { message } = delivery;
  return {
    messageId: message.messageId,
    type: message.type,
    correlationId: message.correlationId,
    attempt: delivery.attempt,
  };
}

/** An error as one log field: name, code when it has one, message. */
function errorSummary(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
}

/**
 * Failures whose cause the message says (a Sluice code: bad input, a timeout; or a business
 * rejection): logged without a stack. Anything else is a bug or an outage worth its stack.
 */
function isExpected(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return isUnrecoverable(error) || (typeof code === 'string' && code.startsWith('SLUICE_'));
}

export class EndpointRunner {
  private subscription: Subscription | undefined;
  private readonly pipeline: (invocation: Invocation) => Promise<void>;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly logger: Logger;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new IdleLatch();

  constructor(
    readonly config: EndpointConfig,
    private readonly deps: RunnerDependencies,
  ) {
    this.logger = deps.logger.child({ consumer: config.name, queue: config.queue });
    if (config.circuitBreaker !== undefined) {
      this.breaker = new CircuitBreaker(config.circuitBreaker, (state) => {
        deps.metrics.breakerOpen.set(state === 'open' ? 1 : 0);
        this.logger.warn({ state }, `circuit breaker ${state}`);
        if (state === 'open') void this.subscription?.pause();
        if (state === 'half-open') void this.subscription?.resume();
      });
    }
    this.pipeline = compose(this.buildMiddleware(), (invocation) => this.callHandler(invocation));
  }

  /** Declares the queue and starts consuming. */
  async start(): Promise<void> {
    const { config } = this;
    this.subscription = await this.deps.transport.subscribe(
      {
        queue: config.queue,
        service: config.service,
        topics: config.topics,
        prefetch: config.prefetch,
        filter: config.filter,
        retryDelaysMs: config.retryDelaysMs,
        options: config.queueOptions,
      },
      (delivery) => this.run(delivery),
    );
  }

  /** Stops new deliveries; in-flight ones go on. */
  async stopReceiving(): Promise<void> {
    this.breaker?.dispose();
    await this.subscription?.close();
  }

  /** Resolves when no delivery is in flight. */
  whenIdle(): Promise<void> {
    return this.inFlight.whenIdle();
  }

  get inFlightCount(): number {
    return this.inFlight.count;
  }

  private buildMiddleware(): Middleware[] {
    const { config, deps } = this;
    const steps: Middleware[] = [];
    if (config.filter !== undefined) steps.push(filterMiddleware(config.filter));
    steps.push(decodeMiddleware(deps.codecs, config.topics), validateMiddleware);
    if (config.idempotency !== undefined) {
      steps.push(idempotencyMiddleware(deps.idempotencyStore, config.idempotency, this.logger));
    }
    steps.push(
      retryMiddleware(config.retry, deps.draining, (invocation, error, tryNumber) =>
        this.onCallFailed(invocation, error, tryNumber),
      ),
    );
    if (this.breaker !== undefined) steps.push(this.breaker.middleware(deps.draining));
    steps.push(
      timeoutMiddleware(config.timeoutMs, deps.deadline, {
        began: ({ delivery }, timeoutMs) => {
          deps.metrics.overdue.inc();
          this.logger.warn(
            { ...messageFields(delivery), timeoutMs },
            `handler still running past its ${timeoutMs} ms timeout: it ignores its aborted ctx.signal and holds its concurrency slot`,
          );
        },
        ended: ({ delivery }, durationMs) => {
          deps.metrics.overdue.dec();
          this.logger.warn(
            { ...messageFields(delivery), durationMs: Math.round(durationMs) },
            'overdue handler returned',
          );
        },
      }),
    );
    steps.push(...deps.middleware);
    return steps;
  }

  private onCallFailed(invocation: Invocation, thrown: unknown, tryNumber: number): void {
    const error = toError(thrown);
    this.deps.metrics.failed.inc();
    this.deps.telemetry.recordFailure(error, tryNumber);
    this.deps.onFailed({
      consumer: this.config.name,
      queue: this.config.queue,
      messageId: invocation.delivery.message.messageId,
      attempt: invocation.delivery.attempt,
      tryNumber,
      error,
    });
  }

  private async callHandler(invocation: Invocation): Promise<void> {
    const messageContext = new DeliveryContext(
      invocation.delivery,
      this.config.name,
      invocation.signal,
      this.logger,
      // The handler runs inside the delivery's process span: its ids go on the context's log lines.
      context.active(),
    );
    await runInMessageScope(messageContext, async () => {
      await this.resolveHandler().handle(invocation.payload, messageContext);
    });
  }

  /**
   * The handler instance for one message. Inversify's own planning and resolution errors (a binding
   * removed after start, a scope conflict) cannot heal by retrying and dead-letter at once; an error
   * thrown by an application factory is the application's and goes through the retry flow.
   */
  private resolveHandler(): MessageHandler {
    try {
      return this.deps.container.get(this.config.handlerClass as unknown as Newable<MessageHandler>);
    } catch (error) {
      if (!InversifyCoreError.is(error)) throw error;
      throw new UnrecoverableError(
        `${this.config.name} could not be resolved from the container: ${error.message.split('\n')[0]}`,
        { cause: error },
      );
    }
  }

  private async acquire(): Promise<void> {
    if (this.active < this.config.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.active--;
  }

  private async run(delivery: Delivery): Promise<void> {
    this.inFlight.enter();
    try {
      if (!this.deps.attached.open) {
        await this.deps.attached.opened;
        if (this.deps.draining.aborted) return;
      }
      await this.acquire();
      try {
        await this.process(delivery);
      } finally {
        this.releaseSlot();
      }
    } finally {
      this.inFlight.leave();
    }
  }

  private async process(delivery: Delivery): Promise<void> {
    const { config, deps } = this;
    const started = performance.now();
    deps.metrics.inFlight.inc();
    const processTrace = deps.telemetry.startProcess(delivery);
    let settled: Pick<SettledEvent, 'outcome' | 'error' | 'delayMs' | 'fault'>;
    try {
      settled = await context.with(processTrace.context, () => this.settle(delivery, processTrace));
    } catch (settleError) {
      const error = toError(settleError);
      deps.telemetry.endProcess(processTrace, error);
      this.logger.warn(
        { ...messageFields(delivery), error: errorSummary(error), ...processTrace.logFields },
        'settlement failed; the broker will redeliver the message',
      );
      return;
    } finally {
      deps.metrics.inFlight.dec();
    }
    deps.telemetry.endProcess(processTrace, settled.outcome === 'handled' ? undefined : settled.error);
    const event: SettledEvent = {
      ...settled,
      consumer: config.name,
      queue: config.queue,
      messageId: delivery.message.messageId,
      type: delivery.message.type,
      correlationId: delivery.message.correlationId,
      attempt: delivery.attempt,
      durationMs: performance.now() - started,
    };
    this.count(event);
    this.log(event, processTrace.logFields);
    deps.onSettled(event);
  }

  /** Runs the pipeline and applies the error/retry flow; rejects only when settling itself failed. */
  private async settle(
    delivery: Delivery,
    processTrace: ProcessTrace,
  ): Promise<Pick<SettledEvent, 'outcome' | 'error' | 'delayMs' | 'fault'>> {
    const { config, deps } = this;
    const { telemetry } = deps;
    const invocation: Invocation = { delivery, endpoint: config, payload: undefined, signal: deps.deadline };
    try {
      await this.pipeline(invocation);
    } catch (thrown) {
      const error = toError(thrown);
      let decision = settlementFor(error, config, {
        attempt: delivery.attempt,
        stopping: deps.deadline.aborted,
        now: new Date(),
      });
      if (decision.action === 'release') {
        await telemetry.settle(processTrace, 'release', () => delivery.release());
        return { outcome: 'released', error };
      }
      if (decision.action === 'retry') {
        const { delayMs } = decision;
        try {
          await telemetry.retry(processTrace, delayMs, delivery.attempt + 1, () => delivery.retry(delayMs));
          return { outcome: 'retried', error, delayMs };
        } catch (retryError) {
          // Refused for good, the copy would be refused at every redelivery: dead-letter the original.
          if (!isCopyRefused(retryError)) throw retryError;
          const refusal = toError(retryError);
          this.logger.warn(
            { ...messageFields(delivery), error: errorSummary(refusal), ...processTrace.logFields },
            'retry copy refused; dead-lettering the message',
          );
          decision = settlementForRefusedRetry(error, refusal, config, {
            attempt: delivery.attempt,
            now: new Date(),
          });
        }
      }
      let sent = decision.fault;
      await telemetry.deadLetter(processTrace, decision.fault, (traced) => {
        sent = traced;
        return delivery.deadLetter(traced);
      });
      return { outcome: 'dead-lettered', error, fault: sent };
    }
    await telemetry.settle(processTrace, 'ack', () => delivery.ack());
    return { outcome: invocation.skipped ?? 'handled' };
  }

  private count({ outcome, fault }: SettledEvent): void {
    const { metrics } = this.deps;
    if (outcome === 'handled') metrics.handled.inc();
    else if (outcome === 'filtered' || outcome === 'duplicate') metrics.skipped(outcome);
    else if (outcome === 'retried') metrics.retried.inc();
    else if (outcome === 'released') metrics.released.inc();
    else if (fault !== undefined) metrics.deadLettered(fault.reason);
  }

  private log(
    { outcome, messageId, type, correlationId, attempt, error, delayMs, fault }: SettledEvent,
    traceFields: Readonly<Record<string, string>>,
  ): void {
    const fields = { messageId, type, correlationId, attempt, ...traceFields };
    if (outcome === 'retried') {
      // An expected failure, retried: one line without a stack (the final dead-letter line has it).
      const failure = error === undefined ? {} : { error: errorSummary(error) };
      this.logger.warn({ ...fields, delayMs, ...failure }, `handler failed; redelivery in ${delayMs} ms`);
    } else if (outcome === 'dead-lettered') {
      const failure =
        error === undefined ? {} : isExpected(error) ? { error: errorSummary(error) } : { err: error };
      this.logger.error({ ...fields, reason: fault?.reason, ...failure }, 'message dead-lettered');
    } else if (outcome === 'released') {
      this.logger.info(fields, 'message returned to the queue: host stopping');
    } else {
      this.logger.debug(fields, `message ${outcome}`);
    }
  }
}
