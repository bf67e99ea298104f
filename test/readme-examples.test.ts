import { expect, it } from 'vitest';
import { readmeExamples } from './readme-examples.js';

const examples = [
  'README.md',
  'packages/core/README.md',
  'packages/testing/README.md',
  'packages/kube/README.md',
].flatMap(readmeExamples);

it('finds the usage blocks', () => {
  expect(examples.length).toBeGreaterThanOrEqual(3);
});

it.each(examples)('%s runs', async (_label, file) => {
  await import(file);
});
