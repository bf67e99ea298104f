/**
 * The simulator against series computed by hand (each test's comment shows the arithmetic of
 * specs/keda-hpa.md step by step). Notation: R replicas, M metric, T per-replica target; KEDA polls
 * every 30 s and runs first; the HPA syncs every 15 s.
 */
import { describe, expect, it } from 'vitest';
import {
  replay,
  resolveScalingModel,
  ScalingSimulator,
  simulateWorkload,
  type ReplayScenario,
  type ScaledObjectSpec,
} from '../src/index.js';

const rabbit = (value: number, activation = 0) => ({
  type: 'rabbitmq',
  metadata: {
    protocol: 'http',
    mode: 'QueueLength',
    queueName: 'q',
    value: String(value),
    activationValue: String(activation),
  },
});

const withBehavior = (behavior: object): Partial<ScaledObjectSpec> => ({
  minReplicaCount: 1,
  advanced: { horizontalPodAutoscalerConfig: { behavior } },
});

function scenario(
  scaledObject: Partial<ScaledObjectSpec>,
  initialReplicas: number,
  metrics: ReplayScenario['metrics'],
  durationSeconds: number,
): ReplayScenario {
  return {
    scaledObject: { pollingInterval: 30, triggers: [rabbit(10)], ...scaledObject },
    initialReplicas,
    metrics,
    durationSeconds,
    hpaSyncSeconds: 15,
  };
}

describe('KEDA activation', () => {
  it('wakes a host at zero only when a metric is strictly above its activation value', () => {
    // activationValue 5, min 0. t=0 and t=30: M=5, 5 > 5 is false: inactive, R stays 0 (the HPA does
    // nothing at zero). t=40: M=6. t=60: KEDA polls, 6 > 5: active, R 0 -> max(min, 1) = 1. HPA at 60:
    // 6 / (10 x 1) = 0.6 -> ceil(6 / 10) = 1, the 300 s window holds {0 at t=0} -> 1.
    const result = replay(
      scenario(
        { triggers: [rabbit(10, 5)] },
        0,
        [
          [
            [0, 5],
            [40, 6],
          ],
        ],
        60,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 0],
      [60, 1],
    ]);
  });
});

describe('HPA AverageValue arithmetic', () => {
  it('keeps R while M / (T x R) is within 0.9..1.1 and scales to ceil(M / T) outside', () => {
    // min 1. R=4, T=10. t=0: 44 / 40 = 1.1 (inside, inclusive) -> 4. t=15: same. t=20: M=45.
    // t=30: 45 / 40 = 1.125 -> ceil(45 / 10) = 5; window max(5, 4, 4, 4) = 5; limit max(8, 4) -> 5.
    const result = replay(
      scenario(
        { minReplicaCount: 1 },
        4,
        [
          [
            [0, 44],
            [20, 45],
          ],
        ],
        30,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 4],
      [30, 5],
    ]);
  });

  it('keeps R at the lower edge (0.9) and scales down below it (no downscale window set)', () => {
    // behavior.scaleDown window 0, default policy Percent 100 / 15 s. t=0: 36 / 40 = 0.9 -> 4.
    // t=10: M=30. t=15: 30 / 40 = 0.75 -> ceil(3) = 3; up and down recommendations 3 -> 3;
    // down limit trunc(4 x 0) = 0 -> max(3, min 1, 0) = 3.
    const result = replay(
      scenario(
        withBehavior({ scaleDown: { stabilizationWindowSeconds: 0 } }),
        4,
        [
          [
            [0, 36],
            [10, 30],
          ],
        ],
        15,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 4],
      [15, 3],
    ]);
  });
});

describe('legacy limits (behavior unset)', () => {
  it('scales up at most to max(2R, 4) per sync', () => {
    // min 1, max 10, M=100, T=10 -> ceil(10) = 10 at every sync.
    // t=0 R=1: limit max(2, 4) = 4 -> 4. t=15 R=4: limit 8 -> 8. t=30 R=8: limit 16, max 10 -> 10.
    const result = replay(scenario({ minReplicaCount: 1, maxReplicaCount: 10 }, 1, [[[0, 100]]], 30));
    expect(result.replicas).toEqual([
      [0, 4],
      [15, 8],
      [30, 10],
    ]);
  });

  it('holds the highest recommendation of the last 300 s before scaling down', () => {
    // min 1, R=5, T=10. M=50 until t=20 (ratio 1 -> 5), then 10 (-> ceil(1) = 1).
    // Recommendations: {5,0} (first sight), {5,0}, {5,15}, then 1 from t=30 on.
    // t=315: cutoff 15, {5,15} is not before it -> still 5. t=330: cutoff 30, only 1s left -> 1.
    const result = replay(
      scenario(
        { minReplicaCount: 1 },
        5,
        [
          [
            [0, 50],
            [20, 10],
          ],
        ],
        345,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 5],
      [330, 1],
    ]);
  });
});

