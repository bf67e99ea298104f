/**
 * `sluice simulate` end to end on the local RabbitMQ: a spike of 20,000 ChargeCard commands, the
 * orders example's consumer host as real processes scaled by the simulated KEDA + HPA, back to zero.
 * Bounded: at most 170 s of wall-clock time, traffic to 127.0.0.1 only, in a vhost of its own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { TestVhost } from '../../rabbitmq/test/support/broker.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));

let vhost: TestVhost | undefined;
afterAll(async () => {
  await vhost?.delete();
});

it('scales real consumer processes out past one replica through a 20,000-message spike and back to zero, each message handled once', async () => {
  vhost = await TestVhost.create('sluice-sim');
  const out = mkdtempSync(join(tmpdir(), 'sluice-simulate-'));
  const { stdout } = await run(
    process.execPath,
    [
      `${root}packages/cli/bin/sluice.js`,
      'simulate',
      '--module',
      `${root}examples/orders/dist/sluice-app.js`,
      '--url',
      vhost.url,
      '--messages',
      '20000',
      '--out',
      out,
      '--max-seconds',
      '170',
    ],
    // The demo's gateway times out on every third call by default; off here, so that no message
    // ends in the dead-letter queue and every one of them must be handled exactly once.
    {
      env: { ...process.env, PAYMENT_GATEWAY_FAIL_EVERY: '0' },
      timeout: 190_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  expect(stdout).toContain(
    'handled exactly once: 20000 of 20000; dead-lettered after retries 0; handled twice 0; lost 0',
  );
  expect(stdout).toMatch(/^t= +\d+s \(model \d+s\) {2}sent \d+ {2}backlog/m); // progress lines

  const rows = readFileSync(join(out, 'simulation.csv'), 'utf8').trim().split('\n').slice(1);
  const samples = rows.map((row) => row.split(',').map(Number));
  const replicas = samples.map((s) => s[4] ?? 0);
  expect(Math.max(...replicas)).toBeGreaterThan(1);
  expect(replicas.at(-1)).toBe(0);
  expect(Math.max(...samples.map((s) => s[3] ?? 0))).toBeGreaterThan(1000);
  expect(samples.at(-1)?.[7]).toBe(20000);

  const svg = readFileSync(join(out, 'simulation.svg'), 'utf8');
  expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(svg.match(/<polyline/g)).toHaveLength(4);
  process.stdout.write(
    `${stdout
      .split('\n')
      .filter((l) => !l.startsWith('t='))
      .join('\n')}\n`,
  );
}, 200_000);
