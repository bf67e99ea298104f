/** The README's usage block runs against a stand-in of its own (it closes what it starts). */
import { expect, it } from 'vitest';
import { readmeExamples } from '../../../test/readme-examples.js';

const examples = readmeExamples('packages/service-bus-standin/README.md');

it('has a usage block', () => {
  expect(examples).toHaveLength(1);
});

it.each(examples)('%s runs', async (_label, file) => {
  await import(file);
});