describe('behaviour policies and stabilisation windows', () => {
  it('rate-limits scale-up by a Pods policy over its period', () => {
    // scaleUp: Pods 1 per 60 s (window 0); M=100, T=10 -> 10 wanted throughout.
    // t=0 R=1: period start 1 -> limit 2 -> 2 (event +1 at 0). t=15..45: start 2 - 1 = 1 -> 2, no change.
    // t=60: the event at 0 is not after 60 - 60 -> start 2 -> 3 (event at 60). t=120: -> 4.
    const result = replay(
      scenario(
        withBehavior({
          scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
          scaleDown: { stabilizationWindowSeconds: 60 },
        }),
        1,
        [[[0, 100]]],
        120,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 2],
      [60, 3],
      [120, 4],
    ]);
  });

  it('stabilises scale-down over its window, then removes one pod per period', () => {
    // scaleDown: window 60 s, Pods 1 per 30 s. R=4, T=10; M=40 (ratio 1) until t=10, then 10 (-> 1).
    // t=15..45: the window still holds {4,0}: down recommendation 4 -> 4.
    // t=60: {4,0} is not after 60 - 60: down recommendation 1; limit 4 - 1 = 3 -> 3 (event at 60).
    // t=75: start 3 + 1 = 4 -> limit 3, no change. t=90: the event at 60 is not after 60 -> 2. t=120: 1.
    const result = replay(
      scenario(
        withBehavior({
          scaleDown: {
            stabilizationWindowSeconds: 60,
            policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }],
          },
        }),
        4,
        [
          [
            [0, 40],
            [10, 10],
          ],
        ],
        120,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 4],
      [60, 3],
      [90, 2],
      [120, 1],
    ]);
  });
  it("takes the controller's downscale stabilisation when behavior.scaleDown sets no window", () => {
    // behavior { scaleUp: {} } (API defaults: scaleDown keeps no window of its own); the controller runs
    // with --horizontal-pod-autoscaler-downscale-stabilization 60 s. R=4, T=10; M=40 until t=10, then
    // 10 (-> 1). t=15..45: {4,0} and {4,0} are after t - 60 -> 4. t=60: none after 0 is above 1; the
    // default policy (Percent 100 / 15 s) allows trunc(4 x 0) = 0 -> max(1, min 1) = 1.
    const model = resolveScalingModel({
      minReplicaCount: 1,
      triggers: [rabbit(10)],
      advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: {} } } },
    });
    const simulator = new ScalingSimulator(model, 4, { downscaleStabilizationSeconds: 60 });
    const series: [number, number][] = [];
    for (let t = 0; t <= 90; t = simulator.nextDue(t)) {
      const replicas = simulator.step(t, [t < 10 ? 40 : 10]);
      if (series.at(-1)?.[1] !== replicas) series.push([t, replicas]);
    }
    expect(series).toEqual([
      [0, 4],
      [60, 1],
    ]);
  });
});

describe('KEDA cooldown', () => {
  it('scales to zero only once lastActive + cooldownPeriod is before now', () => {
    // min 0, cooldown 60. t=0: M=5 active, R 0 -> 1 (lastActive 0); HPA 5/10 -> 1. t=30: active,
    // lastActive 30. t=50: M=0. t=60: inactive, 30 + 60 < 60 no; HPA wants 0, the window holds 1 -> 1.
    // t=90: 90 < 90 no. t=120: 90 < 120 -> 0.
    const result = replay(
      scenario(
        { cooldownPeriod: 60 },
        0,
        [
          [
            [0, 5],
            [50, 0],
          ],
        ],
        150,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 1],
      [120, 0],
    ]);
  });

  it('scales a never-active object to zero after initialCooldownPeriod from creation', () => {
    // min 0, initialCooldownPeriod 60, M=0 always, R=2. t=0, 30, 60: 0 + 60 < t is false; the HPA
    // keeps 2 (its first-sight recommendation). t=90: 60 < 90 -> 0.
    const result = replay(scenario({ initialCooldownPeriod: 60 }, 2, [[[0, 0]]], 120));
    expect(result.replicas).toEqual([
      [0, 2],
      [90, 0],
    ]);
  });
});

