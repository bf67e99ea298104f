/**
 * Publishes through one confirm channel with a window of outstanding confirms. A `send` resolves when
 * the broker confirmed every message of it; a message returned as unroutable (`mandatory`) or refused
 * (nack: a full queue with `reject-publish`) rejects it. Messages wait in FIFO order while the window
 * is full, the channel buffer is draining (back-pressure) or the connection is down; those in flight
 * when a channel or connection is lost are sent again on the next channel (a duplicate is possible,
 * a loss is not). Every send is bounded by `publishTimeoutMs`.
 */
import { ErrorCodes, IdleLatch, SluiceError, type Logger } from '@sluice/core';
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { publishFields, publishInternals, type PublishInternals } from './amqplib-fast-path.js';
import type { ConnectionListener, ConnectionSession } from './connection-supervisor.js';
import { destinationName } from './envelope.js';
import type { ResolvedOptions } from './resolve-options.js';
import type { Topology } from './topology.js';

/** One message to publish. */
export interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  /** Set when `exchange` is a topic exchange that must exist before the first publish. */
  readonly topic: string | undefined;
}

interface Batch {
  remaining: number;
  done: boolean;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface Entry {
  readonly item: Outgoing;
  readonly batch: Batch;
  readonly returnKey: string | undefined;
  returned: boolean;
  sends: number;
}

/** The state of one confirm channel; replaced when the channel is lost. */
interface ChannelState {
  readonly channel: ConfirmChannel;
  /** Undefined when this amqplib lacks them: the public `publish` is used instead. */
  readonly internals: PublishInternals | undefined;
  inFlight: number;
  closed: boolean;
  draining: boolean;
  /** In flight when the channel closed: their fate is unknown, so they are sent again. */
  readonly inDoubt: Entry[];
}

/** Sends of one message before it is given up (a message that keeps killing its channel). */
const maxSends = 10;

function returnKeyOf(exchange: string, routingKey: string, messageId: unknown): string {
  return `${exchange}\u0000${routingKey}\u0000${String(messageId)}`;
}

export class Publisher implements ConnectionListener {
  private state: ChannelState | undefined;
  private session: ConnectionSession | undefined;
  private queue: Entry[] = [];
  private head = 0;
  private pumping = false;
  private declaring = false;
  private reopening = false;
  private readonly returns = new Map<string, Entry[]>();
  private readonly batches: Batch[] = [];
  private batchHead = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly unsettled = new IdleLatch();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly topology: Topology,
    private readonly isUp: () => boolean,
    private readonly logger: Logger,
  ) {}

  async connected(session: ConnectionSession): Promise<void> {
    this.session = session;
    await this.openChannel(session);
  }

  disconnected(): void {
    this.session = undefined;
    this.state = undefined;
  }

  /** Messages accepted by `send` and not yet settled. */
  get pending(): number {
    return this.unsettled.count;
  }

