/**
 * `sluice manifests` against the running orders demo on RabbitMQ: the ScaledObject's triggers name
 * exactly the queues the transport declared (the management API's list), dead-letter and retry queues
 * aside. And the `sluice` bin npm linked runs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '@sluice/testing';
import { afterAll, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { eventually, TestVhost } from '../../rabbitmq/test/support/broker.js';
import { ordersModule, sluice } from './cli-support.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';

let vhost: TestVhost | undefined;
let demo: ChildProcess | undefined;
afterAll(async () => {
  if (demo?.exitCode === null) demo.kill('SIGKILL');
  await vhost?.delete();
});

async function brokerQueues(name: string): Promise<string[]> {
  const url = new URL(`/api/queues/${encodeURIComponent(name)}?columns=name`, managementUrl);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  url.username = '';
  url.password = '';
  const response = await fetch(url, { headers: { authorization: auth } });
  if (!response.ok) throw new Error(`management API answered ${response.status}`);
  return ((await response.json()) as { name: string }[]).map((q) => q.name);
}

it('renders one trigger per queue the running demo declared on RabbitMQ, with the same names', async () => {
  vhost = await TestVhost.create('sluice-kube');
  demo = spawn(process.execPath, [`${root}examples/orders/dist/main.js`], {
    env: {
      ...process.env,
      AMQP_URL: vhost.url,
      PORT: String(await freePort()),
      METRICS_PORT: String(await freePort()),
      SEED_ORDERS: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  demo.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  await eventually(() => output.includes('"orders demo ready"'), 30_000, 'the demo to be ready');

  const declared = (await brokerQueues(vhost.name)).filter(
    (q) => !q.endsWith('.dlq') && !q.includes('.retry.'),
  );
  const { code, stdout } = await sluice('manifests', '--module', ordersModule);
  expect(code).toBe(0);
  const scaledObject = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind: string; spec: { triggers: { metadata: { queueName: string } }[] } })
    .find((o) => o.kind === 'ScaledObject');
  const triggerQueues = scaledObject?.spec.triggers.map((t) => t.metadata.queueName) ?? [];
  expect(triggerQueues).toHaveLength(6);
  expect([...triggerQueues].sort()).toEqual([...declared].sort());
  // Every dead-letter queue belongs to a queue with a trigger.
  const dlqs = (await brokerQueues(vhost.name)).filter((q) => q.endsWith('.dlq'));
  expect(dlqs.map((q) => q.slice(0, -'.dlq'.length)).every((q) => triggerQueues.includes(q))).toBe(true);
});

it('npx sluice runs the linked bin', async () => {
  const { stdout } = await run(process.execPath, [`${root}node_modules/.bin/sluice`, '--help']);
  expect(stdout).toMatch(/^Usage: sluice <command>/);
  expect(stdout).toContain('scaling');
});
