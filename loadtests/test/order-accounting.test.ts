/**
 * The accounting of a load run, by order id: the handlers' records (files that grow, lines cut in
 * two across reads, replicas appearing), the drain decided by which orders are dead-lettered (never by
 * comparing counts), and the final split into handled, dead-lettered, still queued and lost.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BacklogSample } from '../src/backlog-sampler.js';
import { expectedHandlers, HandledTally } from '../src/handled-tally.js';
import { OrderAccounting } from '../src/order-accounting.js';
import type { DeadLettered, Located } from '../src/vhost-contents.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-accounting-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (replica: string, consumer: string, orderId: string) =>
  appendFileSync(join(dir, `handled-${replica}.log`), `${consumer} ${orderId}\n`);
const handleFully = (replica: string, orderId: string, amount = 50) => {
  for (const consumer of expectedHandlers(amount)) record(replica, consumer, orderId);
};
const idle: BacklogSample = { t: 1, broker: {}, metrics: {}, replicas: 0, replicasReady: 0 };

/** The vhost's contents as the broker would give them. */
function contents(
  deadLettered: Record<string, string>,
  queued: Record<string, string[]> = {},
  complete = true,
) {
  let reads = 0;
  return {
    get reads() {
      return reads;
    },
    deadLettered(): Promise<DeadLettered> {
      reads++;
      const orders = new Map(Object.entries(deadLettered));
      return Promise.resolve({ orders, reasons: {}, messages: orders.size });
    },
    locate(orderIds: ReadonlySet<string>): Promise<Located> {
      const queues = new Map(Object.entries(queued).filter(([id]) => orderIds.has(id)));
      return Promise.resolve({ queues, complete });
    },
  };
}

describe('HandledTally', () => {
  it('reads every replica file as it grows, lines cut in two included, and counts an order once all its handlers are there', () => {
    const tally = new HandledTally(dir);
    const orders = new Map([
      ['a', 50],
      ['vip', 1500],
    ]);
    handleFully('1', 'a');
    appendFileSync(join(dir, 'handled-2.log'), 'SendConfirmationEmail v');
    tally.poll();
    expect([...tally.pending(orders).keys()]).toEqual(['vip']);
    appendFileSync(join(dir, 'handled-2.log'), 'ip\n');
    for (const consumer of expectedHandlers(50)) record('3', consumer, 'vip');
    tally.poll();
    expect(tally.pending(orders).get('vip')).toEqual(['NotifyVipDesk']);
    record('3', 'NotifyVipDesk', 'vip');
    tally.poll();
    expect(tally.pending(orders).size).toBe(0);
    expect(tally.lines).toBe(5 + 1 + 6);
  });
});

describe('OrderAccounting', () => {
  it('does not call the drain done while an order is neither handled nor dead-lettered, even when the dead-letter queues hold as many messages as orders are missing', async () => {
    const orders = new Map([
      ['a', 50],
      ['b', 50],
    ]);
    handleFully('1', 'a');
    // One dead letter, of an order that was not accepted (or of "a" again): the counts match, the ids do not.
    const broker = contents({ other: 'payments.dlq' });
    const accounting = new OrderAccounting(orders, new HandledTally(dir), broker);
    const withDeadLetter: BacklogSample = { ...idle, broker: { 'payments.dlq': 1 } };
    expect(
      await accounting.waitDrained(
        3,
        () => withDeadLetter,
        () => undefined,
      ),
    ).toBeUndefined();
    expect(broker.reads).toBeGreaterThan(0);
  });

  it('calls the drain done once every order not handled is in a dead-letter queue', async () => {
    const orders = new Map([
      ['a', 50],
      ['b', 50],
    ]);
    handleFully('1', 'a');
    for (const consumer of expectedHandlers(50).filter((c) => c !== 'ChargeCardConsumer'))
      record('1', consumer, 'b');
    const accounting = new OrderAccounting(orders, new HandledTally(dir), contents({ b: 'payments.dlq' }));
    const drained = await accounting.waitDrained(
      30,
      () => idle,
      () => undefined,
    );
    expect(drained).toBeGreaterThanOrEqual(2); // after the records were quiet for 2 s
    const outcome = await accounting.settle();
    expect(outcome.handled).toBe(1);
    expect(outcome.deadLettered).toEqual([
      { orderId: 'b', missing: ['ChargeCardConsumer'], queue: 'payments.dlq' },
    ]);
    expect(outcome.lost).toEqual([]);
  });

  it('looks at the dead letters only while the records are quiet and the work queues empty', async () => {
    const orders = new Map([['a', 50]]);
    const broker = contents({});
    const accounting = new OrderAccounting(orders, new HandledTally(dir), broker);
    const busy: BacklogSample = { ...idle, broker: { payments: 3 } };
    expect(
      await accounting.waitDrained(
        2.5,
        () => busy,
        () => undefined,
      ),
    ).toBeUndefined();
    expect(broker.reads).toBe(0);
  });

  it('tells an order still queued (the wait ended first) from one that is nowhere', async () => {
    const orders = new Map([
      ['queued', 50],
      ['gone', 50],
    ]);
    const accounting = new OrderAccounting(
      orders,
      new HandledTally(dir),
      contents({}, { queued: ['payments.retry.1000ms'] }),
    );
    const outcome = await accounting.settle();
    expect(outcome.handled).toBe(0);
    expect(outcome.undrained).toEqual([
      { orderId: 'queued', missing: expectedHandlers(50), queues: ['payments.retry.1000ms'] },
    ]);
    expect(outcome.lost).toEqual([{ orderId: 'gone', missing: expectedHandlers(50) }]);
  });

  it('calls nothing lost when a queue could not be read in full', async () => {
    const orders = new Map([['unread', 50]]);
    const accounting = new OrderAccounting(orders, new HandledTally(dir), contents({}, {}, false));
    const outcome = await accounting.settle();
    expect(outcome.lost).toEqual([]);
    expect(outcome.undrained).toHaveLength(1);
  });

  it('reads the work and retry queues before the dead-letter queues: an order whose message is dead-lettered between the two reads is dead-lettered, not lost', async () => {
    const orders = new Map([['moving', 50]]);
    // The broker moves the message from the work queue into payments.dlq right after the first read,
    // whichever it is (a queue's TTL or a delivery limit dead-letters it while no consumer runs).
    let where: 'payments' | 'payments.dlq' = 'payments';
    const read = <T>(result: T): Promise<T> => {
      where = 'payments.dlq';
      return Promise.resolve(result);
    };
    const broker = {
      deadLettered(): Promise<DeadLettered> {
        const dead = new Map(where === 'payments.dlq' ? [['moving', 'payments.dlq']] : []);
        return read({ orders: dead, reasons: {}, messages: dead.size });
      },
      locate(orderIds: ReadonlySet<string>): Promise<Located> {
        const held = where === 'payments' && orderIds.has('moving');
        return read({ queues: new Map(held ? [['moving', ['payments']]] : []), complete: true });
      },
    };
    const outcome = await new OrderAccounting(orders, new HandledTally(dir), broker).settle();
    expect(outcome.lost).toEqual([]);
    expect(outcome.deadLettered.map((o) => o.orderId)).toEqual(['moving']);
    expect(outcome.handled + outcome.deadLettered.length + outcome.undrained.length).toBe(orders.size);
  });
});
