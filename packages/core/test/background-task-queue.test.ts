import { describe, expect, it } from 'vitest';
import { BackgroundTaskQueue, ErrorCodes } from '@sluice/core';

function blocker() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { task: () => promise, release };
}

describe('background task queue', () => {
  it('rejects at capacity when configured to reject', async () => {
    const queue = new BackgroundTaskQueue({ capacity: 2, concurrency: 1, whenFull: 'reject' });
    const running = blocker();
    await queue.enqueue(running.task);
    await queue.enqueue(() => undefined);
    await queue.enqueue(() => undefined);
    expect(queue.active).toBe(1);
    expect(queue.size).toBe(2);
    await expect(queue.enqueue(() => undefined)).rejects.toMatchObject({ code: ErrorCodes.QUEUE_FULL });
    running.release();
    await queue.drain(1_000);
    expect(queue.size).toBe(0);
  });

  it('makes producers wait at capacity and admits them in order as room frees up', async () => {
    const queue = new BackgroundTaskQueue({ capacity: 1, concurrency: 1, whenFull: 'wait' });
    const first = blocker();
    const order: string[] = [];
    await queue.enqueue(first.task);
    await queue.enqueue(() => void order.push('queued'));
    let admitted = false;
    const waiting = queue
      .enqueue(() => void order.push('waited'))
      .then(() => {
        admitted = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(admitted).toBe(false);
    expect(queue.size).toBe(1);
    first.release();
    await waiting;
    expect(queue.size).toBeLessThanOrEqual(1);
    await queue.drain(1_000);
    expect(order).toEqual(['queued', 'waited']);
  });

  it('gives up waiting after maxWaitMs', async () => {
    const queue = new BackgroundTaskQueue({ capacity: 1, whenFull: 'wait', maxWaitMs: 20 });
    const running = blocker();
    await queue.enqueue(running.task);
    await queue.enqueue(() => undefined);
    await expect(queue.enqueue(() => undefined)).rejects.toMatchObject({
      code: ErrorCodes.DEADLINE_EXCEEDED,
    });
    running.release();
  });

  it('logs and counts failing tasks without stopping', async () => {
    const queue = new BackgroundTaskQueue();
    let ran = false;
    await queue.enqueue(() => {
      throw new Error('boom');
    });
    await queue.enqueue(() => {
      ran = true;
    });
    await queue.drain(1_000);
    expect(queue.failed).toBe(1);
    expect(ran).toBe(true);
  });

  it('aborts running tasks and drops queued ones when the drain deadline passes', async () => {
    const queue = new BackgroundTaskQueue({ capacity: 5 });
    let aborted = false;
    await queue.enqueue(
      (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    );
    let droppedRan = false;
    await queue.enqueue(() => {
      droppedRan = true;
    });
    await queue.drain(30);
    expect(aborted).toBe(true);
    expect(droppedRan).toBe(false);
  });

  it('validates its options', () => {
    expect(() => new BackgroundTaskQueue({ capacity: 0 })).toThrow(
      'BackgroundTaskQueue background: option "capacity" must be an integer from 1 to 1000000000 (got 0)',
    );
    expect(() => new BackgroundTaskQueue({ whenFull: 'drop' as never })).toThrow(
      'option "whenFull" must be "wait" or "reject" (got "drop")',
    );
  });
});
