/**
 * k6 spike test of the orders API: a steady baseline, a 20x spike and the recovery, as
 * `spikeScenario` shapes it. `LOADTEST_PEAK_RPS` and `LOADTEST_DURATION_S` override peak and length.
 *
 *   k6 run -e ORDERS_URL=http://localhost:3000 loadtests/k6/spike.ts
 */
import exec from 'k6/execution';
import { orderBody, spikeScenario } from '../src/scenario-shape.ts';
import { envNumber, optionsFor, placeOrder, summaryFiles } from './common.ts';

const scenario = spikeScenario({
  peakRps: envNumber('LOADTEST_PEAK_RPS'),
  durationS: envNumber('LOADTEST_DURATION_S'),
});

export const options = optionsFor(scenario);

export default function (): void {
  placeOrder(orderBody(exec.scenario.iterationInTest));
}

export function handleSummary(data: Parameters<typeof summaryFiles>[1]) {
  return summaryFiles(scenario.name, data);
}
