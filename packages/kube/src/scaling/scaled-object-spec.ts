/**
 * The part of a KEDA ScaledObject spec (keda.sh/v1alpha1, as in the CRD) that decides replica counts,
 * and its resolution into a model with KEDA's and the HPA's defaults (`specs/keda-hpa.md`). Every
 * check names the field: `scaledObject: option "triggers[0].metadata.value" must be ...`.
 */
import { OptionChecker } from '@sluice/core';

/** An HPA scaling policy (autoscaling/v2 HPAScalingPolicy). */
export interface ScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  readonly value: number;
  readonly periodSeconds: number;
}

/** One direction of `advanced.horizontalPodAutoscalerConfig.behavior` (HPAScalingRules). */
export interface ScalingRules {
  readonly stabilizationWindowSeconds?: number;
  readonly selectPolicy?: 'Max' | 'Min' | 'Disabled';
  readonly policies?: readonly ScalingPolicy[];
  /** Ratio tolerance of this direction, such as `"0.05"`. Default: the cluster's 0.1. */
  readonly tolerance?: string | number;
}

/** A trigger as written in a ScaledObject. */
export interface TriggerSpec {
  readonly type: string;
  readonly name?: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** `AverageValue` (default) or `Value`. */
  readonly metricType?: string;
}

/** The fields of a ScaledObject spec the simulator reads (others are ignored). */
export interface ScaledObjectSpec {
  readonly pollingInterval?: number;
  readonly cooldownPeriod?: number;
  readonly initialCooldownPeriod?: number;
  readonly minReplicaCount?: number;
  readonly maxReplicaCount?: number;
  readonly idleReplicaCount?: number;
  readonly fallback?: {
    readonly failureThreshold: number;
    readonly replicas: number;
    readonly behavior?: string;
  };
  readonly advanced?: {
    readonly horizontalPodAutoscalerConfig?: {
      readonly behavior?: { readonly scaleUp?: ScalingRules; readonly scaleDown?: ScalingRules };
    };
    readonly scalingModifiers?: unknown;
  };
  readonly triggers: readonly TriggerSpec[];
}

/** A trigger's numbers: the per-replica target, the activation threshold and the metric type. */
export interface TriggerModel {
  readonly name: string;
  readonly target: number;
  readonly activation: number;
  readonly metricType: 'AverageValue' | 'Value';
}

/** Scaling rules with the autoscaling/v2 defaults filled in. */
export interface ResolvedRules {
  /**
   * undefined only for scale-down rules that set none: the API leaves it unset and the controller uses
   * its `--horizontal-pod-autoscaler-downscale-stabilization` (300 s by default).
   */
  readonly stabilizationWindowSeconds: number | undefined;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly ScalingPolicy[];
  readonly tolerance: number;
}

/** A ScaledObject with every default applied. */
export interface ScalingModel {
  readonly pollingInterval: number;
  readonly cooldownPeriod: number;
  readonly initialCooldownPeriod: number;
  readonly minReplicaCount: number;
  readonly maxReplicaCount: number;
  readonly idleReplicaCount: number | undefined;
  readonly fallback: { readonly failureThreshold: number; readonly replicas: number } | undefined;
  /** undefined: KEDA passes `behavior: nil` and the HPA applies its legacy limits. */
  readonly behavior: { readonly scaleUp: ResolvedRules; readonly scaleDown: ResolvedRules } | undefined;
  readonly triggers: readonly TriggerModel[];
}

/** The HPA controller's cluster-wide ratio tolerance (`--horizontal-pod-autoscaler-tolerance`). */
export const defaultTolerance = 0.1;

/**
 * Per-replica target and activation metadata keys of the scalers Sluice renders, with KEDA's
 * defaults (`specs/keda-hpa.md`); `undefined` means the key is required.
 */
const scalerKeys: Record<string, { target: string; targetDefault?: number; activation: string }> = {
  rabbitmq: { target: 'value', targetDefault: 20, activation: 'activationValue' },
  'azure-servicebus': { target: 'messageCount', targetDefault: 5, activation: 'activationMessageCount' },
  prometheus: { target: 'threshold', activation: 'activationThreshold' },
};

function metadataNumber(
  check: OptionChecker,
  option: string,
  value: string | undefined,
  fallback: number | undefined,
): number {
  if (value === undefined) {
    if (fallback === undefined) check.fail(option, 'is required', value);
    return fallback;
  }
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    check.fail(option, 'must be a non-negative number in a string', value);
  }
  return parsed;
}

function resolveTrigger(check: OptionChecker, trigger: TriggerSpec, index: number): TriggerModel {
  const where = `triggers[${index}]`;
  check.record(where, trigger);
  const keys = scalerKeys[trigger.type];
  if (keys === undefined) {
    check.fail(
      `${where}.type`,
      `must be ${Object.keys(scalerKeys)
        .map((k) => `"${k}"`)
        .join(' or ')}`,
      trigger.type,
    );
  }
  const metadata = check.record(`${where}.metadata`, trigger.metadata) as Record<string, string | undefined>;
  if (trigger.type === 'rabbitmq' && (metadata.mode ?? 'QueueLength') !== 'QueueLength') {
    check.fail(
      `${where}.metadata.mode`,
      'must be "QueueLength" (rate modes are not simulated)',
      metadata.mode,
    );
  }
  const target = metadataNumber(
    check,
    `${where}.metadata.${keys.target}`,
    metadata[keys.target],
    keys.targetDefault,
  );
  if (target <= 0) check.fail(`${where}.metadata.${keys.target}`, 'must be above 0', target);
  const metricType = check.oneOf(`${where}.metricType`, trigger.metricType ?? 'AverageValue', [
    'AverageValue',
    'Value',
  ] as const);
  return {
    name: trigger.name ?? `${trigger.type}-${index}`,
    target,
    activation: metadataNumber(check, `${where}.metadata.${keys.activation}`, metadata[keys.activation], 0),
    metricType,
  };
}

