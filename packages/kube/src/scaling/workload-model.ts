/**
 * A queue and its consumers in model time, for seeing the controllers at work without a broker:
 * messages arrive at a rate, ready replicas each take up to `perReplicaRate` a second, and a new
 * replica consumes only `startupSeconds` after it was scaled in (scheduling, image, process start).
 * Scale-in removes starting pods first, then the newest.
 */
import type { Reading } from './keda-loop.js';
import { resolveScalingModel, type ScaledObjectSpec } from './scaled-object-spec.js';
import { ScalingSimulator } from './scaling-simulator.js';

export interface WorkloadScenario {
  /** A ScaledObject with one trigger on the modelled queue. */
  readonly scaledObject: ScaledObjectSpec;
  readonly initialReplicas: number;
  /** `[t, messages per second]` step function from t = 0. */
  readonly arrivals: readonly (readonly [number, number])[];
  readonly perReplicaRate: number;
  readonly startupSeconds: number;
  readonly durationSeconds: number;
  readonly hpaSyncSeconds?: number;
}

/** The state at the start of one model second, after the controllers ran. */
export interface WorkloadPoint {
  readonly t: number;
  readonly backlog: number;
  readonly replicas: number;
  readonly readyReplicas: number;
  /** Messages consumed during [t, t + 1). */
  readonly consumed: number;
}

/** Runs the model second by second; the trigger reads the backlog. */
export function simulateWorkload(scenario: WorkloadScenario): WorkloadPoint[] {
  const model = resolveScalingModel(scenario.scaledObject);
  const simulator = new ScalingSimulator(model, scenario.initialReplicas, {
    hpaSyncSeconds: scenario.hpaSyncSeconds,
  });
  let pods: number[] = Array.from({ length: scenario.initialReplicas }, () => 0); // ready-at times
  let backlog = 0;
  const points: WorkloadPoint[] = [];
  for (let t = 0; t <= scenario.durationSeconds; t++) {
    if (simulator.isDue(t)) {
      const readings: Reading[] = model.triggers.map(() => backlog);
      const replicas = simulator.step(t, readings);
      if (replicas > pods.length) {
        pods = [
          ...pods,
          ...Array.from({ length: replicas - pods.length }, () => t + scenario.startupSeconds),
        ];
      } else if (replicas < pods.length) {
        pods = [...pods].sort((a, b) => a - b).slice(0, replicas);
      }
    }
    const ready = pods.filter((readyAt) => readyAt <= t).length;
    let rate = 0;
    for (const [at, r] of scenario.arrivals) if (at <= t) rate = r;
    const consumed = Math.min(backlog + rate, ready * scenario.perReplicaRate);
    points.push({ t, backlog, replicas: pods.length, readyReplicas: ready, consumed });
    backlog = backlog + rate - consumed;
  }
  return points;
}
