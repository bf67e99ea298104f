/**
 * The consumer host: resolves decorated classes from an inversify container, consumes their queues,
 * runs periodic workers, serves `/healthz`, `/readyz` and `/metrics`, and drains on SIGTERM/SIGINT.
 */
import { EventEmitter } from 'node:events';
import { Container } from 'inversify';
import type { BackgroundTaskQueue } from '../background/background-task-queue.js';
import { PeriodicWorkerRunner, type PeriodicTaskClass } from '../background/periodic-worker.js';
import { Bus } from '../bus.js';
import { jsonCodec, type Codec } from '../codec.js';
import { prepareConstructorInjection } from '../constructor-injection.js';
import { getEndpointMetadata, type EndpointMetadata, type HandlerClass } from '../decorators.js';
import { resolveEndpointConfig, type EndpointConfig } from '../endpoint-config.js';
import { EndpointRunner, type FailedEvent, type SettledEvent } from '../endpoint-runner.js';
import { ErrorCodes, SluiceError, toError } from '../errors.js';
import { registerHostMetrics } from '../host-metrics.js';
import { InMemoryIdempotencyStore, type IdempotencyStore } from '../idempotency-store.js';
import { defaultLogger, type Logger } from '../logger.js';
import { currentMessageContext } from '../message-scope.js';
import { MetricsRegistry } from '../metrics-registry.js';
import type { Middleware } from '../middleware/invocation.js';
import { isValidBrokerName } from '../naming.js';
import { OptionChecker } from '../option-checker.js';
import { registerProcessMetrics } from '../process-metrics.js';
import { StartGate } from '../start-gate.js';
import { MessagingTelemetry, type TracingOptions } from '../telemetry/messaging-telemetry.js';
import type { Transport } from '../transport.js';
import type { EndpointOptions, MessageContext } from '../types.js';
import { untilAborted, withDeadline } from '../timers.js';
import { OpsServer, type OpsServerOptions } from './ops-server.js';
import { minClosingMs, resolveStopTimeouts, StopBudget } from './stop-budget.js';

/** Inject the context of the message being handled: `@inject(MessageContextToken) ctx: MessageContext`. */
export const MessageContextToken = Symbol.for('sluice.MessageContext');

export interface ConsumerHostOptions {
  /** Names the service; prefixes subscription queues (`<serviceName>.<subscription>`). */
  readonly serviceName: string;
  readonly transport: Transport;
  /**
   * Where handlers and their dependencies are resolved. A handler class is resolved once per message
   * (classes not bound yet are bound transient); services bound `inRequestScope()` are shared within one
   * message and never across messages. The host binds `Bus` and `MessageContextToken` when unbound.
   * Default: a new container.
   */
  readonly container?: Container;
  /** Classes decorated with `@Consumer` / `@EventHandler`. */
  readonly consumers?: readonly HandlerClass<never>[];
  /** Classes decorated with `@PeriodicWorker`. */
  readonly workers?: readonly PeriodicTaskClass[];
  /** Background task queues drained when the host stops. */
  readonly backgroundQueues?: readonly BackgroundTaskQueue[];
  /** The health and metrics port. Default: none. */
  readonly http?: OpsServerOptions | false;
  /**
   * On stop, how long in-flight handlers get to finish before their `ctx.signal` aborts; workers and
   * background tasks get what is left of it. Default 20 s (or `stopTimeoutMs` - 5 s when only that is
   * given).
   */
  readonly drainTimeoutMs?: number;
  /**
   * The deadline of the whole `stop()`: drain, abort grace, workers, background queues, the
   * transport's close (pending publishes included), the HTTP port and shutdown hooks. At least
   * `drainTimeoutMs` + 2 s. Default 25 s (`drainTimeoutMs` + 5 s when only that is given), so a stop
   * fits Kubernetes' default 30 s termination grace period with 5 s to spare.
   */
  readonly stopTimeoutMs?: number;
  /** Stop on SIGTERM / SIGINT, then exit the process. Default true. */
  readonly handleSignals?: boolean;
  /** Default: warnings and errors to stderr (`defaultLogger`); `silentLogger` for none. */
  readonly logger?: Logger;
  /** Codecs for receiving; the first also encodes what the host's bus sends. Default: JSON. */
  readonly codecs?: readonly Codec[];
  /** Default: an in-process LRU store. */
  readonly idempotencyStore?: IdempotencyStore;
  /** Default: a new registry. Share one to add application metrics to `/metrics`. */
  readonly metrics?: MetricsRegistry;
  /**
   * Process and runtime metrics on `/metrics` (CPU, memory, event-loop delay; prom-client's names).
   * Default true.
   */
  readonly processMetrics?: boolean;
  /** Options every consumer starts from; its decorator overrides them. */
  readonly defaults?: EndpointOptions;
  /** Application middleware, run just around each handler call (inside retry, breaker and timeout). */
  readonly middleware?: readonly Middleware[];
  /** Span ownership and process-span parenting; see `TracingOptions`. */
  readonly tracing?: TracingOptions;
  /**
   * Awaited in order at the end of `stop()`, after the transport closed and before the process exits
   * on a signal (flush telemetry, close pools). A failing hook is logged and the others still run.
   */
  readonly shutdownHooks?: readonly (() => Promise<void> | void)[];
}

