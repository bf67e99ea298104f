/**
 * The chart values (`charts/sluice-consumer`) of one application, from its decorators: one entry of
 * `consumers[]` per consumed queue, the KEDA bounds, and the host's port and stop deadline (so the
 * pod's termination grace is computed above the deadline the host really keeps).
 */
import type { ApplicationDescription, ConsumerScaling } from './application.js';

/** The brokers the chart renders triggers for. */
export type ChartTransport = 'rabbitmq' | 'azure-servicebus';

/** What `chartValues` writes; the chart's values.schema.json checks it (and everything else). */
export interface ChartValues {
  readonly fullnameOverride: string;
  readonly host: {
    readonly port: number;
    readonly stopTimeoutSeconds: number;
    readonly shutdownMarginSeconds: number;
  };
  readonly transport: ChartTransport;
  readonly consumers: readonly Pick<
    ConsumerScaling,
    'name' | 'kind' | 'queue' | 'topics' | 'targetBacklogPerReplica' | 'activation'
  >[];
  readonly keda: {
    readonly minReplicaCount: number;
    readonly maxReplicaCount: number;
    readonly cooldownPeriod: number;
  };
}

/** Time after the host's stop deadline for the process to exit, before the kubelet kills it. */
export const shutdownMarginSeconds = 5;

/**
 * Values for `app` on `transport` (default `rabbitmq`). A service runs one Deployment, so its
 * ScaledObject takes the largest `min`, the largest `max` and the longest `cooldownSeconds` of its
 * consumers; each queue keeps its own target and activation. Throws when the host has no consumer or
 * no HTTP port (the probes and the metrics need one).
 */
export function chartValues(
  app: ApplicationDescription,
  transport: ChartTransport = 'rabbitmq',
): ChartValues {
  if (app.consumers.length === 0)
    throw new Error(`${app.serviceName} has no consumers: nothing for KEDA to scale on`);
  if (app.httpPort === undefined || app.httpPort === 0) {
    throw new Error(
      `${app.serviceName} serves no fixed HTTP port (ConsumerHostOptions.http): the chart's probes and metrics need one`,
    );
  }
  const most = (pick: (c: ApplicationDescription['consumers'][number]) => number) =>
    Math.max(...app.consumers.map(pick));
  return {
    fullnameOverride: app.serviceName,
    host: {
      port: app.httpPort,
      // The pod must outlive the host's whole stop (drain, abort grace, closing), not the drain alone.
      stopTimeoutSeconds: Math.ceil(app.stopTimeoutMs / 1000),
      shutdownMarginSeconds,
    },
    transport,
    consumers: app.consumers.map((c) => ({
      name: c.name,
      kind: c.kind,
      queue: c.queue,
      topics: c.topics,
      targetBacklogPerReplica: c.targetBacklogPerReplica,
      activation: c.activation,
    })),
    keda: {
      minReplicaCount: most((c) => c.min),
      maxReplicaCount: most((c) => c.max),
      cooldownPeriod: most((c) => c.cooldownSeconds),
    },
  };
}
