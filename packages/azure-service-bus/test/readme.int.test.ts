/** The README's usage block runs on Service Bus (the stand-in unless the lane names a namespace). */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readmeExamples } from '../../../test/readme-examples.js';
import { startServiceBus, type ServiceBusUnderTest } from './support/service-bus.js';

const examples = readmeExamples('packages/azure-service-bus/README.md');
let bus: ServiceBusUnderTest;
const environment = { ...process.env };

beforeAll(async () => {
  bus = await startServiceBus();
  process.env.SERVICEBUS_CONNECTION_STRING = bus.connectionString;
  if (bus.tlsCa !== undefined) process.env.SERVICEBUS_TLS_CA = bus.tlsCa;
});

afterAll(async () => {
  process.env = environment;
  await bus?.deleteEndpoint('readme.payments', ['readme.charge-card.v1']);
  await bus?.close();
});

it('has a usage block', () => {
  expect(examples).toHaveLength(1);
});

it.each(examples)('%s runs', async (_label, file) => {
  await import(file);
});
