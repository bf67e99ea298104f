import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { chartDir, validateObject, type K8sObject } from '../../kube/test/support/chart.js';
import { ordersModule, sluice } from './cli-support.js';

describe('sluice usage', () => {
  it.each([
    [[]],
    [['--help']],
    [['manifests', '--help']],
    [['apply', '--help']],
    [['status', '--help']],
    [['scaling', '--help']],
    [['scaling', 'replay', '--help']],
    [['simulate', '--help']],
    [['dlq', '--help']],
  ])('%j prints help', async (argv) => {
    const { code, stdout } = await sluice(...argv);
    expect(stdout).toMatch(/^Usage: sluice/);
    expect(code).toBe(argv.length === 0 ? 2 : 0);
  });

  it.each([
    [['deploy'], 'sluice: unknown command "deploy" (sluice --help lists them)'],
    [['manifests'], 'sluice: manifests: --module is required'],
    [['manifests', '--modul', 'x'], "sluice: manifests: Unknown option '--modul'"],
    [
      ['manifests', '--module', 'x', '--transport', 'kafka'],
      'sluice: manifests: --transport must be "rabbitmq" or "azure-servicebus" (got "kafka")',
    ],
    [['status'], 'sluice: status: --name is required'],
    [['scaling', 'replay'], 'sluice: scaling replay: the scenario file is required'],
    [['scaling', 'rewind'], 'sluice: scaling: unknown command "rewind" (known: replay)'],
    [['simulate'], 'sluice: simulate: --module is required'],
    [
      ['simulate', '--module', 'm.js', '--messages', 'lots'],
      'sluice: simulate: --messages must be a positive integer (got "lots")',
    ],
    [['dlq', 'list'], 'sluice: dlq: expected <list|inspect|replay> <queue>'],
    [
      ['dlq', 'purge', 'payments'],
      'sluice: dlq: unknown command "purge" (known: list, inspect, replay, help)',
    ],
    [['dlq', 'inspect', 'payments'], 'sluice: dlq inspect: needs exactly one --id'],
    [['dlq', 'replay', 'payments'], 'sluice: dlq replay: needs --all or at least one --id (not both)'],
    [
      ['dlq', 'list', 'payments', '--limit', '0'],
      'sluice: dlq list: --limit must be a positive integer (got "0")',
    ],
  ])('%j is bad usage: exit 2 and one line naming it', async (argv, line) => {
    const { code, stderr } = await sluice(...argv);
    expect(code).toBe(2);
    expect(stderr).toBe(`${line}\n`);
  });

  it('a failure is one line and exit 1', async () => {
    const { code, stderr } = await sluice('manifests', '--module', 'no-such-module.js');
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^sluice manifests: cannot import the application module no-such-module\.js: [^\n]+\n$/,
    );
  });
});

