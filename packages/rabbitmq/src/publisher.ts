/**
 * Publishes through one confirm channel with a window of outstanding confirms. A `send` resolves when
 * the broker confirmed every message of it; a message returned as unroutable (`mandatory`) or refused
 * (nack: a full queue with `reject-publish`) rejects it. Messages wait in FIFO order while the window
 * is full, the channel buffer is draining (back-pressure) or the connection is down; those in flight
 * when a channel or connection is lost are sent again on the next channel (a duplicate is possible,
 * a loss is not). Every send is bounded by `publishTimeoutMs`.
 */
import { backoffDelay, ErrorCodes, IdleLatch, SluiceError, type Logger } from '@sluice/core';
import type { ConfirmChannel, Message, Options } from 'amqplib';
import {
  coalesceWrites,
  publishFields,
  publishInternals,
  type PublishInternals,
} from './amqplib-fast-path.js';
import type { ConnectionListener, ConnectionSession } from './connection-supervisor.js';
import { encodePublish } from './publish-frames.js';
import { destinationName } from './envelope.js';
import type { ResolvedOptions } from './resolve-options.js';
import type { Topology } from './topology.js';

/** One message to publish. */
export interface Outgoing {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
  /** Set when `exchange` is a topic exchange: it (and its consumer queues) must exist before the first publish. */
  readonly topic: string | undefined;
}

interface Batch {
  remaining: number;
  done: boolean;
  /** Its messages; emptied once it settled, so that a failed send holds no message in memory. */
  entries: Entry[];
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface Entry {
  /** Replaced by {@link released} once its send settled with an error: nothing holds its bytes. */
  item: Outgoing;
  readonly batch: Batch;
  /** Its message id when it is mandatory: a `basic.return` is matched to it by that id. */
  readonly returnId: string | undefined;
  /** The next mandatory entry in flight with the same message id (ids are not always unique). */
  sameId: Entry | undefined;
  returned: boolean;
  sends: number;
  /** In doubt after a channel the broker closed: sent alone until its fate is known. */
  suspect: boolean;
  /** Sent with nothing else in flight: a channel closed by the broker on it was closed for it. */
  solo: boolean;
}

/** What a settled entry points to instead of its message. */
const released: Outgoing = {
  exchange: '',
  routingKey: '',
  content: Buffer.alloc(0),
  options: {},
  topic: undefined,
};

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
  /** A solo entry is in flight: nothing else is sent until it is confirmed. */
  soloInFlight: boolean;
  /** Why the broker closed the channel (its reply code and text), when it did. */
  error: { code: unknown; message: string } | undefined;
}

/** Sends of one message before it is given up (a channel that keeps closing under it). */
const maxSends = 10;

/** Broker reply code for a missing exchange: the topology changed, not the message's fault. */
const notFound = 404;