export interface HostEvents {
  settled: [SettledEvent];
  failed: [FailedEvent];
  started: [];
  stopping: [];
  stopped: [];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class ConsumerHost extends EventEmitter<HostEvents> {
  /** Sends and publishes through the host's transport. */
  readonly bus: Bus;
  readonly container: Container;
  readonly metrics: MetricsRegistry;
  /** The drain deadline of in-flight handlers, after defaults. */
  readonly drainTimeoutMs: number;
  /** The deadline of the whole `stop()`, after defaults; a pod's termination grace must exceed it. */
  readonly stopTimeoutMs: number;
  private readonly telemetry: MessagingTelemetry;
  private readonly logger: Logger;
  private readonly draining = new AbortController();
  private readonly deadline = new AbortController();
  private runners: EndpointRunner[] = [];
  /** Opens once every runner is attached (or the host stops): see `RunnerDependencies.attached`. */
  private readonly attached = new StartGate();
  private workers: PeriodicWorkerRunner[] = [];
  private ops: OpsServer | undefined;
  private stopObserving: (() => void) | undefined;
  private stopProcessMetrics: (() => void) | undefined;
  private boundPort: number | undefined;
  private state: State = 'new';
  private stopping: Promise<void> | undefined;
  private readonly signalHandler = (signal: NodeJS.Signals) => this.onSignal(signal);

  constructor(private readonly options: ConsumerHostOptions) {
    super();
    this.container = options.container ?? new Container();
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.logger = (options.logger ?? defaultLogger).child({ service: options.serviceName });
    ({ drainTimeoutMs: this.drainTimeoutMs, stopTimeoutMs: this.stopTimeoutMs } = resolveStopTimeouts(
      options.drainTimeoutMs,
      options.stopTimeoutMs,
    ));
    const codecs = options.codecs ?? [jsonCodec];
    this.bus = new Bus(options.transport, {
      codec: codecs[0] ?? jsonCodec,
      tracing: options.tracing,
      metrics: this.metrics,
    });
    this.telemetry = new MessagingTelemetry(options.transport, options.tracing, this.metrics);
  }

  /** The HTTP port actually bound (after `start`, when `http` is set). */
  get httpPort(): number | undefined {
    return this.boundPort;
  }

  /** Configurations of the consumers, after `start` validated them. */
  get endpoints(): readonly EndpointConfig[] {
    return this.runners.map((r) => r.config);
  }

  /** True when started, connected, not draining and every consumer attached. */
  isReady(): boolean {
    return this.state === 'running' && this.options.transport.isConnected();
  }

  /**
   * Validates every consumer and worker (a bad option rejects with `SLUICE_INVALID_OPTION` naming the
   * class and option, before anything connects), opens the HTTP port (`/readyz` answers 503 until the
   * start completes; a port in use rejects with `SLUICE_INVALID_OPTION` naming `http.port`), connects,
   * declares and subscribes every queue, then starts workers. On failure, whatever started is stopped
   * again.
   */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new SluiceError(ErrorCodes.CLOSED, `host cannot start: it is ${this.state}`);
    this.state = 'starting';
    const { options } = this;
    try {
      this.prepare();
      // The port first: a port in use fails the start before any message is taken from a queue.
      if (options.http) {
        this.ops = new OpsServer(this.metrics, () => this.readiness());
        this.boundPort = await this.ops.listen(options.http);
      }
      await options.transport.connect();
      for (const runner of this.runners) await runner.start();
      this.attached.openNow();
      const runnersByQueue = new Map(this.runners.map((r) => [r.config.queue, r]));
      this.stopObserving = this.telemetry.observeHost({
        queues: [...runnersByQueue.keys()],
        inFlight: (queue) => runnersByQueue.get(queue)?.inFlightCount ?? 0,
        depth: (queue) => options.transport.queueDepth(queue),
      });
      for (const worker of this.workers) worker.start();
    } catch (error) {
      this.state = 'stopping';
      await this.shutDown().catch(() => undefined);
      this.state = 'stopped';
      throw error;
    }
    if (options.handleSignals ?? true) {
      process.on('SIGTERM', this.signalHandler);
      process.on('SIGINT', this.signalHandler);
    }
    this.state = 'running';
    const { durable } = options.transport.capabilities;
    this.logger.info(
      {
        transport: options.transport.name,
        durable,
        consumers: this.runners.length,
        httpPort: this.boundPort,
      },
      durable ? 'consumer host started' : 'consumer host started; queued messages end with this process',
    );
    this.emit('started');
  }

