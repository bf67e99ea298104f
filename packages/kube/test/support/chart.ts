/**
 * The chart under test: rendered by the real helm (see `helm.ts`), each object checked against the
 * Kubernetes schemas (kubernetes-models), the prometheus-operator CRDs, and KEDA's CRD schema (v2.20.2,
 * copied into test/fixtures/keda-crd).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Ajv, type ValidateFunction } from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { runHelm } from '../../src/helm.js';

export const chartDir = fileURLToPath(new URL('../../../../charts/sluice-consumer', import.meta.url));
const kedaCrds = fileURLToPath(new URL('../fixtures/keda-crd/', import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; [key: string]: unknown };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** `helm template` of the chart; rejects with helm's message when it fails. */
export async function renderChart(args: readonly string[] = []): Promise<K8sObject[]> {
  const result = await runHelm(['template', 'shop', chartDir, '--namespace', 'shop', ...args]);
  if (!result.ok) throw new Error(result.stderr.trim());
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function crdValidator(file: string): ValidateFunction {
  const crd = parse(readFileSync(`${kedaCrds}${file}`, 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: object } }[] };
  };
  const version = crd.spec.versions.find((v) => v.name === 'v1alpha1');
  if (version === undefined) throw new Error(`${file} has no v1alpha1`);
  // OpenAPI v3 as Kubernetes uses it: x-kubernetes-* extensions and int32/int64 formats are not
  // JSON-schema vocabulary, so they are accepted unchecked (the one CEL rule is checked below).
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(version.schema.openAPIV3Schema);
}

const keda = {
  ScaledObject: crdValidator('keda.sh_scaledobjects.yaml'),
  TriggerAuthentication: crdValidator('keda.sh_triggerauthentications.yaml'),
};

const models: Record<string, new (data: never) => { validate(): void }> = {
  Deployment,
  Service,
  ServiceAccount,
  Pod,
  PodDisruptionBudget,
  ServiceMonitor,
  PrometheusRule,
};

/** Throws naming the object and the first problems when `object` does not validate. */
export function validateObject(object: K8sObject): void {
  const where = `${object.kind} ${object.metadata.name}`;
  if (object.kind === 'ScaledObject' || object.kind === 'TriggerAuthentication') {
    const validate = keda[object.kind];
    if (!validate(object)) {
      throw new Error(
        `${where}: ${validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`,
      );
    }
    // The ScaledObject CRD's x-kubernetes-validations rule.
    const spec = object.spec as { minReplicaCount?: number; maxReplicaCount?: number };
    if ((spec.minReplicaCount ?? 0) > (spec.maxReplicaCount ?? 100)) {
      throw new Error(`${where}: minReplicaCount must be less than or equal to maxReplicaCount`);
    }
    return;
  }
  const Model = models[object.kind];
  if (Model === undefined) throw new Error(`${where}: no schema known for kind ${object.kind}`);
  try {
    new Model(object as never).validate();
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/** The one object of `kind` among `objects`. */
export function only<T = K8sObject>(objects: readonly K8sObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}
