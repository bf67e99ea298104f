/**
 * The READMEs point at the queries the chart really renders for the dev cluster (deploy/orders-values.yaml):
 * the ScaledObject's prometheus trigger on `payments` and the PrometheusRule's dead-letter alert, the
 * same text that examples/orders/test/prometheus-queries.int.test.ts runs on the real Prometheus; and at
 * the trace view.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const docs = ['README.md', 'deploy/README.md'];

it('README.md and deploy/README.md show the trigger and alert queries the chart renders, and the trace view', async () => {
  const { renderChart } = await import('../packages/kube/test/support/chart.js');
  const objects = await renderChart([
    '-f',
    fileURLToPath(new URL('../deploy/orders-values.yaml', import.meta.url)),
  ]);
  const triggers = (objects.find((o) => o.kind === 'ScaledObject')?.spec?.triggers ?? []) as {
    type: string;
    metadata: { query?: string };
  }[];
  const depth = triggers.find((t) => t.type === 'prometheus' && t.metadata.query?.includes('"payments"'))
    ?.metadata.query;
  const rules = (
    (objects.find((o) => o.kind === 'PrometheusRule')?.spec?.groups ?? []) as {
      rules: { alert: string; expr: string }[];
    }[]
  ).flatMap((group) => group.rules);
  const deadLetters = rules.find((r) => r.alert === 'SluiceDeadLettersGrowing')?.expr;
  expect(depth).toBeDefined();
  expect(deadLetters).toBeDefined();
  for (const doc of docs) {
    const text = read(doc);
    expect(text, `${doc}: the trigger query`).toContain(depth);
    expect(text, `${doc}: the dead-letter alert`).toContain(deadLetters);
    expect(text, `${doc}: the trace view`).toMatch(/\/trace\/<traceId>/);
  }
});