  /**
   * Drains and stops: readiness turns false, consumers stop receiving, in-flight handlers finish and
   * are settled (after `drainTimeoutMs` their signals abort and unfinished messages go back to the
   * broker), workers stop, background queues drain, the transport flushes and closes (its close signal
   * aborts at the deadline: publishes still unconfirmed then reject), the HTTP port closes and the
   * shutdown hooks run. Resolves within `stopTimeoutMs` whatever a handler, the broker or a hook does
   * (work still running then is logged and left behind). Idempotent; resolves at once on a host that
   * never started or whose start failed (the failed start already stopped what it had started).
   */
  stop(): Promise<void> {
    if (this.stopping !== undefined) return this.stopping;
    // A host whose start failed stopped what it had started before rejecting.
    if (this.state === 'new' || this.state === 'stopped') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    this.state = 'stopping';
    this.emit('stopping');
    this.stopping = this.shutDown().finally(() => {
      this.state = 'stopped';
      process.off('SIGTERM', this.signalHandler);
      process.off('SIGINT', this.signalHandler);
      this.logger.info({}, 'consumer host stopped');
      this.emit('stopped');
    });
    return this.stopping;
  }

  private prepare(): void {
    const { options, container } = this;
    const check = new OptionChecker('ConsumerHost');
    if (typeof options.serviceName !== 'string' || !isValidBrokerName(options.serviceName)) {
      check.fail('serviceName', 'must be 1-200 letters, digits, ".", "_", ":" or "-"', options.serviceName);
    }
    check.int('drainTimeoutMs', this.drainTimeoutMs, 0, 2 ** 31 - 1);
    check.int('stopTimeoutMs', this.stopTimeoutMs, minClosingMs, 2 ** 31 - 1);
    if (this.stopTimeoutMs < this.drainTimeoutMs + minClosingMs) {
      check.fail(
        'stopTimeoutMs',
        `must be at least drainTimeoutMs + ${minClosingMs} (${this.drainTimeoutMs + minClosingMs}): the abort grace and closing need the time`,
        this.stopTimeoutMs,
      );
    }
    const configs = (options.consumers ?? []).map((c) =>
      resolveEndpointConfig(c as HandlerClass, options.serviceName, options.defaults),
    );
    const byQueue = new Map<string, EndpointConfig>();
    for (const config of configs) {
      const other = byQueue.get(config.queue);
      if (other !== undefined) {
        throw new SluiceError(
          ErrorCodes.INVALID_OPTION,
          `${config.name}: queue "${config.queue}" is already consumed by ${other.name} in this host`,
        );
      }
      byQueue.set(config.queue, config);
    }

    if (!container.isBound(Bus)) container.bind(Bus).toConstantValue(this.bus);
    if (!container.isBound(MessageContextToken)) {
      container.bind<MessageContext>(MessageContextToken).toDynamicValue(() => {
        const context = currentMessageContext();
        if (context === undefined) {
          throw new SluiceError(
            ErrorCodes.INVALID_OPTION,
            'MessageContextToken resolved outside message handling',
          );
        }
        return context;
      });
    }
    for (const config of configs) {
      const { injection } = getEndpointMetadata(config.handlerClass) as EndpointMetadata;
      const decorator = config.kind === 'consumer' ? '@Consumer' : '@EventHandler';
      prepareConstructorInjection(
        config.handlerClass,
        injection,
        `${decorator} on ${config.name}`,
        container,
      );
    }
    if (!options.transport.capabilities.delayedRedelivery) {
      for (const config of configs.filter((c) => c.retryDelaysMs.some((delay) => delay > 0))) {
        this.logger.warn(
          { consumer: config.name, retryDelaysMs: config.retryDelaysMs },
          `transport ${options.transport.name} cannot delay redeliveries: ${config.name} gets its retries at once`,
        );
      }
    }
    this.workers = (options.workers ?? []).map((w) => new PeriodicWorkerRunner(w, container, this.logger));
    for (const cls of [...configs.map((c) => c.handlerClass), ...(options.workers ?? [])]) {
      if (!container.isBound(cls)) container.bind(cls as never).toSelf();
    }

    const hostMetrics = registerHostMetrics(this.metrics);
    if (options.processMetrics ?? true) this.stopProcessMetrics = registerProcessMetrics(this.metrics);
    const idempotencyStore = options.idempotencyStore ?? new InMemoryIdempotencyStore();
    this.runners = configs.map(
      (config) =>
        new EndpointRunner(config, {
          container,
          transport: options.transport,
          codecs: options.codecs ?? [jsonCodec],
          idempotencyStore,
          logger: this.logger,
          metrics: hostMetrics.forEndpoint(config.name, config.queue),
          middleware: options.middleware ?? [],
          draining: this.draining.signal,
          deadline: this.deadline.signal,
          telemetry: this.telemetry.forEndpoint(config),
          attached: this.attached,
          onSettled: (event) => this.emit('settled', event),
          onFailed: (event) => this.emit('failed', event),
        }),
    );
    this.metrics.addCollector(async () => {
      const { transport } = options;
      if (!transport.isConnected()) return;
      const sample = async (gauge: typeof hostMetrics.queueDepth, queue: string, of: string) =>
        gauge.set({ queue }, await transport.queueDepth(of));
      await Promise.allSettled(
        configs.flatMap(({ queue }) => [
          sample(hostMetrics.queueDepth, queue, queue),
          sample(hostMetrics.deadLetterDepth, queue, transport.deadLetterQueue(queue)),
        ]),
      );
    });
  }

