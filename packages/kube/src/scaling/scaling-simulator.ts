/**
 * KEDA and the HPA together on one ScaledObject: KEDA polls at t = 0, pollingInterval, 2 x
 * pollingInterval, ...; the HPA syncs at t = 0, hpaSyncSeconds, ...; at the same instant KEDA runs
 * first. Pure: the caller supplies the readings and the clock (model seconds).
 */
import { HpaController, type HpaControllerOptions } from './hpa-controller.js';
import { KedaLoop, MetricsAdapter, type Reading } from './keda-loop.js';
import type { ScalingModel } from './scaled-object-spec.js';

export interface ScalingSimulatorOptions extends HpaControllerOptions {
  /** The HPA controller's sync period (`--horizontal-pod-autoscaler-sync-period`). Default 15 s. */
  readonly hpaSyncSeconds?: number;
}

export class ScalingSimulator {
  private current: number;
  private readonly keda: KedaLoop;
  private readonly adapter: MetricsAdapter;
  private readonly hpa: HpaController;
  readonly hpaSyncSeconds: number;

  constructor(
    readonly model: ScalingModel,
    initialReplicas: number,
    options: ScalingSimulatorOptions = {},
  ) {
    this.current = initialReplicas;
    this.hpaSyncSeconds = options.hpaSyncSeconds ?? 15;
    this.keda = new KedaLoop(model);
    this.adapter = new MetricsAdapter(model);
    this.hpa = new HpaController(model, options);
  }

  /** The replica count the controllers have set (the Deployment's spec.replicas). */
  get replicas(): number {
    return this.current;
  }

  /** True when a controller runs at model time `t` (whole seconds). */
  isDue(t: number): boolean {
    return t % this.model.pollingInterval === 0 || t % this.hpaSyncSeconds === 0;
  }

  /** The first controller time after `t`. */
  nextDue(t: number): number {
    const after = (period: number) => (Math.floor(t / period) + 1) * period;
    return Math.min(after(this.model.pollingInterval), after(this.hpaSyncSeconds));
  }

  /**
   * Runs the controllers due at `t` (KEDA first) with `readings`, each trigger's metric at `t`
   * (`undefined`: that scaler failed). Returns the replica count afterwards.
   */
  step(t: number, readings: readonly Reading[]): number {
    if (t % this.model.pollingInterval === 0) this.current = this.keda.poll(t, this.current, readings);
    if (t % this.hpaSyncSeconds === 0) {
      this.current = this.hpa.sync(t, this.current, () => this.adapter.read(readings));
    }
    return this.current;
  }
}
