/**
 * `sluice simulate`: KEDA and the HPA (the pure simulator of @sluice/kube, fed the real queue depth
 * from RabbitMQ's management API, ready + unacknowledged as KEDA's http mode reads it) scale real
 * processes of the application's consumer host while a bounded spike of messages drains.
 *
 * Time compression: the controllers run on a model clock `compression` times faster than the wall
 * clock (pollingInterval 30 s, the HPA's 15 s sync, cooldownPeriod and the 300 s stabilisation all
 * shrink by that factor); the consumers, their start-up and their drain run in real time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Bus, type MessageDefinition } from '@sluice/core';
import type { ScaledObjectSpec, SluiceApplication } from '@sluice/kube';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import { ReplicaPool } from './replica-pool.js';
import { ScaledDeployment } from './scaled-deployment.js';

/** What the application module exports for `sluice simulate` (besides `hostOptions`). */
export interface SpikeSpec {
  /** The message the spike sends (a command is sent, an event published). */
  readonly message: MessageDefinition;
  /** The payload of message `index` (0-based). */
  payload(index: number): unknown;
}

export interface SimulationOptions {
  readonly module: string;
  readonly app: SluiceApplication;
  readonly spike: SpikeSpec;
  /** The rendered ScaledObject's spec (rabbitmq triggers). */
  readonly scaledObject: ScaledObjectSpec;
  readonly messages: number;
  readonly compression: number;
  readonly amqpUrl: string;
  readonly managementUrl: string;
  readonly workMs: number;
  readonly terminationGraceMs: number;
  /** Give up (and fail) after this many wall-clock seconds. */
  readonly maxSeconds: number;
  /** Called about once a second with the latest sample. */
  readonly onSample: (sample: Sample) => void;
}

/** One row of the CSV. */
export interface Sample {
  /** Wall-clock seconds since the spike started. */
  readonly t: number;
  /** Model seconds (t x compression). */
  readonly modelT: number;
  /** Spike messages the broker confirmed so far. */
  readonly sent: number;
  /** Sum of the triggers' queue depths (ready + unacknowledged). */
  readonly backlog: number;
  /** Replicas the controllers set. */
  readonly replicas: number;
  /** Replicas consuming. */
  readonly ready: number;
  /** Messages handled per second since the previous sample. */
  readonly throughput: number;
  readonly handled: number;
  /** Messages dead-lettered so far. */
  readonly deadLettered: number;
}