  private readiness() {
    return {
      ready: this.isReady(),
      detail: {
        state: this.state,
        transport: this.options.transport.name,
        connected: this.options.transport.isConnected(),
        consumers: this.runners.length,
      },
    };
  }

  private async shutDown(): Promise<void> {
    const budget = new StopBudget(this.drainTimeoutMs, this.stopTimeoutMs);
    const idle = () => Promise.all(this.runners.map((r) => r.whenIdle()));
    const inFlight = () => this.runners.reduce((n, r) => n + r.inFlightCount, 0);
    this.draining.abort();
    this.attached.openNow();
    await withDeadline(
      Promise.all(this.runners.map((r) => r.stopReceiving().catch(() => undefined))),
      budget.untilDrainEnd,
    );
    if (!(await withDeadline(idle(), budget.untilDrainEnd))) {
      this.logger.warn({ inFlight: inFlight() }, 'drain deadline passed; aborting handlers');
      this.deadline.abort(new SluiceError(ErrorCodes.SHUTTING_DOWN, 'drain deadline passed'));
      if (!(await withDeadline(idle(), budget.abortGrace))) {
        this.logger.warn(
          { inFlight: inFlight() },
          'handlers still running after their signal aborted; their messages go back to the broker as the transport closes',
        );
      }
    }
    this.deadline.abort(new SluiceError(ErrorCodes.SHUTTING_DOWN, 'host stopped'));
    await withDeadline(Promise.all(this.workers.map((w) => w.stop())), budget.forWorkers);
    await Promise.all((this.options.backgroundQueues ?? []).map((q) => q.drain(budget.untilDrainEnd)));
    const hooks = this.options.shutdownHooks ?? [];
    const closeDeadline = new AbortController();
    const timer = setTimeout(() => closeDeadline.abort(), budget.forTransportClose(hooks.length > 0));
    const closed = await untilAborted(
      this.options.transport.close(closeDeadline.signal),
      closeDeadline.signal,
    );
    clearTimeout(timer);
    if (!closed) this.logger.warn({}, 'stop deadline: the transport closed without waiting for the broker');
    await withDeadline(this.ops?.close() ?? Promise.resolve(), budget.untilStopEnd);
    this.stopObserving?.();
    this.stopProcessMetrics?.();
    for (const hook of hooks) {
      const ran = (async () => hook())().catch((error: unknown) => {
        this.logger.error({ err: toError(error) }, 'shutdown hook failed');
      });
      if (!(await withDeadline(ran, budget.untilStopEnd))) {
        this.logger.warn({}, 'shutdown hook still running at the stop deadline; not waiting for it');
      }
    }
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.stopping !== undefined) {
      this.logger.warn({ signal }, 'second signal while draining; exiting now');
      process.exit(1);
    }
    this.logger.info({ signal }, 'signal received; draining');
    this.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        this.logger.error({ err: toError(error) }, 'error while stopping');
        process.exit(1);
      },
    );
  }
}
