/**
 * `sluice apply` and `sluice status` against a recording stand-in of the API endpoints they use
 * (fake-api-server.ts): what is sent and how answers are read, not a real API server's verdict.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeApiServer } from './fake-api-server.js';
import { ordersModule, sluice } from './cli-support.js';

let server: Awaited<ReturnType<typeof startFakeApiServer>> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('sluice apply', () => {
  it('server-side applies every rendered object with field manager "sluice"', async () => {
    server = await startFakeApiServer();
    const { code, stdout, stderr } = await sluice(
      'apply',
      '--module',
      ordersModule,
      '-n',
      'shop',
      '--kubeconfig',
      server.kubeconfig,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path).sort()).toEqual(
      [
        '/api/v1/namespaces/shop/serviceaccounts/orders',
        '/api/v1/namespaces/shop/services/orders',
        '/apis/apps/v1/namespaces/shop/deployments/orders',
        '/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders',
        '/apis/keda.sh/v1alpha1/namespaces/shop/triggerauthentications/orders-rabbitmq',
        '/apis/policy/v1/namespaces/shop/poddisruptionbudgets/orders',
      ].sort(),
    );
    for (const patch of patches) {
      expect(patch.contentType).toBe('application/apply-patch+yaml');
      expect(patch.query).toMatchObject({ fieldManager: 'sluice', force: 'true' });
      expect(patch.query.dryRun).toBeUndefined();
    }
    const deployment = patches.find((p) => p.path.endsWith('/deployments/orders'))?.body as {
      spec: { replicas?: number; template: { spec: { terminationGracePeriodSeconds: number } } };
    };
    expect(deployment.spec.replicas).toBeUndefined();
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(30);
    expect(stdout).toContain('ScaledObject shop/orders applied\n');
    expect(stdout.trim().split('\n')).toHaveLength(6);
  });

  it('--dry-run asks the server not to persist', async () => {
    server = await startFakeApiServer();
    const { code } = await sluice(
      'apply',
      '--module',
      ordersModule,
      '--kubeconfig',
      server.kubeconfig,
      '--dry-run',
    );
    expect(code).toBe(0);
    const patches = server.requests.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBe(6);
    expect(patches.every((p) => p.query.dryRun === 'All')).toBe(true);
  });

  it('a refused object is one line naming it, exit 1', async () => {
    server = await startFakeApiServer();
    const unreachable = server.kubeconfig;
    await server.close();
    server = undefined;
    const { code, stderr } = await sluice('apply', '--module', ordersModule, '--kubeconfig', unreachable);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^sluice apply: apply of [A-Za-z]+ default\/orders[^ ]* failed: [^\n]+\n$/);
  });
});

describe('sluice status', () => {
  const scaledObject = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      scaleTargetRef: { name: 'orders' },
      triggers: [
        { type: 'rabbitmq', metadata: { queueName: 'orders.email', value: '20' } },
        { type: 'rabbitmq', metadata: { queueName: 'payments', value: '40' } },
      ],
    },
    status: {
      hpaName: 'keda-hpa-orders',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'ScaledObjectReady',
          message: 'ScaledObject is defined correctly and is ready for scaling',
        },
        {
          type: 'Active',
          status: 'True',
          reason: 'ScalerActive',
          message: 'Scaling is performed because triggers are active',
        },
        {
          type: 'Fallback',
          status: 'False',
          reason: 'NoFallbackFound',
          message: 'No fallbacks are active on this scaled object',
        },
      ],
    },
  };
  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'keda-hpa-orders', namespace: 'shop' },
    status: {
      currentReplicas: 3,
      desiredReplicas: 5,
      currentMetrics: [
        {
          type: 'External',
          external: { metric: { name: 's0-rabbitmq-orders-email' }, current: { averageValue: '0' } },
        },
        {
          type: 'External',
          external: { metric: { name: 's1-rabbitmq-payments' }, current: { averageValue: '66666m' } },
        },
      ],
    },
  };

  it('shows the conditions, the HPA replicas and the depth per trigger', async () => {
    server = await startFakeApiServer({
      '/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders': scaledObject,
      '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/keda-hpa-orders': hpa,
    });
    const { code, stdout } = await sluice(
      'status',
      '--name',
      'orders',
      '-n',
      'shop',
      '--kubeconfig',
      server.kubeconfig,
    );
    expect(code).toBe(0);
    // payments: average 66.666 per replica x 3 replicas = 199.998 messages.
    expect(stdout).toBe(
      [
        'ScaledObject shop/orders',
        '  Ready: True (ScaledObjectReady) ScaledObject is defined correctly and is ready for scaling',
        '  Active: True (ScalerActive) Scaling is performed because triggers are active',
        '  Fallback: False (NoFallbackFound) No fallbacks are active on this scaled object',
        '  HPA keda-hpa-orders: 3 current, 5 desired replicas',
        '  rabbitmq orders.email: depth 0',
        '  rabbitmq payments: depth 199.998',
        '',
      ].join('\n'),
    );
    expect(
      server.requests
        .filter((r) => r.method === 'GET' && !r.path.startsWith('/api/v1') && r.path.split('/').length > 4)
        .map((r) => r.path),
    ).toEqual([
      '/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders',
      '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/keda-hpa-orders',
    ]);
  });

  it('says so when the HPA does not exist yet, and fails on one line for a missing ScaledObject', async () => {
    server = await startFakeApiServer({
      '/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders': scaledObject,
    });
    const status = (...extra: string[]) =>
      sluice('status', '--name', 'orders', '-n', 'shop', '--kubeconfig', server?.kubeconfig ?? '', ...extra);
    const text = (await status()).stdout;
    expect(text).toContain('  HPA: not created yet\n');
    expect(text).toContain('  rabbitmq payments: depth unknown (no replicas, or no metric yet)\n');
    const parsed = JSON.parse((await status('--json')).stdout) as Record<string, unknown>;
    expect(parsed.hpa).toBeUndefined();
    expect(parsed.triggers).toEqual([
      { type: 'rabbitmq', queue: 'orders.email' },
      { type: 'rabbitmq', queue: 'payments' },
    ]);
    const missing = await sluice(
      'status',
      '--name',
      'billing',
      '-n',
      'shop',
      '--kubeconfig',
      server.kubeconfig,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'sluice status: cannot read ScaledObject shop/billing: HTTP 404: /apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/billing not found\n',
    );
  });
});
