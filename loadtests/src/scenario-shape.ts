/**
 * The load scenarios' shape, defined once: the k6 scripts (`loadtests/k6/`) turn it into k6
 * `ramping-arrival-rate` options, and the local driver (`npm run loadtest:spike`) issues requests on
 * the same schedule. Plain TypeScript with no imports, so that k6 and Node.js both load it.
 *
 * The rate moves as k6's `ramping-arrival-rate` moves it: linearly from the previous stage's target
 * (the scenario's `startRps` for the first stage) to the stage's target over the stage's duration.
 */

/** One stage: reach `targetRps` requests per second, linearly, over `durationS` seconds. */
export interface RateStage {
  readonly durationS: number;
  readonly targetRps: number;
}

/** Pass/fail limits on the HTTP side, the same for k6 (thresholds) and the local driver. */
export interface Thresholds {
  /** Highest share of failed requests (not 2xx, or no answer), 0..1. */
  readonly maxErrorRate: number;
  /** Highest p95 of the request duration, ms. */
  readonly p95Ms: number;
  /** Highest p99 of the request duration, ms. */
  readonly p99Ms: number;
}

export interface ArrivalScenario {
  readonly name: string;
  /** The rate at t = 0. */
  readonly startRps: number;
  readonly stages: readonly RateStage[];
  readonly thresholds: Thresholds;
}

/** What a spike scenario may be given (from `LOADTEST_PEAK_RPS` and `LOADTEST_DURATION_S`). */
export interface SpikeOptions {
  /** The spike's rate. Default 2,000 requests/s; the baseline is 1/20 of it. */
  readonly peakRps?: number;
  /** The whole run. Default 60 s; every phase keeps its share of it. */
  readonly durationS?: number;
}

export const spikeDefaults = { peakRps: 2_000, durationS: 60, factor: 20 } as const;

/** Limits for a spike: a 202 for nearly every order, answered while the backlog absorbs the peak. */
export const spikeThresholds: Thresholds = { maxErrorRate: 0.01, p95Ms: 500, p99Ms: 1_000 };

/**
 * A steady baseline (25% of the run), a ramp to 20x the baseline (5%), the spike held (25%), a ramp
 * back down (5%) and the recovery at the baseline (40%), during which the backlog drains.
 */
export function spikeScenario(options: SpikeOptions = {}): ArrivalScenario {
  const peakRps = options.peakRps ?? spikeDefaults.peakRps;
  const durationS = options.durationS ?? spikeDefaults.durationS;
  if (!(peakRps >= spikeDefaults.factor))
    throw new Error(`peak rate must be >= ${spikeDefaults.factor}/s (got ${peakRps})`);
  if (!(durationS >= 10)) throw new Error(`duration must be >= 10 s (got ${durationS})`);
  const baseline = peakRps / spikeDefaults.factor;
  const phase = (share: number) => Math.round(durationS * share * 10) / 10;
  const stages = [
    { durationS: phase(0.25), targetRps: baseline },
    { durationS: phase(0.05), targetRps: peakRps },
    { durationS: phase(0.25), targetRps: peakRps },
    { durationS: phase(0.05), targetRps: baseline },
  ];
  const used = stages.reduce((sum, stage) => sum + stage.durationS, 0);
  return {
    name: 'spike',
    startRps: baseline,
    stages: [...stages, { durationS: Math.round((durationS - used) * 10) / 10, targetRps: baseline }],
    thresholds: spikeThresholds,
  };
}

/** What a soak scenario may be given. */
export interface SoakOptions {
  /** The steady rate. Default 200 requests/s. */
  readonly rps?: number;
  /** Default 30 minutes. */
  readonly durationS?: number;
}

/** A one-minute ramp to a steady rate held for the rest of the run: leaks and slow growth show here. */
export function soakScenario(options: SoakOptions = {}): ArrivalScenario {
  const rps = options.rps ?? 200;
  const durationS = options.durationS ?? 1_800;
  const ramp = Math.min(60, durationS / 10);
  return {
    name: 'soak',
    startRps: 0,
    stages: [
      { durationS: ramp, targetRps: rps },
      { durationS: durationS - ramp, targetRps: rps },
    ],
    thresholds: { maxErrorRate: 0.001, p95Ms: 250, p99Ms: 500 },
  };
}

/** The whole scenario's length in seconds. */
export function durationOf(scenario: ArrivalScenario): number {
  return scenario.stages.reduce((sum, stage) => sum + stage.durationS, 0);
}

/** The highest rate the scenario reaches. */
export function peakOf(scenario: ArrivalScenario): number {
  return Math.max(scenario.startRps, ...scenario.stages.map((stage) => stage.targetRps));
}

/**
 * How many requests the schedule has issued by `tS` seconds: the integral of the rate from 0 to `tS`
 * (the whole scenario's count after its end).
 */
export function arrivalsBy(scenario: ArrivalScenario, tS: number): number {
  let total = 0;
  let from = scenario.startRps;
  let start = 0;
  for (const stage of scenario.stages) {
    const span = Math.min(Math.max(tS - start, 0), stage.durationS);
    if (span > 0 && stage.durationS > 0) {
      const rateAtSpan = from + ((stage.targetRps - from) * span) / stage.durationS;
      total += ((from + rateAtSpan) / 2) * span;
    }
    start += stage.durationS;
    from = stage.targetRps;
  }
  return total;
}

/** The rate at `tS` seconds (0 after the end). */
export function rateAt(scenario: ArrivalScenario, tS: number): number {
  let from = scenario.startRps;
  let start = 0;
  for (const stage of scenario.stages) {
    if (tS < start + stage.durationS) {
      return from + ((stage.targetRps - from) * (tS - start)) / stage.durationS;
    }
    start += stage.durationS;
    from = stage.targetRps;
  }
  return 0;
}

/** The body of the `i`-th order: every tenth is above 1000, so the VIP desk's filtered subscription gets some. */
export function orderBody(i: number): {
  customerEmail: string;
  items: { sku: string; quantity: number; unitPrice: number }[];
  totalAmount: number;
  cardToken: string;
} {
  const totalAmount = i % 10 === 0 ? 1_500 : 50;
  return {
    customerEmail: `load-${i % 1_000}@example.com`,
    items: [{ sku: `sku-${i % 50}`, quantity: 1, unitPrice: totalAmount }],
    totalAmount,
    cardToken: 'tok_visa',
  };
}
