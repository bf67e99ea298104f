/**
 * The HPA controller for the HPA KEDA creates (kubernetes `pkg/controller/podautoscaler/horizontal.go`
 * and `replica_calculator.go`): minReplicas = max(minReplicaCount, 1), one External metric per trigger,
 * AverageValue (or Value) targets, the ratio tolerance, and either the legacy limits (`behavior` nil:
 * 5-minute downscale stabilisation, scale-up to at most max(2R, 4)) or the behaviour's stabilisation
 * windows and rate policies.
 */
import type { Reading } from './keda-loop.js';
import type { ResolvedRules, ScalingModel } from './scaled-object-spec.js';
import { defaultTolerance } from './scaled-object-spec.js';

interface Recommendation {
  t: number;
  replicas: number;
}
interface ScaleEvent {
  t: number;
  change: number;
}

/** Options of the controller itself (kube-controller-manager flags). */
export interface HpaControllerOptions {
  /**
   * `--horizontal-pod-autoscaler-downscale-stabilization`: the scale-down stabilisation window when
   * `behavior` is nil, or when its `scaleDown` sets no `stabilizationWindowSeconds`. Default 300 s.
   */
  readonly downscaleStabilizationSeconds?: number;
}

/** Milli-units, as the HPA computes (`Quantity.MilliValue()`). */
const milli = (value: number) => Math.round(value * 1000);

export class HpaController {
  private recommendations: Recommendation[] | undefined;
  private readonly upEvents: ScaleEvent[] = [];
  private readonly downEvents: ScaleEvent[] = [];
  private readonly downscaleWindow: number;

  constructor(
    private readonly model: ScalingModel,
    options: HpaControllerOptions = {},
  ) {
    this.downscaleWindow = options.downscaleStabilizationSeconds ?? 300;
  }

  private get minReplicas(): number {
    return Math.max(this.model.minReplicaCount, 1);
  }

  /**
   * One sync at time `t` with `replicas` (the scale target's spec replicas) and what the metrics
   * adapter returns; `read` is called only when the HPA reads metrics (not at zero replicas).
   * Returns the replica count after the sync.
   */
  sync(t: number, replicas: number, read: () => Reading[]): number {
    const { model } = this;
    this.recommendations ??= [{ t, replicas }];
    if (replicas === 0) return 0; // scaling is disabled at zero: KEDA owns 0 <-> 1
    let desired: number;
    if (replicas > model.maxReplicaCount) desired = model.maxReplicaCount;
    else if (replicas < this.minReplicas) desired = this.minReplicas;
    else {
      const proposal = this.proposal(replicas, read());
      if (proposal === undefined) return replicas;
      desired =
        model.behavior === undefined
          ? this.normalizeLegacy(t, replicas, proposal)
          : this.normalizeWithBehavior(t, replicas, proposal, model.behavior);
    }
    if (desired !== replicas && model.behavior !== undefined) {
      const events = desired > replicas ? this.upEvents : this.downEvents;
      // Policy periods are at most 1800 s: older events never count again.
      while (events[0] !== undefined && events[0].t < t - 1800) events.shift();
      events.push({ t, change: Math.abs(desired - replicas) });
    }
    return desired;
  }

  /**
   * The largest per-trigger proposal; undefined when every metric failed, or when some failed and the
   * others would scale down (a failing metric forbids scale-down).
   */
  private proposal(replicas: number, readings: readonly Reading[]): number | undefined {
    const { model } = this;
    const up = model.behavior?.scaleUp.tolerance ?? defaultTolerance;
    const down = model.behavior?.scaleDown.tolerance ?? defaultTolerance;
    let invalid = 0;
    let desired = 0;
    readings.forEach((reading, i) => {
      const trigger = model.triggers[i];
      if (reading === undefined || trigger === undefined) {
        invalid++;
        return;
      }
      const usage = milli(reading);
      const target = milli(trigger.target);
      const ratio = trigger.metricType === 'AverageValue' ? usage / (target * replicas) : usage / target;
      let proposal = replicas;
      if (!(1 - down <= ratio && ratio <= 1 + up)) {
        proposal =
          trigger.metricType === 'AverageValue' ? Math.ceil(usage / target) : Math.ceil(ratio * replicas);
      }
      desired = Math.max(desired, proposal);
    });
    if (invalid >= readings.length || (invalid > 0 && desired < replicas)) return undefined;
    return desired;
  }

