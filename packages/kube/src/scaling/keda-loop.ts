/**
 * KEDA's scale loop for one ScaledObject (kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go`):
 * every `pollingInterval` it asks each trigger whether it is active and owns the 0 <-> 1 (or idle <->
 * min) transitions; the HPA owns everything between 1 and max.
 */
import type { ScalingModel } from './scaled-object-spec.js';

/** One trigger's reading: its metric value, or `undefined` when the scaler failed. */
export type Reading = number | undefined;

export class KedaLoop {
  /** Last time any trigger was active (`status.lastActiveTime`); undefined until then. */
  private lastActive: number | undefined;

  /** @param createdAt the ScaledObject's creation time (for `initialCooldownPeriod`). */
  constructor(
    private readonly model: ScalingModel,
    private readonly createdAt = 0,
  ) {}

  /**
   * The replica count after the poll at time `t` (seconds), given `replicas` now and the readings,
   * case by case as KEDA's `RequestScale`:
   * - some trigger active: from zero (or from idle below min) to max(min, 1), `lastActive` := t; else,
   *   when another trigger failed, nothing changes (`lastActive` is not renewed); else `lastActive` := t;
   * - none active and some failed: nothing changes, with `fallback` or without (the fallback reaches
   *   the replicas only through the HPA, see {@link MetricsAdapter}); only a `fallback` with
   *   `replicas` 0 lets the cases below apply;
   * - none active: above idle, or above zero with min 0, down to idle (else 0) once the cooldown
   *   passed; below min without idle, up to min.
   */
  poll(t: number, replicas: number, readings: readonly Reading[]): number {
    const { model } = this;
    const isError = readings.some((r) => r === undefined);
    const isActive = readings.some((r, i) => r !== undefined && r > (model.triggers[i]?.activation ?? 0));
    const idle = model.idleReplicaCount;
    if (isActive) {
      if ((idle !== undefined && replicas < model.minReplicaCount) || replicas === 0) {
        this.lastActive = t;
        return model.minReplicaCount > 0 ? model.minReplicaCount : 1;
      }
      if (!isError) this.lastActive = t;
      return replicas;
    }
    if (isError && (model.fallback === undefined || model.fallback.replicas !== 0)) return replicas;
    if ((idle !== undefined && replicas > idle) || (replicas > 0 && model.minReplicaCount === 0)) {
      const cooledDown =
        this.lastActive === undefined
          ? this.createdAt + model.initialCooldownPeriod < t
          : this.lastActive + model.cooldownPeriod < t;
      return cooledDown ? (idle ?? model.minReplicaCount) : replicas;
    }
    if (replicas < model.minReplicaCount && idle === undefined) return model.minReplicaCount;
    return replicas;
  }
}

/**
 * KEDA's metrics server as the HPA reads it (kedacore/keda `pkg/fallback/fallback.go`): counts each
 * trigger's consecutive failed reads; past `fallback.failureThreshold` failures an AverageValue trigger
 * reports `target x fallback.replicas` instead of an error.
 */
export class MetricsAdapter {
  private readonly failures: number[];

  constructor(private readonly model: ScalingModel) {
    this.failures = model.triggers.map(() => 0);
  }

  /** What the HPA gets for each trigger; each call is one read (and counts a failure). */
  read(readings: readonly Reading[]): Reading[] {
    return readings.map((reading, i) => {
      const trigger = this.model.triggers[i];
      if (trigger === undefined) return undefined;
      if (reading !== undefined) {
        this.failures[i] = 0;
        return reading;
      }
      const failures = (this.failures[i] ?? 0) + 1;
      this.failures[i] = failures;
      const { fallback } = this.model;
      if (
        fallback !== undefined &&
        trigger.metricType === 'AverageValue' &&
        failures > fallback.failureThreshold
      ) {
        return trigger.target * fallback.replicas;
      }
      return undefined;
    });
  }
}
