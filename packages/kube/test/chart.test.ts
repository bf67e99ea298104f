import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runHelm } from '../src/helm.js';
import { chartDir, only, renderChart, validateObject, type K8sObject } from './support/chart.js';

const variants: [string, string[]][] = [
  ['default (RabbitMQ, the orders example)', []],
  ['RabbitMQ with Prometheus', ['-f', `${chartDir}/ci/rabbitmq-prometheus-values.yaml`]],
  ['Azure Service Bus', ['-f', `${chartDir}/ci/servicebus-values.yaml`]],
];

interface Trigger {
  type: string;
  name: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}
interface ContainerShape {
  livenessProbe: { httpGet: unknown };
  readinessProbe: { httpGet: unknown };
  ports: unknown[];
  securityContext: unknown;
}
interface PodSpecShape {
  containers: ContainerShape[];
  terminationGracePeriodSeconds: number;
  securityContext: unknown;
}
interface ScaledObjectSpec {
  minReplicaCount: number;
  maxReplicaCount: number;
  fallback?: unknown;
  advanced?: { horizontalPodAutoscalerConfig: { behavior: unknown } };
  triggers: Trigger[];
}
const triggersOf = (objects: K8sObject[]) =>
  (only(objects, 'ScaledObject').spec as unknown as ScaledObjectSpec).triggers;

describe.each(variants)('the chart, %s variant', (_name, args) => {
  it('passes helm lint', async () => {
    const result = await runHelm(['lint', chartDir, '--strict', ...args]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.ok).toBe(true);
  });

  it('renders objects that all validate against the Kubernetes and KEDA schemas', async () => {
    const objects = await renderChart(args);
    expect(objects.length).toBeGreaterThanOrEqual(7);
    for (const object of objects) validateObject(object);
  });
});

