/**
 * Owns the AMQP connection: connects, notices its loss (broker restart, forced close, socket error,
 * missed heartbeats) and reconnects with backoff and jitter for as long as the transport is open. After
 * every (re)connect the listeners re-establish what they own (topology, publisher channel, consumers)
 * in registration order; only then is the connection reported up.
 *
 * A first connection the broker refuses for good (login, vhost, TLS certificate) fails at once; one
 * that meets a passing condition (nothing listening yet, a reset) is retried. Failed attempts are
 * logged quietly: one line at the first, then one every {@link summaryEvery} attempts or when the
 * cause changes, each a single line without a stack.
 */
import { backoffDelay, ErrorCodes, SluiceError, toError, type Logger } from '@sluice/core';
import amqp, { type ChannelModel } from 'amqplib';
import { describeConnectFailure } from './connect-failure.js';
import { guardFrameDecoding } from './frame-decoding.js';
import type { ConnectionSettings } from './resolve-options.js';
import type { ReconnectOptions } from './types.js';

/** One live connection; `signal` aborts when it is lost or closed. */
export interface ConnectionSession {
  readonly connection: ChannelModel;
  readonly signal: AbortSignal;
}

export interface ConnectionListener {
  /** Re-establishes what the listener owns on a new connection. A rejection restarts the connection. */
  connected(session: ConnectionSession): Promise<void>;
  /** The connection was lost (synchronous; called before any reconnect attempt). */
  disconnected(): void;
}

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** Failed attempts between two log lines about the same cause. */
const summaryEvery = 10;

/** Throws when `signal` aborted: a step of a recovery found its connection gone. */
export function throwIfLost(signal: AbortSignal): void {
  if (signal.aborted) throw new SluiceError(ErrorCodes.CONNECTION_LOST, 'connection lost during recovery');
}

