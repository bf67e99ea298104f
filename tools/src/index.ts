export {
  buildTools,
  goCommand,
  missingToolLine,
  toolForTest,
  toolNames,
  toolPath,
  toolsCacheDir,
  toolsDir,
  toolsRequiredVariable,
} from './binaries.js';
export type { BuildResult, ToolName } from './binaries.js';
export { startJaeger } from './jaeger.js';
export type { Jaeger, JaegerSpan } from './jaeger.js';
export { startPrometheus } from './prometheus.js';
export type { PromSample, Prometheus, PrometheusOptions } from './prometheus.js';