  /**
   * Publishes `items` in order. Resolves when the broker confirmed all of them; rejects on the first
   * one returned (`SLUICE_UNROUTABLE`), refused (`SLUICE_QUEUE_FULL`) or not confirmed within
   * `publishTimeoutMs` (`SLUICE_CONNECTION_LOST` while disconnected, else `SLUICE_DEADLINE_EXCEEDED`).
   */
  send(items: readonly Outgoing[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const batch: Batch = {
        remaining: items.length,
        done: false,
        deadline: performance.now() + this.options.publishTimeoutMs,
        resolve,
        reject,
      };
      this.unsettled.enter();
      this.batches.push(batch);
      this.armDeadline();
      for (const item of items) {
        const mandatory = item.options.mandatory === true;
        this.queue.push({
          item,
          batch,
          returnKey: mandatory
            ? returnKeyOf(item.exchange, item.routingKey, item.options.messageId)
            : undefined,
          returned: false,
          sends: 0,
        });
      }
      this.pump();
    });
  }

  /** Resolves once every accepted send has settled (each is bounded by `publishTimeoutMs`). */
  whenIdle(): Promise<void> {
    return this.unsettled.whenIdle();
  }

  /** Rejects every send not settled yet with `error` (a close that cannot wait any longer). */
  abandon(error: Error): void {
    for (const batch of this.batches.slice(this.batchHead)) this.settle(batch, error);
  }

  /** Closes the channel; call after {@link whenIdle} (or {@link abandon}). */
  async close(): Promise<void> {
    clearTimeout(this.deadlineTimer);
    const state = this.state;
    this.state = undefined;
    this.session = undefined;
    if (state !== undefined && !state.closed) await state.channel.close().catch(() => undefined);
  }

  private settle(batch: Batch, error?: Error): void {
    if (batch.done) return;
    if (error === undefined && --batch.remaining > 0) return;
    batch.done = true;
    if (error === undefined) batch.resolve();
    else batch.reject(error);
    this.trimBatches();
    this.unsettled.leave();
  }

  /** Drops settled sends from the front of the deadline list (they mostly settle in order). */
  private trimBatches(): void {
    const { batches } = this;
    while (this.batchHead < batches.length && (batches[this.batchHead] as Batch).done) this.batchHead++;
    if (this.batchHead === batches.length) {
      batches.length = 0;
      this.batchHead = 0;
    } else if (this.batchHead >= 1024 && this.batchHead * 2 >= batches.length) {
      batches.splice(0, this.batchHead);
      this.batchHead = 0;
    }
  }

  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) return;
    this.trimBatches();
    if (this.batchHead === this.batches.length) return;
    const first = this.batches[this.batchHead] as Batch;
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        this.expire();
      },
      Math.max(0, first.deadline - performance.now()) + 1,
    );
    this.deadlineTimer.unref();
  }

  /** Fails sends past their deadline. Deadlines grow in send order: one timer covers them all. */
  private expire(): void {
    const now = performance.now();
    while (this.batchHead < this.batches.length) {
      const batch = this.batches[this.batchHead] as Batch;
      if (!batch.done && batch.deadline > now) break;
      this.batchHead++;
      if (!batch.done) {
        const up = this.isUp();
        this.settle(
          batch,
          new SluiceError(
            up ? ErrorCodes.DEADLINE_EXCEEDED : ErrorCodes.CONNECTION_LOST,
            up
              ? `publish not confirmed by RabbitMQ within ${this.options.publishTimeoutMs} ms`
              : `not connected to RabbitMQ for ${this.options.publishTimeoutMs} ms; publish abandoned`,
          ),
        );
      }
    }
    this.trimBatches();
    this.armDeadline();
  }

  private compactQueue(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Sends queued messages while the window, the channel buffer and the connection allow. */
  private pump(): void {
    if (this.pumping || this.declaring) return;
    this.pumping = true;
    try {
      const window = this.options.confirmWindow;
      for (;;) {
        const state = this.state;
        if (state === undefined || state.closed || state.draining || state.inFlight >= window) break;
        if (this.head >= this.queue.length) break;
        const entry = this.queue[this.head] as Entry;
        if (entry.batch.done) {
          this.head++;
          continue;
        }
        const { topic } = entry.item;
        if (topic !== undefined && !this.topology.hasExchange(topic)) {
          this.declare(topic);
          break;
        }
        this.head++;
        this.transmit(state, entry);
      }
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      } else this.compactQueue();
    } finally {
      this.pumping = false;
    }
  }

  private transmit(state: ChannelState, entry: Entry): void {
    const { item } = entry;
    entry.sends++;
    entry.returned = false;
    if (entry.returnKey !== undefined) {
      const list = this.returns.get(entry.returnKey);
      if (list === undefined) this.returns.set(entry.returnKey, [entry]);
      else list.push(entry);
    }
    state.inFlight++;
    let writable: boolean;
    const confirmed = (error: unknown) => this.confirmed(state, entry, error);
    try {
      const { internals } = state;
      if (internals === undefined) {
        writable = state.channel.publish(
          item.exchange,
          item.routingKey,
          item.content,
          item.options,
          confirmed,
        );
      } else {
        const fields = publishFields(item.exchange, item.routingKey, item.options);
        writable = internals.sendMessage(fields, fields, item.content);
        internals.pushConfirmCallback(confirmed);
      }
    } catch (error) {
      state.inFlight--;
      this.forgetReturn(entry);
      if (state.closed) {
        this.head--;
        this.queue[this.head] = entry;
        return;
      }
      this.settle(entry.batch, this.options.connection.redactor.error(error));
      return;
    }
    if (!writable) state.draining = true;
  }

  private forgetReturn(entry: Entry): void {
    if (entry.returnKey === undefined) return;
    const list = this.returns.get(entry.returnKey);
    if (list === undefined) return;
    const index = list.indexOf(entry);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.returns.delete(entry.returnKey);
  }

  private confirmed(state: ChannelState, entry: Entry, error: unknown): void {
    state.inFlight--;
    this.forgetReturn(entry);
    if (error === null || error === undefined) {
      if (entry.returned) {
        const { exchange, routingKey } = entry.item;
        this.settle(
          entry.batch,
          new SluiceError(
            ErrorCodes.UNROUTABLE,
            `message ${String(entry.item.options.messageId)} (${String(entry.item.options.type)}) was returned by RabbitMQ: no queue is bound for ${destinationName(exchange, routingKey)}`,
          ),
        );
      } else this.settle(entry.batch);
    } else if (state.closed) {
      state.inDoubt.push(entry);
    } else {
      this.settle(
        entry.batch,
        new SluiceError(
          ErrorCodes.QUEUE_FULL,
          `RabbitMQ refused message ${String(entry.item.options.messageId)} (nack): a queue it routes to is at its max length, or the broker could not store it`,
        ),
      );
    }
    if (!this.pumping) this.pump();
  }

  private onReturn(message: Message): void {
    const { exchange, routingKey } = message.fields;
    const list = this.returns.get(returnKeyOf(exchange, routingKey, message.properties.messageId));
    const entry = list?.find((e) => !e.returned);
    if (entry !== undefined) entry.returned = true;
  }

  private declare(topic: string): void {
    this.declaring = true;
    this.topology.ensureExchange(topic).then(
      () => {
        this.declaring = false;
        this.pump();
      },
      (error: unknown) => {
        this.declaring = false;
        if ((error as { code?: unknown }).code !== ErrorCodes.CONNECTION_LOST) {
          // Nothing can be published to a topic whose exchange cannot be declared.
          for (let i = this.head; i < this.queue.length; i++) {
            const entry = this.queue[i] as Entry;
            if (entry.item.topic === topic) this.settle(entry.batch, error as Error);
          }
        }
        this.pump();
      },
    );
  }

  private async openChannel(session: ConnectionSession): Promise<void> {
    const channel = await session.connection.createConfirmChannel();
    const state: ChannelState = {
      channel,
      internals: publishInternals(channel),
      inFlight: 0,
      closed: false,
      draining: false,
      inDoubt: [],
    };
    // Runs before amqplib's own close handler, which fails the outstanding confirms: they must be
    // recognised as in doubt (to resend), not as nacks.
    channel.prependListener('close', () => {
      state.closed = true;
    });
    channel.on('close', () => this.onChannelClosed(state));
    channel.on('error', (error: unknown) => {
      if ((error as { code?: unknown }).code === 404) this.topology.forgetExchanges();
      this.logger.warn(
        { err: this.options.connection.redactor.error(error) },
        'RabbitMQ closed the publish channel',
      );
    });
    channel.on('return', (message: Message) => this.onReturn(message));
    channel.on('drain', () => {
      state.draining = false;
      this.pump();
    });
    if (session.signal.aborted || this.session !== session) {
      await channel.close().catch(() => undefined);
      return;
    }
    this.state = state;
    this.pump();
  }

  private onChannelClosed(state: ChannelState): void {
    if (this.state === state) this.state = undefined;
    const resend: Entry[] = [];
    for (const entry of state.inDoubt) {
      if (entry.batch.done) continue;
      if (entry.sends >= maxSends) {
        this.settle(
          entry.batch,
          new SluiceError(
            ErrorCodes.CONNECTION_LOST,
            `message ${String(entry.item.options.messageId)} was sent ${maxSends} times without a confirm`,
          ),
        );
      } else resend.push(entry);
    }
    if (resend.length > 0) {
      this.queue = [...resend, ...this.queue.slice(this.head)];
      this.head = 0;
    }
    // A channel lost while its connection lives (the broker closed it for an error) is reopened here;
    // after a connection loss the supervisor calls `connected` instead.
    const session = this.session;
    if (session !== undefined && !session.signal.aborted && !this.reopening) {
      this.reopening = true;
      setImmediate(() => {
        this.reopening = false;
        if (this.session === session && !session.signal.aborted && this.state === undefined) {
          this.openChannel(session).catch((error: unknown) => {
            this.logger.warn(
              { err: this.options.connection.redactor.error(error) },
              'could not reopen the publish channel',
            );
          });
        }
      });
    }
  }
}