export class ConnectionSupervisor {
  private session: (ConnectionSession & { readonly abort: AbortController }) | undefined;
  private up = false;
  private closed = false;
  private abandoned = false;
  private loop: Promise<void> | undefined;
  private attempt = 0;
  private connectedOnce = false;
  private lastError: Error | undefined;
  /** One line saying why the last attempt failed, while reconnecting. */
  private lastReason: string | undefined;
  /** When the current run of failed attempts began. */
  private failingSince = 0;
  private sleeper: { timer: NodeJS.Timeout; wake(): void } | undefined;
  private readonly listeners: ConnectionListener[] = [];
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly backoff: Required<ReconnectOptions>,
    private readonly logger: Logger,
  ) {}

  /** True while connected and every listener re-established its state. */
  get isUp(): boolean {
    return this.up;
  }

  /** Why the last connection attempt failed, while reconnecting; undefined once up. */
  get lastFailure(): Error | undefined {
    return this.lastError;
  }

  /** The live session, when up. */
  get current(): ConnectionSession | undefined {
    return this.up ? this.session : undefined;
  }

  /**
   * Adds a listener. When up, it is brought up on the current connection now (a failure removes it
   * again and rejects); otherwise the recovery under way or the next one brings it up.
   */
  async addListener(listener: ConnectionListener): Promise<void> {
    this.listeners.push(listener);
    const session = this.current;
    if (session === undefined) return;
    try {
      await listener.connected(session);
    } catch (error) {
      this.removeListener(listener);
      throw error;
    }
  }

  removeListener(listener: ConnectionListener): void {
    const index = this.listeners.indexOf(listener);
    if (index >= 0) this.listeners.splice(index, 1);
  }

  /**
   * Connects, retrying with backoff for up to `timeoutMs`. Rejects at once with
   * `SLUICE_CONNECTION_REFUSED` when the broker refuses the login, the vhost or the TLS handshake (the
   * message names the cause); with `SLUICE_CONNECTION_LOST` when the time is up (the message says what
   * the last attempt met). Either way it stops trying; the cause, redacted, is the error's `cause`.
   */
  async start(timeoutMs: number): Promise<void> {
    if (this.closed) throw new SluiceError(ErrorCodes.CLOSED, 'RabbitMQ connection is closed');
    if (this.up) return;
    this.abandoned = false;
    this.ensureLoop();
    try {
      await this.waitUp(timeoutMs);
    } catch (error) {
      if (!this.up) {
        this.abandoned = true;
        this.sleeper?.wake();
      }
      throw error;
    }
  }

  /** Resolves once up; rejects with `SLUICE_CONNECTION_LOST` after `timeoutMs`, `SLUICE_CLOSED` on close. */
  waitUp(timeoutMs: number): Promise<void> {
    if (this.up) return Promise.resolve();
    if (this.closed)
      return Promise.reject(new SluiceError(ErrorCodes.CLOSED, 'RabbitMQ connection is closed'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const last = this.lastError?.message.trim().split('\n')[0];
        const why = last === undefined ? '' : ` (${this.attempt} attempts; the last: ${last})`;
        reject(
          new SluiceError(
            ErrorCodes.CONNECTION_LOST,
            `not connected to RabbitMQ at ${this.settings.displayUrl} within ${timeoutMs} ms${why}`,
            this.lastError === undefined ? undefined : { cause: this.lastError },
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    this.sleeper?.wake();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new SluiceError(ErrorCodes.CLOSED, 'RabbitMQ connection closed'));
    }
    this.waiters.clear();
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) {
      session.abort.abort();
      await session.connection.close().catch(() => undefined);
    }
    await this.loop;
  }

  private ensureLoop(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /** The backoff delay before reconnect attempt `attempt` (1-based), with jitter. */
  delay(attempt: number): number {
    return backoffDelay(this.backoff, attempt);
  }

  private async run(): Promise<void> {
    while (!this.closed && !this.abandoned) {
      try {
        await this.establish();
        return;
      } catch (error) {
        if (this.closed) return;
        this.attempt++;
        this.lastError = this.settings.redactor.error(error);
        const { permanent, reason } = describeConnectFailure(this.lastError, this.settings);
        if (permanent && !this.connectedOnce) {
          this.refuse(new SluiceError(ErrorCodes.CONNECTION_REFUSED, reason, { cause: this.lastError }));
          return;
        }
        const delayMs = this.delay(this.attempt);
        this.noteFailure(reason, permanent, delayMs);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.sleeper = undefined;
            resolve();
          }, delayMs);
          this.sleeper = {
            timer,
            wake: () => {
              clearTimeout(timer);
              this.sleeper = undefined;
              resolve();
            },
          };
        });
      }
    }
  }

  /** Gives up the first connection: every waiter rejects with `refusal`, and the loop stops. */
  private refuse(refusal: SluiceError): void {
    this.abandoned = true;
    this.attempt = 0;
    this.lastReason = undefined;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(refusal);
    }
    this.waiters.clear();
  }

  /**
   * Logs a failed attempt: the first of a run, every {@link summaryEvery}th, and any whose cause
   * differs from the one before. A refusal while reconnecting (the password changed, the vhost gone)
   * is an error: the transport keeps trying, but someone has to act.
   */
  private noteFailure(reason: string, permanent: boolean, delayMs: number): void {
    if (this.attempt === 1) this.failingSince = Date.now();
    const changed = reason !== this.lastReason;
    this.lastReason = reason;
    if (!changed && this.attempt !== 1 && this.attempt % summaryEvery !== 0) return;
    const fields = {
      url: this.settings.displayUrl,
      attempts: this.attempt,
      failingForMs: Date.now() - this.failingSince,
      nextAttemptInMs: delayMs,
      reason,
    };
    const what = this.connectedOnce ? 'reconnect' : 'connect';
    const message =
      this.attempt === 1
        ? `cannot ${what} to RabbitMQ; retrying`
        : `still cannot ${what} to RabbitMQ; retrying`;
    if (permanent) this.logger.error(fields, message);
    else this.logger.warn(fields, message);
  }

  private async establish(): Promise<void> {
    const connection = await amqp.connect(this.settings.connect, this.settings.socket);
    guardFrameDecoding(connection);
    const abort = new AbortController();
    const session = { connection, signal: abort.signal, abort };
    // amqplib emits 'error' just before 'close', whose line gives the reason.
    connection.on('error', (error: unknown) => {
      this.logger.debug({ err: this.settings.redactor.error(error) }, 'RabbitMQ connection error');
    });
    let closedWith: unknown;
    connection.on('close', (error?: unknown) => {
      closedWith = error;
      this.onClose(session, error);
    });
    connection.on('blocked', (reason: string) =>
      this.logger.warn({ reason }, 'RabbitMQ blocked this connection'),
    );
    connection.on('unblocked', () => this.logger.info({}, 'RabbitMQ unblocked this connection'));
    this.session = session;
    try {
      if (this.closed || this.abandoned) throw new SluiceError(ErrorCodes.CLOSED, 'stopped connecting');
      // By index: a listener added while this recovery runs is brought up by it too.
      for (let i = 0; i < this.listeners.length; i++) {
        await (this.listeners[i] as ConnectionListener).connected(session);
        throwIfLost(session.signal);
      }
    } catch (error) {
      if (this.session === session) this.session = undefined;
      abort.abort();
      await connection.close().catch(() => undefined);
      // The broker's reason (such as a channel limit) says more than the channel it ended.
      throw closedWith instanceof Error ? closedWith : error;
    }
    const reconnected = this.connectedOnce;
    this.connectedOnce = true;
    this.up = true;
    this.attempt = 0;
    this.lastError = undefined;
    this.lastReason = undefined;
    this.logger.info(
      { url: this.settings.displayUrl },
      reconnected ? 'reconnected to RabbitMQ' : 'connected to RabbitMQ',
    );
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
  }

  private onClose(session: ConnectionSession & { readonly abort: AbortController }, error: unknown): void {
    session.abort.abort();
    if (this.session !== session) return;
    this.session = undefined;
    const wasUp = this.up;
    this.up = false;
    if (this.closed) return;
    if (error !== undefined) this.lastError = this.settings.redactor.error(error);
    for (const listener of [...this.listeners]) listener.disconnected();
    this.logger.warn(
      {
        url: this.settings.displayUrl,
        reason: error === undefined ? undefined : this.settings.redactor.text(toError(error).message),
      },
      'RabbitMQ connection lost; reconnecting',
    );
    if (wasUp) this.ensureLoop();
  }
}
