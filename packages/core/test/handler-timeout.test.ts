/**
 * A timed-out handler call owns its concurrency slot and its idempotency claim until it has really
 * returned: its signal aborts at the timeout, and a call that ignores it still holds both, so no second
 * call of the same delivery (or of a duplicate) runs beside it. Calls that overstay are reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Consumer, defineCommand, ErrorCodes, type MessageContext } from '@sluice/core';
import { ChangeSignal, RecordingLogger, type TestHarness } from '@sluice/testing';
import { startHost } from './support.js';

const Job = defineCommand<{ name: string }>('test.job.v1');

/** Handler calls as they start and end, with the most that ran at once. */
class CallLog {
  readonly events: string[] = [];
  readonly changed = new ChangeSignal();
  private running = 0;
  peak = 0;

  async around(name: string, work: () => Promise<void>): Promise<void> {
    this.events.push(`start ${name}`);
    this.peak = Math.max(this.peak, ++this.running);
    try {
      await work();
    } finally {
      this.running--;
      this.events.push(`end ${name}`);
      this.changed.notify();
    }
  }

  count(prefix: string): number {
    return this.events.filter((e) => e.startsWith(prefix)).length;
  }

  /** Resolves once `n` calls have ended. */
  ended(n: number, timeoutMs = 10_000): Promise<true> {
    return this.changed.until(
      () => (this.count('end') >= n ? true : undefined),
      timeoutMs,
      `${n} calls ended`,
    );
  }
}

const calls = new CallLog();
/** Ignores its signal: runs 400 ms whatever happens. */
const stubborn = () => new Promise<void>((resolve) => setTimeout(resolve, 400));

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  calls.events.length = 0;
  calls.peak = 0;
});

describe('handler timeout', { timeout: 20_000 }, () => {
  it('runs no second call of a delivery, nor another delivery, beside a timed-out call that ignores its signal', async () => {
    @Consumer({
      queue: 'jobs',
      message: Job,
      concurrency: 1,
      timeoutMs: 100,
      retry: { attempts: 2, immediate: 2 },
    })
    class Stubborn {
      async handle({ name }: { name: string }, ctx: MessageContext) {
        await calls.around(`${name}#${ctx.attempt}`, name === 'slow' ? stubborn : async () => undefined);
      }
    }
    ({ harness } = await startHost([Stubborn]));
    await harness.bus.send(Job, { name: 'slow' }, { messageId: 'slow' });
    await harness.bus.send(Job, { name: 'quick' }, { messageId: 'quick' });
    const dead = await harness.waitForDeadLettered('slow', undefined, 10_000);
    await harness.waitForHandled('quick', undefined, 10_000);
    await calls.ended(5);
    expect(dead.error).toMatchObject({ code: ErrorCodes.HANDLER_TIMEOUT });
    // 2 attempts x 2 calls of the slow message, one after the other, and the quick message between or
    // after them, never beside one.
    expect(calls.count('start slow')).toBe(4);
    expect(calls.peak).toBe(1);
    for (let i = 0; i < calls.events.length; i += 2) {
      expect(calls.events[i + 1]?.replace('end', 'start')).toBe(calls.events[i]);
    }
  });

  it('keeps the idempotency claim until the timed-out call returned, so a duplicate waits for it', async () => {
    @Consumer({
      queue: 'jobs',
      message: Job,
      concurrency: 2,
      timeoutMs: 100,
      idempotency: true,
      retry: { attempts: 5, immediate: 1, redelivery: { initialMs: 100, factor: 2, maxMs: 1_000 } },
    })
    class OnceStubborn {
      async handle({ name }: { name: string }, ctx: MessageContext) {
        const first = calls.count('start') === 0;
        await calls.around(`${name}#${ctx.attempt}`, first ? stubborn : async () => undefined);
      }
    }
    ({ harness } = await startHost([OnceStubborn]));
    // The same message twice (as after a lost publish confirm): two deliveries at once.
    await harness.bus.send(Job, { name: 'twice' }, { messageId: 'twice' });
    await harness.bus.send(Job, { name: 'twice' }, { messageId: 'twice' });
    await harness.waitForHandled('twice', undefined, 10_000);
    await harness.waitFor({ messageId: 'twice', outcome: 'duplicate' }, 10_000);
    expect(calls.peak).toBe(1);
    expect(calls.count('start')).toBe(2);
  });

  it('reports a call that ignores its aborted signal in a gauge and a warning until it returns', async () => {
    const logger = new RecordingLogger();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    @Consumer({ queue: 'jobs', message: Job, timeoutMs: 50, retry: { attempts: 1, immediate: 1 } })
    class Deaf {
      async handle() {
        await calls.around('deaf', () => held);
      }
    }
    ({ harness } = await startHost([Deaf], { logger }));
    const gauge = harness.host.metrics.gauge('sluice_handlers_overdue', '', ['consumer', 'queue']);
    const overdue = () => gauge.get({ consumer: 'Deaf', queue: 'jobs' });
    try {
      await harness.bus.send(Job, { name: 'deaf' }, { messageId: 'deaf' });
      await expect.poll(overdue, { timeout: 5_000 }).toBe(1);
      expect(logger.text).toContain('handler still running past its 50 ms timeout');
      expect(harness.outcomes({ messageId: 'deaf' })).toHaveLength(0);
    } finally {
      release();
    }
    const dead = await harness.waitForDeadLettered('deaf');
    expect(dead.error).toMatchObject({ code: ErrorCodes.HANDLER_TIMEOUT });
    expect(overdue()).toBe(0);
    expect(logger.text).toContain('overdue handler returned');
  });

  it('gives every handler a 5 minute timeout unless told otherwise', async () => {
    @Consumer({ queue: 'jobs', message: Job })
    class Plain {
      handle() {}
    }
    @Consumer({ queue: 'longer', message: Job, timeoutMs: 3_600_000 })
    class Long {
      handle() {}
    }
    ({ harness } = await startHost([Plain, Long]));
    expect(harness.host.endpoints.map((e) => e.timeoutMs)).toEqual([300_000, 3_600_000]);
  });
});