describe('the default variant', () => {
  it('renders a Deployment without replicas (KEDA owns them), probes, grace above the drain deadline and the restricted PSS', async () => {
    const objects = await renderChart();
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'Deployment',
      'Pod',
      'PodDisruptionBudget',
      'ScaledObject',
      'Service',
      'ServiceAccount',
      'TriggerAuthentication',
    ]);
    const deployment = only<{
      spec: { replicas?: number; template: { metadata: { labels: object }; spec: PodSpecShape } };
    }>(objects, 'Deployment');
    expect(deployment.spec.replicas).toBeUndefined();
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0] as ContainerShape;
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(container.ports[0]).toEqual({ name: 'ops', containerPort: 9464, protocol: 'TCP' });
    // stopTimeoutSeconds 25 + shutdownMarginSeconds 5: Kubernetes' default grace
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(deployment.spec.template.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'sluice-consumer',
      'app.kubernetes.io/instance': 'shop',
      'app.kubernetes.io/version': '0.1.0',
    });
  });

  it('renders one rabbitmq QueueLength trigger (management API, ready + unacked) per consumed queue, authenticated from a Secret', async () => {
    const objects = await renderChart();
    const spec = only(objects, 'ScaledObject').spec as unknown as ScaledObjectSpec;
    expect(spec).toMatchObject({
      minReplicaCount: 0,
      maxReplicaCount: 10,
      pollingInterval: 30,
      cooldownPeriod: 300,
    });
    expect(spec.fallback).toBeUndefined();
    expect(spec.advanced).toBeUndefined();
    expect(spec.triggers.map((t) => t.metadata.queueName)).toEqual([
      'orders.email',
      'orders.inventory',
      'orders.shipping',
      'orders.vip-desk',
      'orders.payments',
      'payments',
    ]);
    for (const trigger of spec.triggers) {
      expect(trigger.type).toBe('rabbitmq');
      expect(trigger.metadata).toMatchObject({ protocol: 'http', mode: 'QueueLength', activationValue: '0' });
      expect(trigger.authenticationRef).toEqual({ name: 'shop-sluice-consumer-rabbitmq' });
    }
    expect(spec.triggers.find((t) => t.metadata.queueName === 'payments')?.metadata.value).toBe('40');
    expect(only(objects, 'TriggerAuthentication').spec).toEqual({
      secretTargetRef: [{ parameter: 'host', name: 'rabbitmq-keda', key: 'host' }],
    });
  });

  it('has a helm test hook that checks /readyz through the Service, under the restricted standard too', async () => {
    const objects = await renderChart();
    const test = only<
      K8sObject & {
        spec: { securityContext: unknown; containers: { command: string[]; securityContext: unknown }[] };
      }
    >(objects, 'Pod');
    expect(test.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(test.spec.containers[0]?.command.at(-1)).toBe('http://shop-sluice-consumer:9464/readyz');
    expect(test.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(test.spec.containers[0]?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('renders spec.replicas and no KEDA objects when KEDA is off', async () => {
    const objects = await renderChart(['--set', 'keda.enabled=false', '--set', 'replicaCount=3']);
    expect((only(objects, 'Deployment').spec as { replicas: number }).replicas).toBe(3);
    expect(objects.filter((o) => o.kind === 'ScaledObject' || o.kind === 'TriggerAuthentication')).toEqual(
      [],
    );
  });
});

describe('the RabbitMQ-with-Prometheus variant', () => {
  const args = ['-f', `${chartDir}/ci/rabbitmq-prometheus-values.yaml`];

  it('adds a prometheus trigger beside each broker trigger, with fallback and behaviour passed through', async () => {
    const objects = await renderChart(args);
    const spec = only(objects, 'ScaledObject').spec as unknown as ScaledObjectSpec;
    const payments = spec.triggers.filter((t) => t.name.startsWith('payments'));
    expect(payments.map((t) => t.type)).toEqual(['rabbitmq', 'prometheus']);
    expect(payments[0]?.metadata.vhostName).toBe('shop');
    expect(payments[1]?.metadata).toEqual({
      serverAddress: 'http://prometheus-operated.monitoring.svc:9090',
      query: 'max(sluice_queue_depth{queue="payments"})',
      threshold: '40',
      activationThreshold: '0',
    });
    expect(spec.fallback).toEqual({ failureThreshold: 3, replicas: 2 });
    expect(spec.advanced?.horizontalPodAutoscalerConfig.behavior).toEqual({
      scaleDown: {
        stabilizationWindowSeconds: 120,
        policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }],
      },
    });
  });

  it('renders a ServiceMonitor on the ops port and a PrometheusRule for dead-letter growth and a stuck backlog', async () => {
    const objects = await renderChart(args);
    expect(only(objects, 'ServiceMonitor').spec).toMatchObject({
      endpoints: [{ port: 'ops', path: '/metrics' }],
    });
    const rules = (
      only(objects, 'PrometheusRule').spec as { groups: { rules: { alert: string; expr: string }[] }[] }
    ).groups[0]?.rules;
    expect(rules?.map((r) => [r.alert, r.expr])).toEqual([
      ['SluiceDeadLettersGrowing', 'sum by (queue) (increase(sluice_messages_dead_lettered_total[10m])) > 0'],
      [
        'SluiceBacklogNotDraining',
        'min_over_time(max by (queue) (sluice_queue_depth)[15m:1m]) > 400 and deriv(max by (queue) (sluice_queue_depth)[15m:1m]) >= 0',
      ],
    ]);
  });

  it('adds keda.prometheus.extraSelector to the trigger queries, so another service queue of the same name is not read', async () => {
    const objects = await renderChart([...args, '--set', 'keda.prometheus.extraSelector=namespace="shop"']);
    const queries = triggersOf(objects)
      .filter((t) => t.type === 'prometheus')
      .map((t) => t.metadata.query);
    expect(queries).toContain('max(sluice_queue_depth{queue="payments", namespace="shop"})');
    expect(queries.every((q) => q?.endsWith(', namespace="shop"})'))).toBe(true);
  });

  it('adds prometheusRule.extraSelector to every alert query', async () => {
    const objects = await renderChart([...args, '--set', 'prometheusRule.extraSelector=namespace="shop"']);
    const rules = (only(objects, 'PrometheusRule').spec as { groups: { rules: { expr: string }[] }[] })
      .groups[0]?.rules;
    expect(rules?.[0]?.expr).toContain('sluice_messages_dead_lettered_total{namespace="shop"}[10m]');
    expect(rules?.[1]?.expr).toContain('max by (queue) (sluice_queue_depth{namespace="shop"})[15m:1m]');
  });
});

describe('the Service Bus variant', () => {
  it('renders one queue trigger per consumer: event handlers read the queue their subscriptions forward to', async () => {
    const objects = await renderChart(['-f', `${chartDir}/ci/servicebus-values.yaml`]);
    const triggers = triggersOf(objects);
    expect(triggers.every((t) => t.type === 'azure-servicebus')).toBe(true);
    expect(triggers.find((t) => t.metadata.queueName === 'payments')?.metadata).toEqual({
      queueName: 'payments',
      messageCount: '40',
      activationMessageCount: '0',
      namespace: 'sluice-demo',
    });
    expect(triggers.find((t) => t.metadata.queueName === 'orders.email')?.metadata).toEqual({
      queueName: 'orders.email',
      messageCount: '20',
      activationMessageCount: '0',
      namespace: 'sluice-demo',
    });
    expect(triggers).toHaveLength(6);
    expect(only(objects, 'TriggerAuthentication').spec).toEqual({
      secretTargetRef: [{ parameter: 'connection', name: 'servicebus-keda', key: 'connection' }],
    });
  });
});

describe('bad values', () => {
  it.each([
    [['--set', 'transport=kafka'], "at '/transport': value must be one of 'rabbitmq', 'azure-servicebus'"],
    [['--set', 'keda.maxReplicaCount=0'], "at '/keda/maxReplicaCount': minimum: got 0, want 1"],
    [
      ['--set', 'keda.rabbitmq.protocol=https'],
      "at '/keda/rabbitmq/protocol': value must be one of 'http', 'amqp'",
    ],
    [['--set', 'host.stopTimeoutSeconds=soon'], "at '/host/stopTimeoutSeconds': got string, want integer"],
    [['--set', 'consumers[0].queue=bad queue'], "at '/consumers/0/queue'"],
    [['--set', 'kedaa.enabled=true'], "additional properties 'kedaa' not allowed"],
    [
      ['--set', 'keda.behavior.scaleDown.selectPolicy=Most'],
      "at '/keda/behavior/scaleDown/selectPolicy': value must be one of 'Max', 'Min', 'Disabled'",
    ],
    [
      ['--set', 'keda.behavior.scaleUp.policies[0].type=Pod'],
      "at '/keda/behavior/scaleUp/policies/0': missing properties 'value', 'periodSeconds'",
    ],
    [
      ['--set', 'keda.behavior.scaleUp.stabilizationWindowSeconds=-5'],
      "at '/keda/behavior/scaleUp/stabilizationWindowSeconds': minimum: got -5, want 0",
    ],
    [['--set', 'keda.behavior.scaleDown.window=60'], "additional properties 'window' not allowed"],
    [['--set', 'podDisruptionBudget.maxUnavailable=-1'], "at '/podDisruptionBudget/maxUnavailable'"],
    [['--set', 'resources.limits.memory=lots'], "at '/resources/limits/memory': 'lots' does not match"],
    [['--set', 'prometheusRule.extraSelector=}'], "at '/prometheusRule/extraSelector': '}' does not match"],
    [['--set', 'keda.prometheus.extraSelector=}'], "at '/keda/prometheus/extraSelector': '}' does not match"],
  ])('%j fails with a message naming the value', async (args, message) => {
    await expect(renderChart(args)).rejects.toThrow(message);
  });

  it.each([
    [
      ['--set', 'terminationGracePeriodSeconds=25'],
      'terminationGracePeriodSeconds (25) must be above host.stopTimeoutSeconds (25)',
    ],
    [['--set', 'keda.minReplicaCount=11'], 'keda.minReplicaCount (11) must be <= keda.maxReplicaCount (10)'],
    [
      ['--set', 'keda.brokerTriggers=false', '--set', 'keda.prometheus.enabled=true'],
      'the prometheus trigger alone cannot wake a host at zero replicas',
    ],
    [
      [
        '--set',
        'keda.brokerTriggers=false',
        '--set',
        'keda.prometheus.enabled=true',
        '--set',
        'keda.minReplicaCount=1',
        '--set',
        'keda.idleReplicaCount=0',
      ],
      'keda.brokerTriggers is false with keda.idleReplicaCount 0: the prometheus trigger alone cannot wake a host at zero replicas',
    ],
    [['--set', 'keda.brokerTriggers=false'], 'the ScaledObject would have no trigger'],
    [['--set', 'consumers=null'], 'consumers is empty'],
  ])('%j fails a cross-value check with a message naming it', async (args, message) => {
    await expect(renderChart(args)).rejects.toThrow(message);
  });

  it('accepts the values the schema must not refuse: full behaviour rules, a percentage budget, numeric quantities', async () => {
    const objects = await renderChart([
      '--set',
      'keda.behavior.scaleUp.selectPolicy=Min',
      '--set',
      'keda.behavior.scaleUp.policies[0].type=Percent,keda.behavior.scaleUp.policies[0].value=50,keda.behavior.scaleUp.policies[0].periodSeconds=60',
      '--set-string',
      'keda.behavior.scaleDown.tolerance=0.05',
      '--set',
      'podDisruptionBudget.maxUnavailable=50%',
      '--set',
      'resources.limits.cpu=0.5',
      '--set',
      'prometheusRule.enabled=true,prometheusRule.extraSelector=namespace="shop"\\, job!~"x.*"',
    ]);
    for (const object of objects) validateObject(object);
    const spec = only(objects, 'ScaledObject').spec as unknown as ScaledObjectSpec;
    expect(spec.advanced?.horizontalPodAutoscalerConfig.behavior).toEqual({
      scaleUp: { selectPolicy: 'Min', policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] },
      scaleDown: { tolerance: '0.05' },
    });
  });

  it('keeps a given termination grace above the drain deadline', async () => {
    const objects = await renderChart(['--set', 'terminationGracePeriodSeconds=90']);
    const spec = only<{ spec: { template: { spec: { terminationGracePeriodSeconds: number } } } }>(
      objects,
      'Deployment',
    );
    expect(spec.spec.template.spec.terminationGracePeriodSeconds).toBe(90);
  });

  it('the object checks can fail: a ScaledObject without triggers, a Service with a named port number', () => {
    const scaledObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'x' },
      spec: { scaleTargetRef: { name: 'x' }, triggers: [] },
    };
    expect(() => validateObject(scaledObject)).toThrow('must NOT have fewer than 1 items');
    expect(() =>
      validateObject({
        ...scaledObject,
        spec: {
          ...scaledObject.spec,
          minReplicaCount: 5,
          maxReplicaCount: 2,
          triggers: [{ type: 'cpu', metadata: {} }],
        },
      }),
    ).toThrow('minReplicaCount must be less than or equal to maxReplicaCount');
    expect(() =>
      validateObject({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'x' },
        spec: { ports: [{ port: 'ops' }] },
      }),
    ).toThrow('Service x');
  });
});

