/** The README's usage block runs against the real broker (and what it declared is deleted after). */
import { afterAll, expect, it } from 'vitest';
import { readmeExamples } from '../../../test/readme-examples.js';
import { BrokerAdmin } from './support/broker.js';

const examples = readmeExamples('packages/rabbitmq/README.md');

afterAll(async () => {
  const admin = await BrokerAdmin.connect();
  await admin.deleteEndpoint('readme.payments');
  await admin.deleteRetryQueues('readme', [1_000, 5_000]);
  await admin.deleteExchanges(['readme.charge-card.v1']);
  await admin.close();
});

it('has a usage block', () => {
  expect(examples).toHaveLength(1);
});

it.each(examples)('%s runs', async (_label, file) => {
  await import(file);
});
