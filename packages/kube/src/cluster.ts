/**
 * `sluice apply` and `sluice status` against a Kubernetes API server through @kubernetes/client-node:
 * server-side apply with field manager `sluice`, and the state of a ScaledObject and its HPA.
 */
import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import type { ManifestObject } from './manifests.js';

/** Which cluster: a kubeconfig file (default: KUBECONFIG, else ~/.kube/config) and context. */
export interface ClusterOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
}

/** The field manager of every apply, so `kubectl` shows who owns the fields. */
export const fieldManager = 'sluice';

/** The API client; the client library loads on first use, so the other commands start quickly. */
async function objectApi(options: ClusterOptions): Promise<KubernetesObjectApi> {
  const { KubeConfig, KubernetesObjectApi } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  if (options.context !== undefined) config.setCurrentContext(options.context);
  return KubernetesObjectApi.makeApiClient(config);
}

/** Why a request failed, in one line (the API server's Status message when it sent one). */
function describeFailure(error: unknown): string {
  const failure = error as { code?: number; body?: unknown; message?: string };
  let body = failure.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not JSON: keep the text
    }
  }
  const message = (body as { message?: string } | undefined)?.message ?? failure.message ?? String(error);
  return `${failure.code === undefined ? '' : `HTTP ${failure.code}: `}${message.split('\n')[0]}`;
}

export interface ApplyResult {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
}

/**
 * Server-side applies each object in order (field manager `sluice`, `force` so the fields move to
 * `sluice` from an earlier manager). Resolves when every object was applied; rejects at the first
 * refusal naming the object. `dryRun` asks the server to validate without persisting.
 */
export async function applyManifests(
  objects: readonly ManifestObject[],
  options: ClusterOptions & { readonly dryRun?: boolean } = {},
): Promise<ApplyResult[]> {
  const api = await objectApi(options);
  const applied: ApplyResult[] = [];
  for (const object of objects) {
    const where = `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    try {
      await api.patch(
        object as KubernetesObject,
        undefined,
        options.dryRun ? 'All' : undefined,
        fieldManager,
        true,
        'application/apply-patch+yaml',
      );
    } catch (error) {
      throw new Error(`apply of ${where} failed: ${describeFailure(error)}`, { cause: error });
    }
    applied.push({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace });
  }
  return applied;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** What `sluice status` shows for one ScaledObject. */
export interface ScalingStatus {
  readonly name: string;
  readonly namespace: string;
  /** Ready, Active, Fallback, Paused as KEDA sets them. */
  readonly conditions: readonly Condition[];
  readonly hpa:
    { readonly name: string; readonly currentReplicas: number; readonly desiredReplicas: number } | undefined;
  /** One per trigger: its queue and the backlog KEDA last fed the HPA (undefined while unknown, at zero). */
  readonly triggers: readonly {
    readonly type: string;
    readonly queue: string;
    readonly depth: number | undefined;
  }[];
}

interface ScaledObjectResource extends KubernetesObject {
  spec: { triggers: { type: string; name?: string; metadata: Record<string, string> }[] };
  status?: { conditions?: Condition[]; hpaName?: string; externalMetricNames?: string[] };
}

interface MetricValue {
  value?: string;
  averageValue?: string;
}
interface HpaResource extends KubernetesObject {
  status?: {
    currentReplicas?: number;
    desiredReplicas?: number;
    currentMetrics?: { type: string; external?: { metric: { name: string }; current: MetricValue } }[];
  };
}

/** A Kubernetes quantity ("12", "1500m", "2k") as a number. */
function quantity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(-?[0-9.]+)(m|k|M|G)?$/.exec(text);
  if (match === null) return undefined;
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

/**
 * Reads the ScaledObject `name` and the HPA KEDA made for it (`status.hpaName`, else
 * `keda-hpa-<name>`). Rejects naming the object when it cannot be read; an HPA not there yet gives
 * `hpa: undefined`.
 */
export async function scalingStatus(
  name: string,
  namespace: string,
  options: ClusterOptions = {},
): Promise<ScalingStatus> {
  const api = await objectApi(options);
  let scaledObject: ScaledObjectResource;
  try {
    scaledObject = (await api.read({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace },
    })) as ScaledObjectResource;
  } catch (error) {
    throw new Error(`cannot read ScaledObject ${namespace}/${name}: ${describeFailure(error)}`, {
      cause: error,
    });
  }
  const hpaName = scaledObject.status?.hpaName ?? `keda-hpa-${name}`;
  let hpa: HpaResource | undefined;
  try {
    hpa = (await api.read({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: hpaName, namespace },
    })) as HpaResource;
  } catch (error) {
    if ((error as { code?: number }).code !== 404) {
      throw new Error(
        `cannot read HorizontalPodAutoscaler ${namespace}/${hpaName}: ${describeFailure(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  const current = hpa?.status?.currentReplicas ?? 0;
  // KEDA names trigger i's metric "s<i>-<type>-...": the HPA's status holds what it was last fed.
  const metrics = hpa?.status?.currentMetrics ?? [];
  const triggers = scaledObject.spec.triggers.map((trigger, i) => {
    const metric = metrics.find((m) => m.external?.metric.name.startsWith(`s${i}-`))?.external?.current;
    const average = quantity(metric?.averageValue);
    const depth =
      metric?.value !== undefined
        ? quantity(metric.value)
        : average === undefined
          ? undefined
          : average * current;
    const queue =
      trigger.metadata.queueName ??
      (trigger.metadata.topicName === undefined
        ? (trigger.metadata.query ?? '')
        : `${trigger.metadata.topicName}/${trigger.metadata.subscriptionName ?? ''}`);
    return { type: trigger.type, queue, depth };
  });
  return {
    name,
    namespace,
    conditions: scaledObject.status?.conditions ?? [],
    hpa:
      hpa === undefined
        ? undefined
        : { name: hpaName, currentReplicas: current, desiredReplicas: hpa.status?.desiredReplicas ?? 0 },
    triggers,
  };
}

/** `scalingStatus` as the lines `sluice status` prints. */
export function formatStatus(status: ScalingStatus): string {
  const lines = [`ScaledObject ${status.namespace}/${status.name}`];
  for (const c of status.conditions) {
    lines.push(
      `  ${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? ` ${c.message}` : ''}`,
    );
  }
  lines.push(
    status.hpa === undefined
      ? '  HPA: not created yet'
      : `  HPA ${status.hpa.name}: ${status.hpa.currentReplicas} current, ${status.hpa.desiredReplicas} desired replicas`,
  );
  for (const t of status.triggers) {
    lines.push(
      `  ${t.type} ${t.queue}: depth ${t.depth === undefined ? 'unknown (no replicas, or no metric yet)' : t.depth}`,
    );
  }
  return lines.join('\n');
}
