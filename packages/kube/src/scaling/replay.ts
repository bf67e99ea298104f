/**
 * `sluice scaling replay`: a fixed metric series through the simulator, so the arithmetic can be
 * checked against a real cluster's history. Input and output are JSON (see the package README).
 */
import { OptionChecker } from '@sluice/core';
import type { Reading } from './keda-loop.js';
import { resolveScalingModel, type ScaledObjectSpec } from './scaled-object-spec.js';
import { ScalingSimulator } from './scaling-simulator.js';

/** One sample `[t, value]`: the metric from time t on; `null` means the scaler fails from t on. */
export type Sample = readonly [number, number | null];

export interface ReplayScenario {
  /** The spec of a KEDA ScaledObject as in the CRD. */
  readonly scaledObject: ScaledObjectSpec;
  readonly initialReplicas: number;
  /** One step-function series per trigger, each starting at t = 0, times ascending. */
  readonly metrics: readonly (readonly Sample[])[];
  readonly durationSeconds: number;
  /** Default 15. */
  readonly hpaSyncSeconds?: number;
}

export interface ReplayResult {
  /** `[t, replicas]`: one pair at t = 0 (after the controllers' runs at 0) and one at every change. */
  readonly replicas: [number, number][];
}

function checkSeries(check: OptionChecker, series: unknown, index: number): Sample[] {
  const option = `metrics[${index}]`;
  if (!Array.isArray(series) || series.length === 0)
    check.fail(option, 'must be a non-empty array of [t, value]', series);
  let previous = -1;
  return series.map((sample: unknown, i) => {
    const where = `${option}[${i}]`;
    if (!Array.isArray(sample) || sample.length !== 2) check.fail(where, 'must be [t, value]', sample);
    const t = check.number(`${where}[0]`, sample[0], 0, Number.MAX_SAFE_INTEGER);
    if (i === 0 && t !== 0) check.fail(`${where}[0]`, 'must be 0 (each series starts at t = 0)', t);
    if (i > 0 && t <= previous)
      check.fail(`${where}[0]`, `must be after the previous sample (${previous})`, t);
    previous = t;
    const value =
      sample[1] === null ? null : check.number(`${where}[1]`, sample[1], 0, Number.MAX_SAFE_INTEGER);
    return [t, value] as const;
  });
}

/** The value of a step function at `t`: its last sample at or before `t`. */
function valueAt(series: readonly Sample[], t: number): Reading {
  let value: number | null = null;
  for (const [at, v] of series) {
    if (at > t) break;
    value = v;
  }
  return value ?? undefined;
}

/** Replays `scenario` (validated first: a bad field throws `SLUICE_INVALID_OPTION` naming it). */
export function replay(scenario: ReplayScenario): ReplayResult {
  const check = new OptionChecker('scenario');
  check.record('', scenario);
  const model = resolveScalingModel(scenario.scaledObject, 'scenario.scaledObject');
  const initialReplicas = check.int('initialReplicas', scenario.initialReplicas, 0, 2 ** 31 - 1);
  const durationSeconds = check.int('durationSeconds', scenario.durationSeconds, 0, 365 * 86_400);
  const hpaSyncSeconds = check.int('hpaSyncSeconds', scenario.hpaSyncSeconds ?? 15, 1, 86_400);
  if (!Array.isArray(scenario.metrics) || scenario.metrics.length !== model.triggers.length) {
    check.fail(
      'metrics',
      `must hold one series per trigger (${model.triggers.length})`,
      scenario.metrics?.length,
    );
  }
  const series = scenario.metrics.map((s, i) => checkSeries(check, s, i));

  const simulator = new ScalingSimulator(model, initialReplicas, { hpaSyncSeconds });
  const replicas: [number, number][] = [];
  for (let t = 0; t <= durationSeconds; t = simulator.nextDue(t)) {
    const after = simulator.step(
      t,
      series.map((s) => valueAt(s, t)),
    );
    if (replicas.length === 0 || replicas.at(-1)?.[1] !== after) replicas.push([t, after]);
  }
  return { replicas };
}
