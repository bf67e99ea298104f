/**
 * Accounts for every accepted order of a load run by its id: handled by every handler it has (from the
 * handlers' own records), dead-lettered (a message of it in a dead-letter queue, with the reason), still
 * queued (a message of it in a work or retry queue when the wait ended), or lost (none of these).
 *
 * The wait for the drain decides by order id, never by comparing counts: done when every order is
 * handled, or when every order not handled has a message in a dead-letter queue. The broker's
 * statistics (which lag by up to 5 s) only decide when to look at the dead-letter queues, never what
 * is concluded. The final accounting runs after the consumers have exited, when their records are
 * complete (each line is written before its message is acknowledged) and nothing moves but the
 * retry queues' timers.
 */
import { backlogOf, deadLetterDepth, type BacklogSample } from './backlog-sampler.js';
import type { HandledTally } from './handled-tally.js';
import type { VhostContents } from './vhost-contents.js';

/** No handler line for this long, with the work queues empty: time to look at the dead letters. */
const quietMs = 2_000;
/** A look at the dead-letter queues at most this often, unless their depth changed. */
const lookEveryMs = 10_000;

export interface OrderOutcome {
  readonly orderId: string;
  /** The handlers whose records lack it. */
  readonly missing: readonly string[];
}

export interface Accounting {
  /** Orders every expected handler finished. */
  readonly handled: number;
  /** Orders not fully handled with a message in a dead-letter queue. */
  readonly deadLettered: readonly (OrderOutcome & { readonly queue: string })[];
  /** Orders not fully handled, not dead-lettered, with a message still in a work or retry queue. */
  readonly undrained: readonly (OrderOutcome & { readonly queues: readonly string[] })[];
  /** Orders not fully handled, not dead-lettered and in no queue read in full. */
  readonly lost: readonly OrderOutcome[];
  /** Per `<queue>: <fault reason> (<error type>)`, the dead-letter queues' message counts. */
  readonly deadLetterReasons: Readonly<Record<string, number>>;
  /** Messages in the dead-letter queues (of accepted orders or not). */
  readonly deadLetterMessages: number;
}

export class OrderAccounting {
  /**
   * `orders`: the accepted orders (id to total amount, which decides whether the VIP desk handles it);
   * `tally`: the handlers' records; `contents`: the vhost's queues.
   */
  constructor(
    private readonly orders: ReadonlyMap<string, number>,
    private readonly tally: HandledTally,
    private readonly contents: Pick<VhostContents, 'deadLettered' | 'locate'>,
  ) {}

  /**
   * Waits until every order is handled or dead-lettered, at most `timeoutS`. `latest` gives the latest
   * backlog sample; `progress` is told the pending count every 250 ms. Resolves with the seconds it
   * took, or undefined on timeout.
   */
  async waitDrained(
    timeoutS: number,
    latest: () => BacklogSample | undefined,
    progress: (pending: number, elapsedS: number) => void,
  ): Promise<number | undefined> {
    const started = performance.now();
    const elapsedS = () => (performance.now() - started) / 1000;
    let lines = -1;
    let lastLine = performance.now();
    let lookedAt = Number.NEGATIVE_INFINITY;
    let depthLookedAt = -1;
    while (elapsedS() < timeoutS) {
      this.tally.poll();
      const pending = this.tally.pending(this.orders);
      progress(pending.size, elapsedS());
      if (pending.size === 0) return elapsedS();
      if (this.tally.lines !== lines) {
        lines = this.tally.lines;
        lastLine = performance.now();
      }
      const sample = latest();
      const depth = sample === undefined ? 0 : deadLetterDepth(sample);
      const quiet =
        performance.now() - lastLine >= quietMs && sample !== undefined && backlogOf(sample) === 0;
      if (quiet && (depth !== depthLookedAt || performance.now() - lookedAt >= lookEveryMs)) {
        lookedAt = performance.now();
        depthLookedAt = depth;
        const { orders: dead } = await this.contents.deadLettered();
        if ([...pending.keys()].every((orderId) => dead.has(orderId))) return elapsedS();
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return undefined;
  }

  /**
   * The final accounting; call it once the consumers have exited. Every accepted order lands in
   * exactly one of handled, dead-lettered, still queued and lost. The work and retry queues are read
   * before the dead-letter queues, in the direction messages still move (see `VhostContents`), so a
   * message moving meanwhile is seen in one of them.
   */
  async settle(): Promise<Accounting> {
    this.tally.poll();
    const pending = this.tally.pending(this.orders);
    const located =
      pending.size === 0
        ? { queues: new Map<string, readonly string[]>(), complete: true }
        : await this.contents.locate(new Set(pending.keys()));
    const dead = await this.contents.deadLettered();
    const deadLettered: (OrderOutcome & { queue: string })[] = [];
    const undrained: (OrderOutcome & { queues: readonly string[] })[] = [];
    const lost: OrderOutcome[] = [];
    for (const [orderId, missing] of pending) {
      const queue = dead.orders.get(orderId);
      const queues = located.queues.get(orderId);
      if (queue !== undefined) deadLettered.push({ orderId, missing, queue });
      else if (queues !== undefined) undrained.push({ orderId, missing, queues });
      else if (located.complete) lost.push({ orderId, missing });
      else
        undrained.push({ orderId, missing, queues: ['(not read: a queue held more than 5,000 messages)'] });
    }
    return {
      handled: this.orders.size - pending.size,
      deadLettered,
      undrained,
      lost,
      deadLetterReasons: dead.reasons,
      deadLetterMessages: dead.messages,
    };
  }
}
