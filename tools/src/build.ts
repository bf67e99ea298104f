/**
 * `npm run tools:build`: builds Jaeger and Prometheus from tools/go.mod into the cache folder, or says
 * they are cached. Exits non-zero when the build fails.
 */
import { buildTools, toolNames } from './binaries.js';

const result = await buildTools();
console.log(
  result.built
    ? `tools: built ${toolNames.join(', ')} into ${result.dir} in ${result.seconds.toFixed(0)} s`
    : `tools: ${toolNames.join(', ')} cached in ${result.dir}`,
);
