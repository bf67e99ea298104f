/**
 * `@sluice/cli/simulate`: the machinery of `sluice simulate`, for other runs that scale real consumer
 * processes the way KEDA and the HPA would (the repository's load test, `npm run loadtest:spike`).
 */
export { ReplicaPool } from './replica-pool.js';
export type { ReplicaPoolOptions } from './replica-pool.js';
export { ScaledDeployment } from './scaled-deployment.js';
export type { RenderedScaling, ScaledDeploymentOptions } from './scaled-deployment.js';