  private normalizeLegacy(t: number, replicas: number, proposal: number): number {
    const recommendations = this.recommendations ?? [];
    const cutoff = t - this.downscaleWindow;
    let stabilized = proposal;
    let old = -1;
    recommendations.forEach((rec, i) => {
      if (rec.t < cutoff) old = i;
      else stabilized = Math.max(stabilized, rec.replicas);
    });
    if (old >= 0) recommendations[old] = { t, replicas: proposal };
    else recommendations.push({ t, replicas: proposal });
    const scaleUpLimit = Math.max(2 * replicas, 4);
    const maximum = Math.min(this.model.maxReplicaCount, scaleUpLimit);
    return Math.min(Math.max(stabilized, this.minReplicas), maximum);
  }

  private normalizeWithBehavior(
    t: number,
    replicas: number,
    proposal: number,
    behavior: { scaleUp: ResolvedRules; scaleDown: ResolvedRules },
  ): number {
    const recommendations = this.recommendations ?? [];
    const upCutoff = t - (behavior.scaleUp.stabilizationWindowSeconds ?? 0);
    const downCutoff = t - (behavior.scaleDown.stabilizationWindowSeconds ?? this.downscaleWindow);
    let up = proposal;
    let down = proposal;
    let old = -1;
    recommendations.forEach((rec, i) => {
      if (rec.t > upCutoff) up = Math.min(up, rec.replicas);
      if (rec.t > downCutoff) down = Math.max(down, rec.replicas);
      if (rec.t < upCutoff && rec.t < downCutoff) old = i;
    });
    if (old >= 0) recommendations[old] = { t, replicas: proposal };
    else recommendations.push({ t, replicas: proposal });
    // Stabilised: the current count brought within [lowest recent up, highest recent down].
    const stabilized = Math.min(Math.max(replicas, up), down);

    if (stabilized > replicas) {
      const limit = Math.max(this.scaleUpLimit(t, replicas, behavior.scaleUp), replicas);
      return Math.min(stabilized, this.model.maxReplicaCount, limit);
    }
    if (stabilized < replicas) {
      const limit = Math.min(this.scaleDownLimit(t, replicas, behavior.scaleDown), replicas);
      return Math.max(stabilized, this.minReplicas, limit);
    }
    return stabilized;
  }

  /** Replicas at the start of a policy period: the changes made within it undone. */
  private periodStart(t: number, replicas: number, periodSeconds: number): number {
    const within = (events: readonly ScaleEvent[]) =>
      events.filter((e) => e.t > t - periodSeconds).reduce((sum, e) => sum + e.change, 0);
    return replicas - within(this.upEvents) + within(this.downEvents);
  }

  private scaleUpLimit(t: number, replicas: number, rules: ResolvedRules): number {
    if (rules.selectPolicy === 'Disabled') return replicas;
    const proposals = rules.policies.map((policy) => {
      const start = this.periodStart(t, replicas, policy.periodSeconds);
      return policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
    });
    return rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals);
  }

  private scaleDownLimit(t: number, replicas: number, rules: ResolvedRules): number {
    if (rules.selectPolicy === 'Disabled') return replicas;
    const proposals = rules.policies.map((policy) => {
      const start = this.periodStart(t, replicas, policy.periodSeconds);
      return policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
    });
    // Scaling down, the policy allowing the smallest change ("Min") leaves the most replicas.
    return rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals);
  }
}
