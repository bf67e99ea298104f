import { afterEach, describe, expect, it } from 'vitest';
import {
  BackgroundTaskQueue,
  Consumer,
  ConsumerHost,
  defineCommand,
  ErrorCodes,
  InMemoryBroker,
  InMemoryTransport,
  PeriodicWorker,
  silentLogger,
  type MessageContext,
} from '@sluice/core';
import { DeliveryCollector, TestHarness } from '@sluice/testing';

const Work = defineCommand<{ ms: number }>('test.work.v1');

const log: string[] = [];
@Consumer({ queue: 'work', message: Work, prefetch: 5 })
class SlowWorker {
  async handle({ ms }: { ms: number }, ctx: MessageContext) {
    log.push(`start:${ctx.messageId}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (ctx.signal.aborted) throw ctx.signal.reason;
    log.push(`end:${ctx.messageId}`);
  }
}

let harness: TestHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  log.length = 0;
});

describe('host lifecycle', () => {
  it('serves /healthz, /readyz and /metrics on one port', async () => {
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      consumers: [SlowWorker],
      http: { port: 0, host: '127.0.0.1' },
    });
    await harness.bus.send(Work, { ms: 1 }, { messageId: 'w1' });
    await harness.waitForHandled('w1');
    const base = `http://127.0.0.1:${harness.host.httpPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, connected: true, consumers: 1 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('sluice_messages_handled_total{consumer="SlowWorker",queue="work"} 1');
    expect(metrics).toContain('sluice_queue_depth{queue="work"} 0');
    expect(metrics).toContain('sluice_dead_letter_depth{queue="work"} 0');
    expect(metrics).toContain('sluice_messages_in_flight{consumer="SlowWorker",queue="work"} 0');
    const conventions =
      'messaging_system="in-memory",messaging_operation_name="process",messaging_destination_name="work",error_type=""';
    expect(metrics).toContain(`messaging_process_duration_seconds_count{${conventions}} 1`);
    expect(metrics).toContain(`messaging_client_consumed_messages_total{${conventions}} 1`);
    expect(metrics).toMatch(
      /messaging_client_sent_messages_total\{messaging_system="in-memory",messaging_operation_name="send",messaging_destination_name="test.work.v1",error_type=""\} 1/,
    );
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('lets in-flight handlers finish and settle before stop resolves, and is idempotent', async () => {
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      consumers: [SlowWorker],
    });
    await harness.bus.send(Work, { ms: 150 }, { messageId: 'slow' });
    await expect.poll(() => log).toEqual(['start:slow']);
    const stopping = [harness.stop(), harness.stop()];
    expect(harness.host.isReady()).toBe(false);
    await Promise.all(stopping);
    expect(log).toEqual(['start:slow', 'end:slow']);
    expect(harness.outcomes({ messageId: 'slow' }).map((e) => e.outcome)).toEqual(['handled']);
  });

  it('aborts handlers at the drain deadline and returns their messages to the queue', async () => {
    const broker = new InMemoryBroker();
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport: new InMemoryTransport({ broker }),
      consumers: [SlowWorker],
      drainTimeoutMs: 100,
    });
    await harness.bus.send(Work, { ms: 60_000 }, { messageId: 'stuck' });
    await expect.poll(() => log).toEqual(['start:stuck']);
    const started = Date.now();
    await harness.stop();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(harness.outcomes({ messageId: 'stuck' }).map((e) => e.outcome)).toEqual(['released']);

