/**
 * Starts a consumer host for a test and waits for outcomes ("handled", "dead-lettered", ...) with a
 * deadline, so tests never sleep and hope.
 */
import { ConsumerHost, type ConsumerHostOptions, type Outcome, type SettledEvent } from '@sluice/core';
import { ChangeSignal } from './signal.js';

/** What to wait for; every given field must match. */
export interface OutcomeQuery {
  readonly messageId?: string;
  readonly consumer?: string;
  readonly outcome?: Outcome;
}

export class TestHarness {
  /** Every settled delivery, in order. */
  readonly settled: SettledEvent[] = [];
  private readonly changed = new ChangeSignal();

  constructor(readonly host: ConsumerHost) {
    host.on('settled', (event) => {
      this.settled.push(event);
      this.changed.notify();
    });
  }

  /** Creates and starts a host (signal handling off unless asked for). */
  static async start(options: ConsumerHostOptions): Promise<TestHarness> {
    const harness = new TestHarness(new ConsumerHost({ handleSignals: false, ...options }));
    await harness.host.start();
    return harness;
  }

  get bus() {
    return this.host.bus;
  }

  /** Settled events matching `query`. */
  outcomes(query: OutcomeQuery): SettledEvent[] {
    return this.settled.filter(
      (e) =>
        (query.messageId === undefined || e.messageId === query.messageId) &&
        (query.consumer === undefined || e.consumer === query.consumer) &&
        (query.outcome === undefined || e.outcome === query.outcome),
    );
  }

  /** Resolves with the first settled event matching `query`; rejects after `timeoutMs`. */
  waitFor(query: OutcomeQuery, timeoutMs = 5_000): Promise<SettledEvent> {
    return this.waitForCount(query, 1, timeoutMs).then((events) => events[0] as SettledEvent);
  }

  /** Resolves once `count` settled events match `query`. */
  waitForCount(query: OutcomeQuery, count: number, timeoutMs = 5_000): Promise<SettledEvent[]> {
    return this.changed.until(
      () => {
        const matching = this.outcomes(query);
        return matching.length >= count ? matching : undefined;
      },
      timeoutMs,
      `${count} x ${JSON.stringify(query)}`,
    );
  }

  /** The message was handled successfully (by `consumer`, when given). */
  waitForHandled(messageId: string, consumer?: string, timeoutMs?: number): Promise<SettledEvent> {
    return this.waitFor({ messageId, consumer, outcome: 'handled' }, timeoutMs);
  }

  /** The message was dead-lettered (by `consumer`, when given). */
  waitForDeadLettered(messageId: string, consumer?: string, timeoutMs?: number): Promise<SettledEvent> {
    return this.waitFor({ messageId, consumer, outcome: 'dead-lettered' }, timeoutMs);
  }

  stop(): Promise<void> {
    return this.host.stop();
  }
}