const upDefaults: ResolvedRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
  tolerance: defaultTolerance,
};
const downDefaults: ResolvedRules = {
  stabilizationWindowSeconds: undefined,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  tolerance: defaultTolerance,
};

function resolveRules(
  check: OptionChecker,
  option: string,
  rules: ScalingRules | undefined,
  defaults: ResolvedRules,
) {
  if (rules === undefined) return defaults;
  check.record(option, rules);
  const policies = (rules.policies ?? defaults.policies).map((policy, i) => ({
    type: check.oneOf(`${option}.policies[${i}].type`, policy.type, ['Pods', 'Percent'] as const),
    value: check.int(`${option}.policies[${i}].value`, policy.value, 1, 2 ** 31 - 1),
    periodSeconds: check.int(`${option}.policies[${i}].periodSeconds`, policy.periodSeconds, 1, 1800),
  }));
  const tolerance =
    rules.tolerance === undefined
      ? defaults.tolerance
      : check.number(`${option}.tolerance`, Number(rules.tolerance), 0, 1);
  return {
    stabilizationWindowSeconds:
      rules.stabilizationWindowSeconds === undefined
        ? defaults.stabilizationWindowSeconds
        : check.int(`${option}.stabilizationWindowSeconds`, rules.stabilizationWindowSeconds, 0, 3600),
    selectPolicy: check.oneOf(`${option}.selectPolicy`, rules.selectPolicy ?? 'Max', [
      'Max',
      'Min',
      'Disabled',
    ] as const),
    policies,
    tolerance,
  };
}

/** Applies KEDA's and the HPA's defaults to `spec`; throws `SLUICE_INVALID_OPTION` naming a bad field. */
export function resolveScalingModel(spec: ScaledObjectSpec, where = 'scaledObject'): ScalingModel {
  const check = new OptionChecker(where);
  check.record('', spec);
  const minReplicaCount = check.int('minReplicaCount', spec.minReplicaCount ?? 0, 0, 2 ** 31 - 1);
  const maxReplicaCount = check.int('maxReplicaCount', spec.maxReplicaCount ?? 100, 1, 2 ** 31 - 1);
  if (minReplicaCount > maxReplicaCount) {
    check.fail('minReplicaCount', `must be <= maxReplicaCount (${maxReplicaCount})`, minReplicaCount);
  }
  const idleReplicaCount =
    spec.idleReplicaCount === undefined
      ? undefined
      : check.int('idleReplicaCount', spec.idleReplicaCount, 0, 2 ** 31 - 1);
  if (idleReplicaCount !== undefined && idleReplicaCount >= minReplicaCount) {
    check.fail('idleReplicaCount', `must be below minReplicaCount (${minReplicaCount})`, idleReplicaCount);
  }
  if (spec.advanced?.scalingModifiers !== undefined) {
    check.fail('advanced.scalingModifiers', 'is not simulated', '...');
  }
  if (!Array.isArray(spec.triggers) || spec.triggers.length === 0) {
    check.fail('triggers', 'must be a non-empty array', spec.triggers);
  }
  const triggers = spec.triggers.map((trigger, i) => resolveTrigger(check, trigger, i));
  let fallback: ScalingModel['fallback'];
  if (spec.fallback !== undefined) {
    check.record('fallback', spec.fallback);
    if ((spec.fallback.behavior ?? 'static') !== 'static') {
      check.fail(
        'fallback.behavior',
        'must be "static" (the others are not simulated)',
        spec.fallback.behavior,
      );
    }
    fallback = {
      failureThreshold: check.int(
        'fallback.failureThreshold',
        spec.fallback.failureThreshold,
        0,
        2 ** 31 - 1,
      ),
      replicas: check.int('fallback.replicas', spec.fallback.replicas, 0, 2 ** 31 - 1),
    };
  }
  const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return {
    pollingInterval: check.int('pollingInterval', spec.pollingInterval ?? 30, 1, 86_400),
    cooldownPeriod: check.int('cooldownPeriod', spec.cooldownPeriod ?? 300, 0, 86_400 * 7),
    initialCooldownPeriod: check.int('initialCooldownPeriod', spec.initialCooldownPeriod ?? 0, 0, 86_400 * 7),
    minReplicaCount,
    maxReplicaCount,
    idleReplicaCount,
    fallback,
    behavior:
      behavior === undefined
        ? undefined
        : {
            scaleUp: resolveRules(
              check,
              'advanced.horizontalPodAutoscalerConfig.behavior.scaleUp',
              behavior.scaleUp,
              upDefaults,
            ),
            scaleDown: resolveRules(
              check,
              'advanced.horizontalPodAutoscalerConfig.behavior.scaleDown',
              behavior.scaleDown,
              downDefaults,
            ),
          },
    triggers,
  };
}
