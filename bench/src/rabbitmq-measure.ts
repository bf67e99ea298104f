/**
 * Measuring helpers for the RabbitMQ benchmark: wall time, this process's CPU and the broker's CPU
 * (read from /proc when the broker runs on this machine), percentiles.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/** One timed run. */
export interface Sample {
  readonly messages: number;
  readonly ms: number;
  /** Client CPU (user + system) of this process. */
  readonly cpuMicros: number;
  /** Broker CPU, when its process can be read. */
  readonly brokerCpuMicros: number | undefined;
}

/** Reads the broker's CPU time from /proc/<pid>/stat; undefined where that is not possible. */
export class BrokerCpu {
  private constructor(private readonly pid: number | undefined) {}

  /** Finds the broker's OS pid with `rabbitmqctl status` (or RABBITMQ_PID). */
  static async find(): Promise<BrokerCpu> {
    const fromEnv = Number(process.env.RABBITMQ_PID);
    if (Number.isInteger(fromEnv) && fromEnv > 0) return new BrokerCpu(fromEnv);
    try {
      const { stdout } = await promisify(execFile)('rabbitmqctl', ['status'], { timeout: 20_000 });
      const match = /OS PID: (\d+)/.exec(stdout);
      return new BrokerCpu(match === null ? undefined : Number(match[1]));
    } catch {
      return new BrokerCpu(undefined);
    }
  }

  /**
   * Waits (at most `maxMs`) until the broker is nearly idle, so that work left over from the previous
   * run (quorum queue log writes, a purge) is not billed to the next one. Without a readable broker
   * process it waits 500 ms.
   */
  async settle(maxMs = 5_000): Promise<void> {
    const deadline = performance.now() + maxMs;
    let before = await this.read();
    if (before === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return;
    }
    while (performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const after = await this.read();
      if (after === undefined || after - before < 250_000 * 0.15) return;
      before = after;
    }
  }

  /** CPU time used so far in microseconds, or undefined. */
  async read(): Promise<number | undefined> {
    if (this.pid === undefined) return undefined;
    try {
      const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      return (ticks * 1_000_000) / 100;
    } catch {
      return undefined;
    }
  }
}

/**
 * Measures a consume run from its first message to its last, so connecting and declaring are left
 * out: call `first()` when the first message arrives and `last()` after the last one.
 */
export class ConsumeWindow {
  private started: { at: number; cpu: NodeJS.CpuUsage; broker: Promise<number | undefined> } | undefined;
  private readonly finished = deferred();
  private result: Sample | undefined;

  constructor(
    private readonly broker: BrokerCpu,
    private readonly messages: number,
  ) {}

  first(): void {
    this.started ??= { at: performance.now(), cpu: process.cpuUsage(), broker: this.broker.read() };
  }

  last(): void {
    const started = this.started;
    if (started === undefined || this.result !== undefined) return;
    const ms = performance.now() - started.at;
    const cpu = process.cpuUsage(started.cpu);
    void Promise.all([started.broker, this.broker.read()]).then(([before, after]) => {
      // The first message is the start mark: the window holds the other messages - 1.
      this.result = {
        messages: this.messages - 1,
        ms,
        cpuMicros: ((cpu.user + cpu.system) * (this.messages - 1)) / this.messages,
        brokerCpuMicros: before === undefined || after === undefined ? undefined : after - before,
      };
      this.finished.resolve();
    });
  }

  async sample(): Promise<Sample> {
    await this.finished.promise;
    return this.result as Sample;
  }
}

/** Runs `work` (which handles `messages` messages) and measures it. */
export async function measure(
  broker: BrokerCpu,
  messages: number,
  work: () => Promise<void>,
): Promise<Sample> {
  const brokerBefore = await broker.read();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const brokerAfter = await broker.read();
  return {
    messages,
    ms,
    cpuMicros: cpu.user + cpu.system,
    brokerCpuMicros:
      brokerBefore === undefined || brokerAfter === undefined ? undefined : brokerAfter - brokerBefore,
  };
}

/** The `p`-th percentile (0-100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/** A promise and its resolver. */
export function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Calls `send(i)` for i = 0..total-1 at `perSecond`, in small bursts on a 1 ms timer. */
export async function paced(total: number, perSecond: number, send: (i: number) => void): Promise<void> {
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * perSecond) / 1000) + 1);
    while (sent < due) send(sent++);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
