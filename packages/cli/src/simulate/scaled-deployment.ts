/**
 * A Deployment as KEDA and the HPA scale it, made of real processes: the pure `ScalingSimulator` of
 * @sluice/kube, fed the depth of the ScaledObject's rabbitmq trigger queues, sets the replica count of
 * a {@link ReplicaPool}. `sluice simulate` and the load test (`npm run loadtest:spike`) both run it.
 *
 * Time compression: the controllers run on a model clock `compression` times faster than the wall
 * clock (pollingInterval, the HPA's sync period, cooldownPeriod and the stabilisation windows all
 * shrink by that factor); the processes, their start-up and their drain run in real time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsumerHost } from '@sluice/core';
import {
  chartValues,
  describeApplication,
  renderManifests,
  resolveScalingModel,
  ScalingSimulator,
  type Reading,
  type ScaledObjectSpec,
  type SluiceApplication,
} from '@sluice/kube';
import { RabbitMqTransport } from '@sluice/rabbitmq';
import type { ReplicaPool } from './replica-pool.js';

export interface ScaledDeploymentOptions {
  /** The rendered ScaledObject's spec; every trigger must be `rabbitmq` with a `queueName`. */
  readonly scaledObject: ScaledObjectSpec;
  /** The replicas the controllers scale. */
  readonly pool: ReplicaPool;
  /** Model seconds per wall-clock second. */
  readonly compression: number;
  /**
   * One trigger's metric: the queue's depth as KEDA reads it (for `protocol: http`, the management
   * API's ready + unacknowledged). A rejection counts as that scaler failing (KEDA's fallback rules).
   */
  readonly queueDepth: (queue: string) => Promise<number>;
  /** Replicas before the first poll. Default 0. */
  readonly initialReplicas?: number;
}

/** What the chart renders for scaling an application: its ScaledObject and the pod's termination grace. */
export interface RenderedScaling {
  readonly scaledObject: ScaledObjectSpec;
  /** The Deployment's terminationGracePeriodSeconds, in ms: SIGKILL this long after SIGTERM. */
  readonly terminationGraceMs: number;
}

/** The queues of `spec`'s triggers, in trigger order; throws for a trigger that is not `rabbitmq`. */
function queuesOf(spec: ScaledObjectSpec): string[] {
  return spec.triggers.map((trigger, i) => {
    const queue = trigger.metadata.queueName;
    if (trigger.type !== 'rabbitmq' || queue === undefined) {
      throw new Error(`trigger ${i} is ${trigger.type}: the simulator reads RabbitMQ queue depths only`);
    }
    return queue;
  });
}

export class ScaledDeployment {
  /** The trigger queues, in trigger order. */
  readonly queues: readonly string[];
  private readonly simulator: ScalingSimulator;
  private readings: readonly Reading[] = [];
  private started = 0;
  private stopped = false;
  private running: Promise<void> | undefined;

  /** Validates the triggers (throws naming one that is not `rabbitmq`); nothing runs before `start()`. */
  constructor(private readonly options: ScaledDeploymentOptions) {
    this.queues = queuesOf(options.scaledObject);
    this.simulator = new ScalingSimulator(
      resolveScalingModel(options.scaledObject),
      options.initialReplicas ?? 0,
    );
  }

  /**
   * The ScaledObject and termination grace `sluice manifests` renders for `app` (`valuesFiles` over the
   * generated values, as `-f` does). Rejects when the chart renders no ScaledObject or Deployment.
   */
  static async render(app: SluiceApplication, valuesFiles?: readonly string[]): Promise<RenderedScaling> {
    const chart = chartValues(describeApplication(app));
    const objects = await renderManifests(chart, {
      release: chart.fullnameOverride,
      valuesFiles: valuesFiles === undefined ? undefined : [...valuesFiles],
    });
    const scaledObject = objects.find((o) => o.kind === 'ScaledObject');
    const deployment = objects.find((o) => o.kind === 'Deployment') as
      { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } } | undefined;
    if (scaledObject === undefined || deployment === undefined) {
      throw new Error('the chart rendered no ScaledObject and Deployment');
    }
    return {
      scaledObject: scaledObject.spec as ScaledObjectSpec,
      terminationGraceMs: deployment.spec.template.spec.terminationGracePeriodSeconds * 1000,
    };
  }

  /**
   * The first rollout: one consumer host of `app` on `amqpUrl` starts and stops, declaring the
   * topology (exchanges, queues, bindings), so that traffic sent before any replica runs is kept.
   * Resolves when that host has stopped.
   */
  static async declareTopology(app: SluiceApplication, amqpUrl: string): Promise<void> {
    const first = new ConsumerHost({
      ...app.hostOptions(new RabbitMqTransport({ url: amqpUrl })),
      handleSignals: false,
      http: false,
    });
    await first.start();
    await first.stop();
  }

  /** Starts the controllers at model time 0 (now); they poll until `stop()`. Idempotent. */
  start(): void {
    if (this.running !== undefined) return;
    this.started = performance.now();
    this.running = this.loop();
  }

  /**
   * Stops the controllers; the pool keeps the replicas it has (stop them with `pool.stopAll()`).
   * Resolves when a poll in progress has ended. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** The replica count the controllers set (the Deployment's spec.replicas). */
  get replicas(): number {
    return this.simulator.replicas;
  }

  /** Replicas consuming now. */
  get ready(): number {
    return this.options.pool.ready;
  }

  /** The sum of the trigger queues' depths at the latest poll (a failed read counts 0). */
  get backlog(): number {
    return this.readings.reduce<number>((sum, reading) => sum + (reading ?? 0), 0);
  }

  /** Wall-clock seconds since `start()`. */
  get elapsedSeconds(): number {
    return this.running === undefined ? 0 : (performance.now() - this.started) / 1000;
  }

  private async loop(): Promise<void> {
    const { compression, pool, queueDepth } = this.options;
    let nextModelT = 0;
    while (!this.stopped) {
      if (this.elapsedSeconds * compression >= nextModelT) {
        let readings: Reading[];
        try {
          readings = await Promise.all(this.queues.map((queue) => queueDepth(queue)));
        } catch {
          readings = this.queues.map(() => undefined); // the scaler fails: KEDA's fallback applies
        }
        if (this.stopped) break;
        this.readings = readings;
        this.simulator.step(nextModelT, readings);
        nextModelT = this.simulator.nextDue(nextModelT);
      }
      // The ReplicaSet: to the count set, replacing a replica that crashed.
      pool.scaleTo(this.simulator.replicas);
      const untilDueMs = (nextModelT / compression - this.elapsedSeconds) * 1000;
      await sleep(Math.max(10, Math.min(200, untilDueMs)));
    }
  }
}
