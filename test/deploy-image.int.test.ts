/**
 * deploy/Dockerfile's runtime tree, built as the image build does it but without Docker (none runs
 * here): its `RUN mkdir /prod ...` step, taken from the Dockerfile itself, with /src the repository
 * and /prod a temporary folder; then the orders example started from that tree (NODE_ENV=production)
 * on RabbitMQ, ready, and stopped by SIGTERM. Proves the tree holds every package the service imports.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startWatchedProcess } from '@sluice/testing';
import { afterAll, expect, it } from 'vitest';
import { TestVhost } from '../packages/rabbitmq/test/support/broker.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

let prod: string | undefined;
let vhost: TestVhost | undefined;
afterAll(async () => {
  if (prod !== undefined) await rm(prod, { recursive: true, force: true });
  await vhost?.delete();
});

/** The shell command of the Dockerfile's RUN instruction that starts with `start`. */
function runStep(dockerfile: string, start: string): string {
  const lines = dockerfile.split('\n');
  const first = lines.findIndex((l) => l.startsWith(`RUN ${start}`));
  if (first < 0) throw new Error(`deploy/Dockerfile has no "RUN ${start}" step`);
  const step: string[] = [];
  for (const line of lines.slice(first)) {
    step.push(line.replace(/\\$/, ''));
    if (!line.endsWith('\\')) break;
  }
  return step.join(' ').slice('RUN '.length);
}

it('the image runtime tree runs the orders example', async () => {
  const dockerfile = await readFile(join(root, 'deploy/Dockerfile'), 'utf8');
  prod = await mkdtemp(join(tmpdir(), 'sluice-image-'));
  // The build stage's compile (already done by the test run's build; a no-op then).
  await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'examples/orders'], {
    cwd: root,
    timeout: 180_000,
  });
  const tree = join(prod, 'app');
  const step = runStep(dockerfile, 'mkdir /prod').replaceAll('/prod', tree).replaceAll('"/src/', `"${root}`);
  await run('bash', ['-euo', 'pipefail', '-c', step], { cwd: root, timeout: 180_000 });

  vhost = await TestVhost.create('sluice-image');
  const service = startWatchedProcess(process.execPath, ['examples/orders/dist/main.js'], {
    cwd: tree,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      AMQP_URL: vhost.url,
      PORT: String(await freePort()),
      METRICS_PORT: String(await freePort()),
      SEED_ORDERS: '0',
      LOG_FORMAT: 'json',
    },
  });
  try {
    await service.waitFor('orders demo ready', 30_000, 'the orders example to start from the image tree');
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  } finally {
    service.kill();
  }
}, 300_000);
