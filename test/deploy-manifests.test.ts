import { readFileSync } from 'node:fs';
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