describe('sluice manifests on the orders example', () => {
  it('generates the values the chart defaults hold (the chart documents the orders example)', async () => {
    const { code, stdout } = await sluice('manifests', '--module', ordersModule, '--values-only');
    expect(code).toBe(0);
    const generated = parseYaml(stdout) as Record<string, unknown>;
    const defaults = parseYaml(readFileSync(`${chartDir}/values.yaml`, 'utf8')) as Record<string, unknown>;
    expect(generated).toMatchObject({ fullnameOverride: 'orders', transport: 'rabbitmq' });
    expect(generated.consumers).toEqual(defaults.consumers);
    expect(generated.host).toEqual(defaults.host);
    expect(defaults.keda).toMatchObject(generated.keda as object);
  });

  it('renders valid objects with one rabbitmq trigger per consumed queue', async () => {
    const { code, stdout } = await sluice('manifests', '--module', ordersModule, '--namespace', 'shop');
    expect(code).toBe(0);
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
    for (const object of objects) validateObject(object);
    const scaledObject = objects.find((o) => o.kind === 'ScaledObject');
    const triggers = (scaledObject?.spec as { triggers: { type: string; metadata: { queueName: string } }[] })
      .triggers;
    expect(triggers.map((t) => [t.type, t.metadata.queueName])).toEqual([
      ['rabbitmq', 'orders.email'],
      ['rabbitmq', 'orders.inventory'],
      ['rabbitmq', 'orders.shipping'],
      ['rabbitmq', 'orders.vip-desk'],
      ['rabbitmq', 'orders.payments'],
      ['rabbitmq', 'payments'],
    ]);
    expect(objects.every((o) => o.metadata.namespace === 'shop')).toBe(true);
    expect(objects.find((o) => o.kind === 'Deployment')?.metadata.name).toBe('orders');
    expect(objects.some((o) => o.kind === 'Pod')).toBe(false); // the helm test hook is not a manifest
  });

  it('renders Service Bus triggers: one per consumer queue (events reach theirs through forwarding subscriptions)', async () => {
    const { stdout } = await sluice('manifests', '--module', ordersModule, '--transport', 'azure-servicebus');
    const scaledObject = parseAllDocuments(stdout)
      .map((d) => d.toJS() as K8sObject)
      .find((o) => o.kind === 'ScaledObject');
    const triggers = (scaledObject?.spec as { triggers: { metadata: Record<string, string> }[] }).triggers;
    expect(triggers.map((t) => t.metadata)).toEqual(
      [
        'orders.email',
        'orders.inventory',
        'orders.shipping',
        'orders.vip-desk',
        'orders.payments',
        'payments',
      ].map((queueName) => expect.objectContaining({ queueName })),
    );
    expect(triggers.some((t) => 'subscriptionName' in t.metadata)).toBe(false);
  });

  it('applies further values files over the generated ones, and reports a value the chart refuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-values-'));
    writeFileSync(join(dir, 'ok.yaml'), 'image:\n  repository: registry.local/orders\n  tag: "1.2.3"\n');
    writeFileSync(join(dir, 'bad.yaml'), 'keda:\n  pollingInterval: 0\n');
    const ok = await sluice('manifests', '--module', ordersModule, '-f', join(dir, 'ok.yaml'));
    expect(ok.stdout).toContain('image: registry.local/orders:1.2.3');
    const bad = await sluice('manifests', '--module', ordersModule, '-f', join(dir, 'bad.yaml'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^sluice manifests: helm template failed: .*at '\/keda\/pollingInterval': minimum: got 0, want 1[^\n]*\n$/,
    );
  });
});

describe('sluice scaling replay', () => {
  const write = (scenario: unknown) => {
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-scenario-')), 'scenario.json');
    writeFileSync(file, JSON.stringify(scenario));
    return file;
  };

  it('prints the replica series as JSON', async () => {
    // Scale-up limit as in scaling-simulator.test.ts: R 1 -> 4 -> 8 -> 10 at t = 0, 15, 30.
    const file = write({
      scaledObject: {
        minReplicaCount: 1,
        maxReplicaCount: 10,
        triggers: [{ type: 'rabbitmq', metadata: { queueName: 'q', mode: 'QueueLength', value: '10' } }],
      },
      initialReplicas: 1,
      metrics: [[[0, 100]]],
      durationSeconds: 30,
      hpaSyncSeconds: 15,
    });
    const { code, stdout } = await sluice('scaling', 'replay', file);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      replicas: [
        [0, 4],
        [15, 8],
        [30, 10],
      ],
    });
  });

  it('names the bad field of a scenario on one line, exit 1', async () => {
    const file = write({
      scaledObject: { triggers: [] },
      initialReplicas: 0,
      metrics: [],
      durationSeconds: 10,
    });
    const { code, stderr } = await sluice('scaling', 'replay', file);
    expect(code).toBe(1);
    expect(stderr).toBe(
      'sluice scaling: scenario.scaledObject: option "triggers" must be a non-empty array (got [])\n',
    );
  });
});