    const rescuer = new InMemoryTransport({ broker });
    await rescuer.connect();
    const collector = new DeliveryCollector();
    await rescuer.subscribe({ queue: 'work', topics: [], prefetch: 1, retryDelaysMs: [] }, collector.handler);
    const [again] = await collector.waitForCount(1, 2_000);
    expect(again?.message.messageId).toBe('stuck');
    expect(again?.attempt).toBe(1);
    await rescuer.close();
  });

  it('fits the whole stop in stopTimeoutMs whatever handlers, background tasks, the transport and hooks do', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    @Consumer({ queue: 'deaf', message: Work })
    class Deaf {
      async handle() {
        log.push('deaf');
        await held; // ignores its signal
      }
    }
    /** Closes only when its signal aborts, as a broker client with publishes it cannot confirm. */
    class SlowClosingTransport extends InMemoryTransport {
      closeSignal: AbortSignal | undefined;
      override async close(signal?: AbortSignal): Promise<void> {
        this.closeSignal = signal;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        await super.close();
      }
    }
    const transport = new SlowClosingTransport();
    const uploads = new BackgroundTaskQueue({ capacity: 1, logger: silentLogger });
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport,
      consumers: [Deaf],
      backgroundQueues: [uploads],
      drainTimeoutMs: 300,
      stopTimeoutMs: 2_500,
      logger: silentLogger,
      shutdownHooks: [() => held],
    });
    try {
      await uploads.enqueue(() => held);
      await harness.bus.send(Work, { ms: 0 }, { messageId: 'deaf-1' });
      await expect.poll(() => log).toContain('deaf');
      const started = performance.now();
      await harness.stop();
      // The deadline, plus scheduling slack on a loaded machine: before, the stop waited for the
      // transport (a minute) and then for the hook (for ever).
      expect(performance.now() - started).toBeLessThan(2_500 + 1_500);
      expect(transport.closeSignal?.aborted).toBe(true);
    } finally {
      release();
    }
  });

  it('defaults to a 20 s drain inside a 25 s stop, and derives one from the other', () => {
    const host = (options: { drainTimeoutMs?: number; stopTimeoutMs?: number }) =>
      new ConsumerHost({
        serviceName: 'svc',
        transport: new InMemoryTransport(),
        handleSignals: false,
        ...options,
      });
    expect([host({}).drainTimeoutMs, host({}).stopTimeoutMs]).toEqual([20_000, 25_000]);
    const drainOnly = host({ drainTimeoutMs: 100 });
    expect([drainOnly.drainTimeoutMs, drainOnly.stopTimeoutMs]).toEqual([100, 5_100]);
    const stopOnly = host({ stopTimeoutMs: 8_000 });
    expect([stopOnly.drainTimeoutMs, stopOnly.stopTimeoutMs]).toEqual([3_000, 8_000]);
  });

  it('refuses a stop deadline that leaves no time after the drain', async () => {
    const host = new ConsumerHost({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      handleSignals: false,
      drainTimeoutMs: 10_000,
      stopTimeoutMs: 11_000,
    });
    await expect(host.start()).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: expect.stringContaining(
        'option "stopTimeoutMs" must be at least drainTimeoutMs + 2000 (12000)',
      ),
    });
  });

  it('runs periodic workers with a fresh instance per run, retries after errors and stops with the host', async () => {
    const runs: object[] = [];
    @PeriodicWorker({ intervalMs: 10, errorDelayMs: 10 })
    class Reporter {
      run() {
        runs.push(this);
        if (runs.length === 2) throw new Error('transient');
      }
    }
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      workers: [Reporter],
    });
    await expect.poll(() => runs.length, { timeout: 2_000 }).toBeGreaterThanOrEqual(4);
    await harness.stop();
    const after = runs.length;
    expect(new Set(runs).size).toBe(runs.length);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs.length).toBe(after);
  });

  it('rejects a periodic worker with a bad interval at start', async () => {
    @PeriodicWorker({ intervalMs: 0 })
    class Broken {
      run() {}
    }
    const host = new ConsumerHost({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      workers: [Broken],
      handleSignals: false,
    });
    await expect(host.start()).rejects.toThrow(
      '@PeriodicWorker on Broken: option "intervalMs" must be an integer from 1',
    );
  });

  it('drains background task queues on stop', async () => {
    const queue = new BackgroundTaskQueue({ capacity: 10 });
    const done: number[] = [];
    harness = await TestHarness.start({
      serviceName: 'svc',
      transport: new InMemoryTransport(),
      backgroundQueues: [queue],
    });
    for (let i = 0; i < 3; i++) {
      await queue.enqueue(async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        done.push(i);
      });
    }
    await harness.stop();
    expect(done).toEqual([0, 1, 2]);
    await expect(queue.enqueue(() => undefined)).rejects.toMatchObject({ code: 'SLUICE_CLOSED' });
  });
});