describe('the chart README', () => {
  it('quotes the PromQL exactly as the chart renders it (the expressions live in templates/_promql.tpl)', async () => {
    const readme = readFileSync(`${chartDir}/README.md`, 'utf8');
    const objects = await renderChart([
      '-f',
      `${chartDir}/ci/rabbitmq-prometheus-values.yaml`,
      '--set',
      'prometheusRule.backlogThreshold=1000',
    ]);
    const rules =
      (only(objects, 'PrometheusRule').spec as { groups: { rules: { expr: string }[] }[] }).groups[0]
        ?.rules ?? [];
    const query = triggersOf(objects).find(
      (t) => t.type === 'prometheus' && t.metadata.query?.includes('"payments"'),
    )?.metadata.query;
    for (const expr of [...rules.map((r) => r.expr), query]) expect(readme).toContain(`\`${expr}\``);
  });

  it('lists every top-level value of values.yaml in its values table', () => {
    const readme = readFileSync(`${chartDir}/README.md`, 'utf8');
    const values = readFileSync(`${chartDir}/values.yaml`, 'utf8');
    const topLevel = [...values.matchAll(/^([A-Za-z]+):/gm)].map((m) => m[1]);
    for (const key of topLevel) expect(readme).toMatch(new RegExp(`^\\| .*\`${key}[.\`]`, 'm'));
  });
});