export class Publisher implements ConnectionListener {
  private state: ChannelState | undefined;
  private session: ConnectionSession | undefined;
  private queue: Entry[] = [];
  private head = 0;
  private pumping = false;
  private declaring = false;
  private reopening = false;
  /** Why the publish channel could not be reopened, while it cannot. */
  private reopenError: Error | undefined;
  /** Queued entries of settled sends, left for the next compaction. */
  private deadQueued = 0;
  /** Mandatory entries in flight by message id: the first sent, then the others through `sameId`. */
  private readonly returns = new Map<string, Entry>();
  private readonly batches: Batch[] = [];
  private batchHead = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly unsettled = new IdleLatch();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly topology: Topology,
    /** The publishing connection: whether it is up, and why it last failed. */
    private readonly connection: { readonly isUp: boolean; readonly lastFailure: Error | undefined },
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
        entries: [],
        deadline: performance.now() + this.options.publishTimeoutMs,
        resolve,
        reject,
      };
      this.unsettled.enter();
      this.batches.push(batch);
      this.armDeadline();
      for (const item of items) {
        const mandatory = item.options.mandatory === true;
        const entry: Entry = {
          item,
          batch,
          returnId: mandatory ? String(item.options.messageId) : undefined,
          sameId: undefined,
          returned: false,
          sends: 0,
          suspect: false,
          solo: false,
        };
        batch.entries.push(entry);
        this.queue.push(entry);
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
    else {
      batch.reject(error);
      // Its messages may still sit in the queue (an outage): their bytes are let go now, the entries
      // at the next compaction.
      for (const entry of batch.entries) {
        entry.item = released;
        this.deadQueued++;
      }
    }
    batch.entries = [];
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
        const up = this.connection.isUp;
        this.settle(
          batch,
          new SluiceError(
            up ? ErrorCodes.DEADLINE_EXCEEDED : ErrorCodes.CONNECTION_LOST,
            up
              ? this.reopenError === undefined
                ? `publish not confirmed by RabbitMQ within ${this.options.publishTimeoutMs} ms`
                : `publish not sent within ${this.options.publishTimeoutMs} ms: the publish channel cannot be opened (${this.reopenError.message})`
              : `publishing connection to RabbitMQ down for ${this.options.publishTimeoutMs} ms; publish abandoned${
                  this.connection.lastFailure === undefined ? '' : ` (${this.connection.lastFailure.message})`
                }`,
          ),
        );
      }
    }
    this.trimBatches();
    this.compactQueue();
    this.armDeadline();
  }

  private compactQueue(): void {
    if (this.deadQueued > 1024 && this.deadQueued * 2 > this.queue.length - this.head) {
      this.queue = this.queue.slice(this.head).filter((entry) => !entry.batch.done);
      this.head = 0;
      this.deadQueued = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
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
        if (state.soloInFlight || this.head >= this.queue.length) break;
        const entry = this.queue[this.head] as Entry;
        if (entry.batch.done) {
          this.head++;
          continue;
        }
        // A suspect goes alone: if the broker closes the channel on it, it is the one refused.
        if (entry.suspect && state.inFlight > 0) break;
        const { topic } = entry.item;
        if (topic !== undefined && !this.topology.readyToPublish(topic)) {
          this.declare(topic);
          break;
        }
        this.head++;
        this.transmit(state, entry);
      }
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
        this.deadQueued = 0;
      } else this.compactQueue();
    } finally {
      this.pumping = false;
    }
  }

  private transmit(state: ChannelState, entry: Entry): void {
    const { item } = entry;
    entry.sends++;
    entry.returned = false;
    entry.solo = entry.suspect;
    if (entry.solo) state.soloInFlight = true;
    if (entry.returnId !== undefined) {
      let last = this.returns.get(entry.returnId);
      if (last === undefined) this.returns.set(entry.returnId, entry);
      else {
        while (last.sameId !== undefined) last = last.sameId;
        last.sameId = entry;
      }
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
        const frames =
          internals.writeFrames === undefined
            ? undefined
            : encodePublish(
                internals.channelNumber,
                internals.frameMax,
                item.exchange,
                item.routingKey,
                item.options,
                item.content,
              );
        if (frames === undefined) {
          const fields = publishFields(item.exchange, item.routingKey, item.options);
          writable = internals.sendMessage(fields, fields, item.content);
        } else writable = (internals.writeFrames as (frames: Buffer) => boolean)(frames);
        internals.pushConfirmCallback(confirmed);
      }
    } catch (error) {
      state.inFlight--;
      state.soloInFlight = false;
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
    const id = entry.returnId;
    if (id === undefined) return;
    const first = this.returns.get(id);
    if (first === entry) {
      if (entry.sameId === undefined) this.returns.delete(id);
      else this.returns.set(id, entry.sameId);
    } else {
      let before = first;
      while (before !== undefined && before.sameId !== entry) before = before.sameId;
      if (before !== undefined) before.sameId = entry.sameId;
    }
    entry.sameId = undefined;
  }

  private confirmed(state: ChannelState, entry: Entry, error: unknown): void {
    state.inFlight--;
    if (entry.solo) state.soloInFlight = false;
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
      return;
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
    let entry = this.returns.get(String(message.properties.messageId));
    while (
      entry !== undefined &&
      (entry.returned || entry.item.exchange !== exchange || entry.item.routingKey !== routingKey)
    )
      entry = entry.sameId;
    if (entry !== undefined) entry.returned = true;
  }

  private declare(topic: string): void {
    this.declaring = true;
    this.topology.prepareToPublish(topic).then(
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
    coalesceWrites(session.connection);
    const channel = await session.connection.createConfirmChannel();
    const state: ChannelState = {
      channel,
      internals: publishInternals(channel),
      inFlight: 0,
      closed: false,
      draining: false,
      inDoubt: [],
      soloInFlight: false,
      error: undefined,
    };
    // Runs before amqplib's own close handler, which fails the outstanding confirms: they must be
    // recognised as in doubt (to resend), not as nacks.
    channel.prependListener('close', () => {
      state.closed = true;
    });
    channel.on('close', () => this.onChannelClosed(state));
    channel.on('error', (error: unknown) => {
      const clean = this.options.connection.redactor.error(error);
      state.error = { code: (error as { code?: unknown }).code, message: clean.message };
      if (state.error.code === notFound) this.topology.forgetExchanges();
      this.logger.warn({ err: clean }, 'RabbitMQ closed the publish channel');
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
    this.reopenError = undefined;
    this.pump();
  }

  /**
   * After a channel loss, what was in flight is sent again. When the broker closed the channel for an
   * error, one of those messages may be the cause (an expiration or a size it refuses, a routing key
   * it does not permit): they go one at a time, so that the one the broker closes the channel on
   * again is known and rejected, and the others are sent once more only.
   */
  private onChannelClosed(state: ChannelState): void {
    if (this.state === state) this.state = undefined;
    const closedByBroker = state.error !== undefined;
    const resend: Entry[] = [];
    for (const entry of state.inDoubt) {
      if (entry.batch.done) continue;
      if (closedByBroker && entry.solo && state.error?.code !== notFound) {
        this.settle(
          entry.batch,
          new SluiceError(
            ErrorCodes.PUBLISH_REFUSED,
            `RabbitMQ refused message ${String(entry.item.options.messageId)} by closing the channel on it: ${state.error?.message ?? ''}`,
          ),
        );
      } else if (entry.sends >= maxSends) {
        this.settle(
          entry.batch,
          new SluiceError(
            ErrorCodes.CONNECTION_LOST,
            `message ${String(entry.item.options.messageId)} was sent ${maxSends} times without a confirm`,
          ),
        );
      } else {
        entry.suspect ||= closedByBroker;
        resend.push(entry);
      }
    }
    if (resend.length > 0) {
      this.queue = [...resend, ...this.queue.slice(this.head)];
      this.head = 0;
    }
    // A channel lost while its connection lives (the broker closed it for an error) is reopened here;
    // after a connection loss the supervisor calls `connected` instead.
    const session = this.session;
    if (session !== undefined && !session.signal.aborted) this.reopen(session, 1);
  }

  /** Opens the publish channel on `session` again, retrying with the reconnect backoff until it works. */
  private reopen(session: ConnectionSession, attempt: number): void {
    if (this.reopening) return;
    this.reopening = true;
    const delayMs = attempt === 1 ? 0 : backoffDelay(this.options.reconnect, attempt - 1);
    const timer = setTimeout(() => {
      this.reopening = false;
      if (this.session !== session || session.signal.aborted || this.state !== undefined) return;
      this.openChannel(session).catch((error: unknown) => {
        this.reopenError = this.options.connection.redactor.error(error);
        this.logger.warn(
          { err: this.reopenError, attempt },
          'could not reopen the publish channel; retrying',
        );
        this.reopen(session, attempt + 1);
      });
    }, delayMs);
    timer.unref();
  }
}
