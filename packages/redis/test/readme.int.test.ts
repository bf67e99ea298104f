/** The README's usage block runs against the real Redis (and the keys it wrote are deleted after). */
import { afterAll, expect, it } from 'vitest';
import { readmeExamples } from '../../../test/readme-examples.js';
import { deleteKeys } from './support/redis.js';

const examples = readmeExamples('packages/redis/README.md');

afterAll(async () => {
  await deleteKeys('shop:idempotency:');
});

it('has a usage block', () => {
  expect(examples).toHaveLength(1);
});

it.each(examples)('%s runs', async (_label, file) => {
  await import(file);
});
