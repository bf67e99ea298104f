import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import workspace packages from source, so they never run against a stale build.
const alias = [
  { find: /^@sluice\/tools$/, replacement: fileURLToPath(new URL('./tools/src/index.ts', import.meta.url)) },
  {
    find: /^@sluice\/([a-z-]+)$/,
    replacement: fileURLToPath(new URL('./packages/$1/src/index.ts', import.meta.url)),
  },
];

// Legacy (TypeScript experimentalDecorators) decorators, parameter decorators included, exactly as
// tsc compiles them for the build; no decorator metadata in either, so both behave the same.
const oxc = { decorator: { legacy: true, emitDecoratorMetadata: false } };

export default defineConfig({
  resolve: { alias },
  oxc,
  test: {
    // Logs of a passing test are noise (the host's default logger writes warnings to stderr); a failing
    // test's are shown.
    silent: 'passed-only',
    projects: [
      {
        resolve: { alias },
        oxc,
        test: {
          name: 'unit',
          include: [
            'test/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
            'loadtests/test/**/*.test.ts',
          ],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        resolve: { alias },
        oxc,
        test: {
          name: 'integration',
          globalSetup: ['./vitest.global-setup.ts'],
          include: [
            'test/**/*.int.test.ts',
            'packages/*/test/**/*.int.test.ts',
            'examples/*/test/**/*.int.test.ts',
            'loadtests/test/**/*.int.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
