/**
 * A test that needs Jaeger or Prometheus and finds no binary: one line saying so and a skip locally;
 * a failure, with that line, where SLUICE_TOOLS_REQUIRED=1 (`.ci/run` sets it after building them).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingToolLine, toolForTest, toolsRequiredVariable } from '@sluice/tools';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';

const saved = { cache: process.env.SLUICE_TOOLS_CACHE, required: process.env[toolsRequiredVariable] };
let empty: string;
beforeEach(() => {
  empty = mkdtempSync(join(tmpdir(), 'sluice-tools-none-'));
  process.env.SLUICE_TOOLS_CACHE = empty;
});
afterEach(() => {
  rmSync(empty, { recursive: true, force: true });
  for (const [name, value] of [
    ['SLUICE_TOOLS_CACHE', saved.cache],
    [toolsRequiredVariable, saved.required],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  vi.restoreAllMocks();
});

it('skips with one line naming the binary and how to build it when it is absent', () => {
  delete process.env[toolsRequiredVariable];
  const written: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  expect(toolForTest('jaeger')).toBeUndefined();
  expect(written).toEqual([`skipped: ${missingToolLine('jaeger')}\n`]);
  expect(written[0]).toContain('npm run tools:build');
});

it('fails with that line where SLUICE_TOOLS_REQUIRED=1', () => {
  process.env[toolsRequiredVariable] = '1';
  expect(() => toolForTest('prometheus')).toThrow(missingToolLine('prometheus'));
});

it('is what .ci/run sets before it builds the tools and runs the tests', () => {
  const script = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
  const required = script.indexOf(`export ${toolsRequiredVariable}=1`);
  expect(required).toBeGreaterThan(0);
  expect(script.indexOf('npm run tools:build')).toBeGreaterThan(required);
  expect(script.indexOf('npm test')).toBeGreaterThan(script.indexOf('npm run tools:build'));
  expect(script).toMatch(/^set -euo pipefail$/m);
});
