/**
 * k6 soak test of the orders API: a steady rate held for a long time, as `soakScenario` shapes it.
 * `LOADTEST_RPS` and `LOADTEST_DURATION_S` override rate and length.
 *
 *   k6 run -e ORDERS_URL=http://localhost:3000 loadtests/k6/soak.ts
 */
import exec from 'k6/execution';
import { orderBody, soakScenario } from '../src/scenario-shape.ts';
import { envNumber, optionsFor, placeOrder, summaryFiles } from './common.ts';

const scenario = soakScenario({
  rps: envNumber('LOADTEST_RPS'),
  durationS: envNumber('LOADTEST_DURATION_S'),
});

export const options = optionsFor(scenario);

export default function (): void {
  placeOrder(orderBody(exec.scenario.iterationInTest));
}

export function handleSummary(data: Parameters<typeof summaryFiles>[1]) {
  return summaryFiles(scenario.name, data);
}
