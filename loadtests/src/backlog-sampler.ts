/**
 * Samples the backlog and the replicas during a load run, from both sides: each consumer replica's
 * `/metrics` (`sluice_queue_depth`, read from the broker at scrape time) and the RabbitMQ management
 * API (ready plus unacknowledged, refreshed by the broker every few seconds), with the replica count
 * the (simulated) controllers set and how many replicas consume.
 */
import { isDeadLetterQueueName } from '@sluice/core';
import type { RabbitMqManagement } from './rabbitmq-management.js';

/** What the sampler reads of the consumers at each sample. */
export interface ReplicaSource {
  /** Replicas set by the controllers (the Deployment's spec.replicas). */
  readonly replicas: number;
  /** Replicas consuming. */
  readonly ready: number;
  /** The `/metrics` base URLs of the replicas consuming. */
  readonly opsUrls: readonly string[];
}

export interface BacklogSample {
  /** Seconds since the sampler started. */
  readonly t: number;
  /** Per queue, from the management API. */
  readonly broker: Readonly<Record<string, number>>;
  /** Per queue, the highest `sluice_queue_depth` any replica reported (none while no replica runs). */
  readonly metrics: Readonly<Record<string, number>>;
  /** Replicas set by the controllers. */
  readonly replicas: number;
  /** Replicas consuming. */
  readonly replicasReady: number;
}

const depthLine = /^sluice_queue_depth\{queue="([^"]+)"\} (\d+(?:\.\d+)?)$/gm;

/** `sluice_queue_depth` per queue in a Prometheus text exposition. */
export function queueDepths(metrics: string): Record<string, number> {
  const depths: Record<string, number> = {};
  for (const [, queue, value] of metrics.matchAll(depthLine)) depths[queue as string] = Number(value);
  return depths;
}

/** Dead-letter queues hold what was given up on; they are not backlog. */
const isWorkQueue = (queue: string) => !isDeadLetterQueueName(queue);

/**
 * The work queues' summed depth in a sample: per queue the higher of the two sources (the management
 * API's figure lags by its refresh interval; `/metrics` covers only the queues the demo consumes).
 */
export function backlogOf(sample: BacklogSample): number {
  const queues = new Set([...Object.keys(sample.broker), ...Object.keys(sample.metrics)]);
  let sum = 0;
  for (const queue of queues) {
    if (isWorkQueue(queue)) sum += Math.max(sample.broker[queue] ?? 0, sample.metrics[queue] ?? 0);
  }
  return sum;
}

/** The dead-letter queues' summed depth in a sample (the management API's figures). */
export function deadLetterDepth(sample: BacklogSample): number {
  return Object.entries(sample.broker)
    .filter(([queue]) => !isWorkQueue(queue))
    .reduce((sum, [, depth]) => sum + depth, 0);
}

export class BacklogSampler {
  readonly samples: BacklogSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly management: RabbitMqManagement,
    private readonly vhost: string,
    private readonly consumers: ReplicaSource,
    private readonly intervalMs = 1_000,
  ) {}

  /** The latest sample, if any. */
  get latest(): BacklogSample | undefined {
    return this.samples.at(-1);
  }

  /** Takes one sample now; resolves when it is stored. A source that does not answer is left out. */
  async sample(): Promise<BacklogSample> {
    const t = (performance.now() - this.started) / 1000;
    const { replicas, ready: replicasReady, opsUrls } = this.consumers;
    const [queues, metrics] = await Promise.all([
      this.management.queues(this.vhost).catch(() => []),
      Promise.all(
        opsUrls.map((ops) =>
          fetch(`${ops}/metrics`, { signal: AbortSignal.timeout(5_000) })
            .then((response) => response.text())
            .then(queueDepths)
            .catch(() => ({})),
        ),
      ),
    ]);
    const merged: Record<string, number> = {};
    for (const depths of metrics) {
      for (const [queue, depth] of Object.entries(depths))
        merged[queue] = Math.max(merged[queue] ?? 0, depth);
    }
    const sample = {
      t,
      broker: Object.fromEntries(queues.map((queue) => [queue.name, queue.messages])),
      metrics: merged,
      replicas,
      replicasReady,
    };
    this.samples.push(sample);
    return sample;
  }

  /** Samples every `intervalMs` until `stop()`. */
  start(): void {
    const tick = () => {
      this.running = this.sample().then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops sampling; resolves when a sample in progress is stored. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** The highest depth each queue reached, per source. */
  peaks(): { broker: Record<string, number>; metrics: Record<string, number> } {
    const broker: Record<string, number> = {};
    const metrics: Record<string, number> = {};
    for (const sample of this.samples) {
      for (const [queue, depth] of Object.entries(sample.broker))
        broker[queue] = Math.max(broker[queue] ?? 0, depth);
      for (const [queue, depth] of Object.entries(sample.metrics))
        metrics[queue] = Math.max(metrics[queue] ?? 0, depth);
    }
    return { broker, metrics };
  }
}