export interface SimulationResult {
  readonly samples: readonly Sample[];
  readonly sent: number;
  /** Message ids handled exactly once. */
  readonly handledOnce: number;
  /** Message ids handled more than once (an effect repeated). */
  readonly duplicates: number;
  /** Message ids dead-lettered (after their retries) and never handled. */
  readonly deadLettered: number;
  /** Message ids neither handled nor dead-lettered. */
  readonly missing: number;
  readonly peakBacklog: number;
  readonly peakReplicas: number;
  /** Wall-clock seconds from the spike's start until every message was handled. */
  readonly drainSeconds: number | undefined;
  /** Wall-clock seconds from the spike's start until no replica was left. */
  readonly zeroSeconds: number | undefined;
  readonly startupSeconds: readonly number[];
  readonly crashes: number;
  readonly completed: boolean;
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const broker = new RabbitMqTransport({ url: options.amqpUrl, management: { url: options.managementUrl } });
  await broker.connect();
  try {
    const counts = new Map<string, number>();
    const dead = new Set<string>();
    let handled = 0;
    let crashes = 0;
    const pool = new ReplicaPool({
      module: options.module,
      amqpUrl: options.amqpUrl,
      workMs: options.workMs,
      terminationGraceMs: options.terminationGraceMs,
      onSettled: (ids, deadLettered) => {
        for (const id of ids) {
          counts.set(id, (counts.get(id) ?? 0) + 1);
          handled++;
        }
        for (const id of deadLettered) dead.add(id);
      },
      onCrash: () => crashes++,
    });
    const deployment = new ScaledDeployment({
      scaledObject: options.scaledObject,
      pool,
      compression: options.compression,
      queueDepth: (queue) => broker.queueDepth(queue),
    });
    await ScaledDeployment.declareTopology(options.app, options.amqpUrl);
    const before = await Promise.all(deployment.queues.map((queue) => broker.queueDepth(queue)));
    const busy = deployment.queues.find((_, i) => (before[i] ?? 0) > 0);
    if (busy !== undefined) {
      throw new Error(
        `queue ${busy} already holds messages: run against an empty vhost (--url amqp://host/<vhost>)`,
      );
    }

    const runId = Date.now().toString(36);
    const bus = new Bus(broker);
    deployment.start();
    const elapsed = () => deployment.elapsedSeconds;

    // The spike: `messages` sends, at most 500 awaiting their confirm at once.
    let sent = 0;
    const spike = (async () => {
      const send = options.spike.message.kind === 'event' ? bus.publish.bind(bus) : bus.send.bind(bus);
      const window = new Set<Promise<void>>();
      for (let i = 0; i < options.messages; i++) {
        const p = send(options.spike.message as never, options.spike.payload(i) as never, {
          messageId: `sim-${runId}-${i}`,
        }).then(() => {
          sent++;
          window.delete(p);
        });
        window.add(p);
        if (window.size >= 500) await Promise.race(window);
      }
      await Promise.all(window);
    })();

    const samples: Sample[] = [];
    let drainSeconds: number | undefined;
    let zeroSeconds: number | undefined;
    let spikeDone = false;
    let spikeError: unknown;
    void spike.then(
      () => (spikeDone = true),
      (error: unknown) => (spikeError = error),
    );

    // The controllers run on the model clock; a sample of the state every wall-clock second, and one
    // of the state the run ended in.
    let nextSample = 0;
    let lastHandled = 0;
    let lastSampleT = 0;
    let completed = false;
    const takeSample = () => {
      const now = elapsed();
      const sample: Sample = {
        t: Math.round(now * 10) / 10,
        modelT: Math.round(now * options.compression),
        sent,
        backlog: deployment.backlog,
        replicas: pool.count,
        ready: pool.ready,
        throughput: Math.round((handled - lastHandled) / Math.max(now - lastSampleT, 0.001)),
        handled,
        deadLettered: dead.size,
      };
      samples.push(sample);
      options.onSample(sample);
      lastHandled = handled;
      lastSampleT = now;
    };
    try {
      while (elapsed() < options.maxSeconds && spikeError === undefined) {
        if (elapsed() >= nextSample) {
          takeSample();
          nextSample += 1;
        }
        // Drained: every message handled, or dead-lettered after its retries.
        if (drainSeconds === undefined && spikeDone && counts.size + dead.size >= options.messages) {
          drainSeconds = elapsed();
        }
        if (drainSeconds !== undefined && deployment.replicas === 0 && pool.alive === 0) {
          zeroSeconds = elapsed();
          completed = true;
          takeSample();
          break;
        }
        await sleep(Math.max(10, Math.min(200, (nextSample - elapsed()) * 1000)));
      }
    } finally {
      await deployment.stop();
      await pool.stopAll();
    }
    await spike.catch(() => undefined);
    if (spikeError !== undefined) {
      throw new Error(`the spike failed after ${sent} messages: ${(spikeError as Error).message}`, {
        cause: spikeError,
      });
    }

    const values = [...counts.values()];
    const deadOnly = [...dead].filter((id) => !counts.has(id)).length;
    return {
      samples,
      sent,
      handledOnce: values.filter((n) => n === 1).length,
      duplicates: values.filter((n) => n > 1).length,
      deadLettered: deadOnly,
      missing: options.messages - counts.size - deadOnly,
      peakBacklog: Math.max(0, ...samples.map((s) => s.backlog)),
      peakReplicas: Math.max(0, ...samples.map((s) => s.replicas)),
      drainSeconds,
      zeroSeconds,
      startupSeconds: pool.startupSeconds,
      crashes,
      completed,
    };
  } finally {
    await broker.close();
  }
}
