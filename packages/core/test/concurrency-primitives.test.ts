import { describe, expect, it } from 'vitest';
import { IdleLatch, SerialQueue } from '@sluice/core';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('SerialQueue', () => {
  it('runs steps one at a time in queue order, and a rejected step does not stop the next', async () => {
    const queue = new SerialQueue();
    const events: string[] = [];
    const first = gate();
    const a = queue.run(async () => {
      events.push('a start');
      await first.opened;
      events.push('a end');
      throw new Error('a failed');
    });
    const b = queue.run(async () => {
      events.push('b');
      return 2;
    });
    await Promise.resolve();
    expect(events).toEqual(['a start']);
    first.open();
    await expect(a).rejects.toThrow('a failed');
    await expect(b).resolves.toBe(2);
    expect(events).toEqual(['a start', 'a end', 'b']);
  });
});

describe('IdleLatch', () => {
  it('resolves whenIdle at once when idle, else when the last unit of work leaves', async () => {
    const latch = new IdleLatch();
    await latch.whenIdle();
    latch.enter();
    latch.enter();
    let idle = false;
    const waiting = latch.whenIdle().then(() => {
      idle = true;
    });
    latch.leave();
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(latch.count).toBe(1);
    latch.leave();
    await waiting;
    expect(idle).toBe(true);
    latch.leave();
    expect(latch.count).toBe(0);
  });
});