describe('idle replicas', () => {
  it('drops to idleReplicaCount after the cooldown and wakes straight to minReplicaCount', () => {
    // min 2, idle 0, cooldown 60, R=0. t=0: M=5 active, idle set and R < min -> 2 (lastActive 0);
    // HPA: ceil(0.5) = 1, window holds 2 -> 2. t=30: active (lastActive 30). t=40: M=0.
    // t=60, 90: R 2 > idle 0 but 30 + 60 < t is false -> 2. t=120: 90 < 120 -> idle 0.
    // t=130: M=7. t=150: active, idle set and R 0 < min -> 2.
    const result = replay(
      scenario(
        { minReplicaCount: 2, idleReplicaCount: 0, cooldownPeriod: 60 },
        0,
        [
          [
            [0, 5],
            [40, 0],
            [130, 7],
          ],
        ],
        150,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 2],
      [120, 0],
      [150, 2],
    ]);
  });
});

describe('fallback', () => {
  it('KEDA leaves the replicas alone while a scaler fails and none is active: the fallback comes through the HPA', () => {
    // min 0, fallback { failureThreshold 2, replicas 6 }, R=2, T=10. t=0: KEDA active (20 > 0); HPA
    // 20 / 20 = 1 -> 2. t=10: the scaler fails. t=15: HPA read fails (1 failure), every metric invalid
    // -> 2. t=30: KEDA: error, nothing active, fallback set -> no change (and no scale to zero); HPA
    // read fails (2, not above 2) -> 2. t=45: 3 > 2 -> fed 10 x 6 = 60, ceil(60 / 10) = 6, legacy limit
    // max(4, 4) -> 4. t=60: 60 / 40 = 1.5 -> 6 (limit 8).
    const result = replay(
      scenario(
        { fallback: { failureThreshold: 2, replicas: 6 } },
        2,
        [
          [
            [0, 20],
            [10, null],
          ],
        ],
        60,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 2],
      [45, 4],
      [60, 6],
    ]);
  });

  it('without a fallback a failing scaler keeps the replicas: no scale to zero past the cooldown', () => {
    // min 0, cooldown 60, R=2. t=0: active, lastActive 0; HPA: ceil(5 / 10) = 1, the window holds 2
    // -> 2. From t=10 the scaler fails: KEDA (error, none active, no fallback) changes nothing, the HPA
    // has no valid metric. At t=90 and later 0 + 60 < t, but an erroring ScaledObject is not scaled in.
    const result = replay(
      scenario(
        { cooldownPeriod: 60 },
        2,
        [
          [
            [0, 5],
            [10, null],
          ],
        ],
        400,
      ),
    );
    expect(result.replicas).toEqual([[0, 2]]);
  });

  it('an active trigger beside a failing one does not renew lastActive', () => {
    // min 0, cooldown 60; A fails from t=10 to 70, B is 5 until 70, both 0 after. t=0: both active,
    // R 0 -> 1, lastActive 0. t=30, 60: B active but A failing: no change, lastActive stays 0 (the HPA:
    // B ceil(0.5) = 1, not below R -> 1). t=90: none active, no error: 0 + 60 < 90 -> 0.
    const result = replay(
      scenario(
        { cooldownPeriod: 60, triggers: [rabbit(10), rabbit(10)] },
        0,
        [
          [
            [0, 5],
            [10, null],
            [70, 0],
          ],
          [
            [0, 5],
            [70, 0],
          ],
        ],
        200,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 1],
      [90, 0],
    ]);
  });

  it('a fallback with replicas 0 does not hold the replicas: a failing scaler is scaled in after the cooldown', () => {
    // As the test before last but fallback { 2, 0 }: KEDA's fallback case needs replicas != 0, so the
    // scale-to-zero case applies: t=90, 0 + 60 < 90 -> 0.
    const result = replay(
      scenario(
        { cooldownPeriod: 60, fallback: { failureThreshold: 2, replicas: 0 } },
        2,
        [
          [
            [0, 5],
            [10, null],
          ],
        ],
        120,
      ),
    );
    expect(result.replicas).toEqual([
      [0, 2],
      [90, 0],
    ]);
  });

  it('the HPA is fed target x fallback.replicas past failureThreshold failed reads; until then a failing metric forbids scale-down', () => {
    // Triggers A (fails from t=10) and B (M=1 always), T=10 each, min 1, R=2.
    // t=0: A 20/20 -> 2, B ceil(0.1) = 1 -> 2. t=15: A fails (1), B wants 1 < 2: scale-down forbidden.
    // t=30: KEDA: B active -> no change; A fails (2), forbidden again. t=45: A 3 > 2 -> 60, ceil(6) = 6;
    // legacy limit max(4, 4) = 4 -> 4. t=60: A -> 60, 60/40 = 1.5 -> 6, limit 8 -> 6.
    const result = replay({
      ...scenario(
        {
          minReplicaCount: 1,
          fallback: { failureThreshold: 2, replicas: 6 },
          triggers: [rabbit(10), rabbit(10)],
        },
        2,
        [
          [
            [0, 20],
            [10, null],
          ],
          [[0, 1]],
        ],
        60,
      ),
    });
    expect(result.replicas).toEqual([
      [0, 2],
      [45, 4],
      [60, 6],
    ]);
  });
});

