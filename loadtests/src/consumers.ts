/**
 * The orders demo's consumers for a load run: real consumer-host processes of the demo's application
 * module (`examples/orders/dist/sluice-app.js`), the replicas of `sluice simulate`, each recording what
 * its handlers finished in a file of its own (`HANDLED_RECORD` set to a folder). By default they are
 * scaled as `sluice simulate` scales them: the KEDA + HPA simulator of @sluice/kube on the ScaledObject
 * the chart renders for the demo, fed the trigger queues' depth from RabbitMQ's management API,
 * starting and SIGTERM-draining processes (`@sluice/cli/simulate`'s `ScaledDeployment` and
 * `ReplicaPool`). With a fixed count, that many run for the whole load.
 */
import { fileURLToPath } from 'node:url';
import { ReplicaPool, ScaledDeployment } from '@sluice/cli/simulate';
import { loadApplication, resolveScalingModel } from '@sluice/kube';
import { RabbitMqTransport } from '@sluice/rabbitmq';

const ordersModule = fileURLToPath(new URL('../../examples/orders/dist/sluice-app.js', import.meta.url));
const readyTimeoutMs = 60_000;

export interface ConsumersOptions {
  /** The broker and vhost. */
  readonly amqpUrl: string;
  /** The management API (credentials: its own, else the AMQP URL's). */
  readonly managementUrl: string;
  /** The folder the replicas' handled records go to (`handled-<pid>.log`). */
  readonly recordDir: string;
  /** The folder of the replicas' logs (`replica-<n>.log`). */
  readonly logDir: string;
  /** A fixed number of replicas instead of the simulated KEDA + HPA; undefined: scaled. */
  readonly fixedReplicas: number | undefined;
  /** Model seconds per wall-clock second of the simulated controllers. */
  readonly compression: number;
  /** The replicas' nice value (see `ReplicaPoolOptions.priority`); undefined: this process's. */
  readonly priority: number | undefined;
}

/** What a report says of the scaling. */
export interface ScalingSummary {
  readonly mode: 'keda-hpa-simulated' | 'fixed';
  /** x model seconds per wall-clock second (scaled only). */
  readonly compression?: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** KEDA's pollingInterval and cooldownPeriod, model seconds (scaled only). */
  readonly pollingIntervalS?: number;
  readonly cooldownPeriodS?: number;
  /** The trigger queues and their target backlog per replica (scaled only). */
  readonly triggers?: Readonly<Record<string, number>>;
}

export interface Consumers {
  readonly scaling: ScalingSummary;
  /** Replicas the controllers set (the Deployment's spec.replicas); the fixed count otherwise. */
  readonly replicas: number;
  /** Replicas consuming now. */
  readonly ready: number;
  /** The `/metrics` base URLs of the replicas consuming now. */
  readonly opsUrls: readonly string[];
  /** Replicas that exited unasked. */
  readonly crashes: number;
  /** Seconds from spawn to consuming, per replica started. */
  readonly startupSeconds: readonly number[];
  /**
   * Stops the controllers, then every replica (SIGTERM: each drains; SIGKILL after the pod's
   * termination grace). Resolves when all have exited. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Declares the demo's topology on the vhost (the first rollout), then starts the consumers: scaled
 * (from zero, as the chart's minReplicaCount 0 has it) or `fixedReplicas` of them, resolving once
 * those consume (rejects after 60 s).
 */
export async function startConsumers(options: ConsumersOptions): Promise<Consumers> {
  const app = await loadApplication(ordersModule);
  const { scaledObject, terminationGraceMs } = await ScaledDeployment.render(app);
  await ScaledDeployment.declareTopology(app, options.amqpUrl);
  let crashes = 0;
  const pool = new ReplicaPool({
    module: ordersModule,
    amqpUrl: options.amqpUrl,
    workMs: 0,
    terminationGraceMs,
    ops: true,
    logDir: options.logDir,
    env: { HANDLED_RECORD: options.recordDir },
    priority: options.priority,
    onCrash: () => crashes++,
  });

  /** The consumers, with `replicas` and `stop` as the mode has them. */
  const consumers = (scaling: ScalingSummary, replicas: () => number, stop: () => Promise<void>) => {
    let stopping: Promise<void> | undefined;
    return {
      scaling,
      get replicas() {
        return replicas();
      },
      get ready() {
        return pool.ready;
      },
      get opsUrls() {
        return pool.opsUrls;
      },
      get crashes() {
        return crashes;
      },
      startupSeconds: pool.startupSeconds,
      stop: () => (stopping ??= stop()),
    };
  };

  if (options.fixedReplicas !== undefined) {
    const count = options.fixedReplicas;
    pool.scaleTo(count);
    const deadline = Date.now() + readyTimeoutMs;
    while (pool.ready < count) {
      if (Date.now() > deadline || crashes > 0) {
        await pool.stopAll();
        throw new Error(
          `${count - pool.ready} of ${count} consumer replicas not consuming within ${readyTimeoutMs} ms (see ${options.logDir})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return consumers(
      { mode: 'fixed', minReplicas: count, maxReplicas: count },
      () => count,
      () => pool.stopAll(),
    );
  }

  const depths = new RabbitMqTransport({
    url: options.amqpUrl,
    connectionName: 'sluice-loadtest-keda',
    management: { url: options.managementUrl },
  });
  await depths.connect();
  const deployment = new ScaledDeployment({
    scaledObject,
    pool,
    compression: options.compression,
    queueDepth: (queue) => depths.queueDepth(queue),
  });
  deployment.start();
  const model = resolveScalingModel(scaledObject);
  return consumers(
    {
      mode: 'keda-hpa-simulated',
      compression: options.compression,
      minReplicas: model.minReplicaCount,
      maxReplicas: model.maxReplicaCount,
      pollingIntervalS: model.pollingInterval,
      cooldownPeriodS: model.cooldownPeriod,
      triggers: Object.fromEntries(
        deployment.queues.map((queue, i) => [queue, model.triggers[i]?.target ?? Number.NaN]),
      ),
    },
    () => deployment.replicas,
    async () => {
      await deployment.stop();
      await pool.stopAll();
      await depths.close();
    },
  );
}
