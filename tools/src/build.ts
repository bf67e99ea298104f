/**
 * `npm run tools:build`: builds Jaeger and Prometheus from tools/go.mod into the cache folder, or says
 * they are cached. Exits non-zero when the build fails.
 */
import { buildTools, toolNames } from './binaries.js';

const result = await buildTools();
for (const name of toolNames) {
  const seconds = result.seconds[name];
  console.log(
    seconds === undefined
      ? `tools: ${name} cached in ${result.dir}`
      : `tools: built ${name} into ${result.dir} in ${seconds.toFixed(0)} s`,
  );
}
