import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

function manifests(path: string): { kind: string; [key: string]: unknown }[] {
  return parseAllDocuments(readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')).map(
    (doc) => doc.toJS() as { kind: string },
  );
}

it('deploy/jaeger is a valid Deployment and Service exposing OTLP and the UI', () => {
  const objects = manifests('deploy/jaeger/jaeger.yaml');
  expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service']);
  const deployment = new Deployment(objects[0] as never);
  const service = new Service(objects[1] as never);
  deployment.validate();
  service.validate();
  expect(service.spec?.ports?.map((p) => p.port)).toEqual([4317, 4318, 16686]);
  expect(service.spec?.selector).toEqual(deployment.spec?.selector.matchLabels);
  expect(deployment.spec?.template.spec?.containers[0]?.image).toMatch(/jaegertracing\/jaeger:2\.\d+\.\d+$/);
});

it('rejects an invalid object, so the check above can fail', () => {
  expect(() =>
    new Service({ spec: { ports: [{ port: 'http' as unknown as number }] } }).validate(),
  ).toThrow();
});

it('deploy/rabbitmq runs RabbitMQ with the management plugin behind a Service on 5672 and 15672', () => {
  const objects = manifests('deploy/rabbitmq/rabbitmq.yaml');
  expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service']);
  const deployment = new Deployment(objects[0] as never);
  const service = new Service(objects[1] as never);
  deployment.validate();
  service.validate();
  expect(deployment.spec?.template.spec?.containers[0]?.image).toMatch(/^rabbitmq:[\d.]+-management$/);
  expect(service.spec?.ports?.map((p) => p.port)).toEqual([5672, 15672]);
  expect(service.spec?.selector).toEqual(deployment.spec?.selector.matchLabels);
});

it('deploy/orders-values.yaml renders the orders example with the chart into valid objects', async () => {
  const { renderChart, validateObject } = await import('../packages/kube/test/support/chart.js');
  const objects = await renderChart([
    '-f',
    fileURLToPath(new URL('../deploy/orders-values.yaml', import.meta.url)),
  ]);
  for (const object of objects) validateObject(object);
  const kinds = objects.map((o) => o.kind);
  expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule', 'ScaledObject']));
  const triggers = (objects.find((o) => o.kind === 'ScaledObject')?.spec as { triggers: { type: string }[] })
    .triggers;
  expect(triggers.filter((t) => t.type === 'prometheus')).toHaveLength(triggers.length / 2);
});

it('deploy/Dockerfile is multi-stage, installs production dependencies only and runs as non-root', () => {
  const dockerfile = readFileSync(new URL('../deploy/Dockerfile', import.meta.url), 'utf8');
  expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
  expect(dockerfile).toContain('npm ci --omit=dev');
  expect(dockerfile).toMatch(/^USER 1000:1000$/m);
  expect(dockerfile).toMatch(/^CMD \["node", "examples\/orders\/dist\/main.js"\]$/m);
});

it.each(['deploy/up.sh', 'deploy/down.sh'])('%s is valid bash', (script) => {
  execFileSync('bash', ['-n', fileURLToPath(new URL(`../${script}`, import.meta.url))]);
});