describe('several triggers', () => {
  it('takes the largest proposal over the triggers', () => {
    // T 10 and 20, M 30 and 100, min 1, R=1. t=0: A ceil(3) = 3, B ceil(5) = 5 -> 5; limit 4 -> 4.
    // t=15 R=4: A 30/40 = 0.75 -> 3, B 100/80 = 1.25 -> 5 -> 5 (limit 8).
    const result = replay(
      scenario({ minReplicaCount: 1, triggers: [rabbit(10), rabbit(20)] }, 1, [[[0, 30]], [[0, 100]]], 15),
    );
    expect(result.replicas).toEqual([
      [0, 4],
      [15, 5],
    ]);
  });

  it('reads the targets of azure-servicebus and prometheus triggers', () => {
    // messageCount 5 and threshold 50; M 12 and 40, R=1, min 1. t=0: ceil(12/5) = 3, ceil(40/50) = 1 -> 3.
    const result = replay(
      scenario(
        {
          minReplicaCount: 1,
          triggers: [
            { type: 'azure-servicebus', metadata: { queueName: 'payments', messageCount: '5' } },
            { type: 'prometheus', metadata: { serverAddress: 'http://p:9090', query: 'q', threshold: '50' } },
          ],
        },
        1,
        [[[0, 12]], [[0, 40]]],
        0,
      ),
    );
    expect(result.replicas).toEqual([[0, 3]]);
  });
});

describe('pod start-up delay', () => {
  it('a new replica consumes only startupSeconds after it was added', () => {
    // min 1, T=10, 100 msg/s arrive for 10 s, 10 msg/s per ready replica, start-up 20 s, R=1 at t=0.
    // Backlog at t (t <= 10): 90t; then falls by 10/s: 850 at t=15. HPA t=15: ceil(85) -> limit 4
    // (3 pods ready at 35). t=30: backlog 700, 700/40 -> 70, limit 8 (4 more ready at 50).
    // t=34: 660 left, 1 ready, consumed 10. t=35: 650 left, 4 ready, consumed 40.
    const points = simulateWorkload({
      scaledObject: { minReplicaCount: 1, pollingInterval: 30, triggers: [rabbit(10)] },
      initialReplicas: 1,
      arrivals: [
        [0, 100],
        [10, 0],
      ],
      perReplicaRate: 10,
      startupSeconds: 20,
      durationSeconds: 40,
    });
    expect(points[34]).toEqual({ t: 34, backlog: 660, replicas: 8, readyReplicas: 1, consumed: 10 });
    expect(points[35]).toEqual({ t: 35, backlog: 650, replicas: 8, readyReplicas: 4, consumed: 40 });
  });
});

describe('scenario validation', () => {
  it.each([
    [{ metrics: [] }, 'scenario: option "metrics" must hold one series per trigger (1)'],
    [{ metrics: [[[5, 1]]] }, 'option "metrics[0][0][0]" must be 0 (each series starts at t = 0)'],
    [{ metrics: [[[0, -1]]] }, 'option "metrics[0][0][1]" must be a number from 0'],
    [{ initialReplicas: -1 }, 'option "initialReplicas" must be an integer from 0'],
    [
      { scaledObject: { triggers: [{ type: 'kafka', metadata: {} }] } },
      'scenario.scaledObject: option "triggers[0].type" must be "rabbitmq" or "azure-servicebus" or "prometheus"',
    ],
    [
      { scaledObject: { minReplicaCount: 3, maxReplicaCount: 2, triggers: [rabbit(10)] } },
      'option "minReplicaCount" must be <= maxReplicaCount (2)',
    ],
    [
      { scaledObject: { triggers: [{ type: 'prometheus', metadata: { query: 'q' } }] } },
      'option "triggers[0].metadata.threshold" is required',
    ],
  ])('rejects %j naming the field', (override, message) => {
    const base = scenario({}, 0, [[[0, 0]]], 30);
    expect(() => replay({ ...base, ...override } as ReplayScenario)).toThrow(message);
  });
});
