export { helmBinary, readZipEntry, runHelm } from './helm.js';
export type { HelmResult } from './helm.js';
export { HpaController } from './scaling/hpa-controller.js';
export type { HpaControllerOptions } from './scaling/hpa-controller.js';
export { KedaLoop, MetricsAdapter } from './scaling/keda-loop.js';
export type { Reading } from './scaling/keda-loop.js';
export { replay } from './scaling/replay.js';
export type { ReplayResult, ReplayScenario, Sample } from './scaling/replay.js';
export { defaultTolerance, resolveScalingModel } from './scaling/scaled-object-spec.js';
export type {
  ResolvedRules,
  ScaledObjectSpec,
  ScalingModel,
  ScalingPolicy,
  ScalingRules,
  TriggerModel,
  TriggerSpec,
} from './scaling/scaled-object-spec.js';
export { ScalingSimulator } from './scaling/scaling-simulator.js';
export type { ScalingSimulatorOptions } from './scaling/scaling-simulator.js';
export { simulateWorkload } from './scaling/workload-model.js';
export type { WorkloadPoint, WorkloadScenario } from './scaling/workload-model.js';
export { describeApplication, loadApplication } from './application.js';
export type { ApplicationDescription, ConsumerScaling, SluiceApplication } from './application.js';
export { chartValues, shutdownMarginSeconds } from './chart-values.js';
export type { ChartTransport, ChartValues } from './chart-values.js';
export { applyManifests, fieldManager, formatStatus, scalingStatus } from './cluster.js';
export type { ApplyResult, ClusterOptions, ScalingStatus } from './cluster.js';
export { chartDirOf, defaultChartDir, renderManifests, valuesYaml } from './manifests.js';
export type { ManifestObject, RenderOptions } from './manifests.js';
