/**
 * What the k6 scripts share: the scenario shape turned into k6 options, the request, and the JSON
 * summary. Run with real k6 (see loadtests/README.md); the local driver uses the same shape.
 */
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { peakOf, type ArrivalScenario } from '../src/scenario-shape.ts';

/** The orders API, e.g. `http://localhost:3000` through `kubectl port-forward`. */
const baseUrl = __ENV.ORDERS_URL ?? 'http://localhost:3000';

/** A number from `__ENV[name]`, or undefined when unset. */
export function envNumber(name: string): number | undefined {
  const value = __ENV[name];
  if (value === undefined || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new Error(`${name} must be a positive number (got ${value})`);
  return number;
}

/** k6 options for `scenario`: one ramping-arrival-rate scenario and the shared thresholds. */
export function optionsFor(scenario: ArrivalScenario): Options {
  const peak = peakOf(scenario);
  return {
    scenarios: {
      [scenario.name]: {
        executor: 'ramping-arrival-rate',
        startRate: Math.round(scenario.startRps),
        timeUnit: '1s',
        // Enough virtual users for the peak at 100 ms per request; k6 reports dropped iterations if not.
        preAllocatedVUs: Math.max(10, Math.ceil(peak / 10)),
        maxVUs: Math.max(50, Math.ceil(peak / 2)),
        stages: scenario.stages.map((stage) => ({
          duration: `${stage.durationS}s`,
          target: Math.round(stage.targetRps),
        })),
      },
    },
    thresholds: {
      http_req_failed: [`rate<${scenario.thresholds.maxErrorRate}`],
      http_req_duration: [`p(95)<${scenario.thresholds.p95Ms}`, `p(99)<${scenario.thresholds.p99Ms}`],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
  };
}

/** One order; a 202 is the only success. */
export function placeOrder(body: unknown): void {
  const response = http.post(`${baseUrl}/orders`, JSON.stringify(body), {
    headers: { 'content-type': 'application/json' },
    tags: { name: 'POST /orders' },
  });
  check(response, { 'order accepted (202)': (r) => r.status === 202 });
}

/** The end-of-test summary as JSON in `SUMMARY_JSON` (default `<name>-summary.json`), and one line on stdout. */
export function summaryFiles(
  name: string,
  data: { metrics: Record<string, { values: Record<string, number> }> },
) {
  const duration = data.metrics.http_req_duration?.values ?? {};
  const failed = data.metrics.http_req_failed?.values ?? {};
  const requests = data.metrics.http_reqs?.values ?? {};
  const line = `${name}: requests ${requests.count ?? 0}, failed rate ${(failed.rate ?? 0).toFixed(4)}, p95 ${(duration['p(95)'] ?? 0).toFixed(1)} ms, p99 ${(duration['p(99)'] ?? 0).toFixed(1)} ms\n`;
  return {
    [__ENV.SUMMARY_JSON ?? `${name}-summary.json`]: JSON.stringify(data, null, 2),
    stdout: line,
  };
}
