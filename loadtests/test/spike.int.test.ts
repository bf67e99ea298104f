/**
 * `npm run loadtest:spike`, short and at a low peak: the whole path (the demo's API tier and its
 * consumers scaled from zero by the simulated KEDA + HPA on a vhost of their own, the driver, the
 * backlog and replica sampler, the consumer-side count by order id) runs and loses no accepted order.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const spike = fileURLToPath(new URL('../dist/spike.js', import.meta.url));
const outDir = mkdtempSync(join(tmpdir(), 'sluice-spike-test-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const lastLine =
  /^spike: sent (\d+), accepted (\d+), failed (\d+), handled (\d+), lost (\d+), p50 (\d+\.\d) ms, p99 (\d+\.\d) ms, backlog peak (\d+)$/;

it('runs a 12 s spike peaking at 100 requests/s, the consumers scaled out from zero, every accepted order handled by all its handlers', async () => {
  const child = spawn(process.execPath, [spike], {
    env: { ...process.env, LOADTEST_DURATION_S: '12', LOADTEST_PEAK_RPS: '100', LOADTEST_OUT_DIR: outDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));

  const lines = output.trimEnd().split('\n');
  const match = lastLine.exec(lines.at(-1) ?? '');
  expect(match, output).not.toBeNull();
  const [sent, accepted, failed, handled, lost] = match!.slice(1, 6).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  expect(sent).toBeGreaterThan(300);
  expect(accepted + failed).toBe(sent);
  expect(accepted).toBeGreaterThan(0);
  expect(lost, output).toBe(0);
  expect(exitCode).toBe(0);

  const files = readdirSync(outDir);
  const json = files.find((f) => f.endsWith('.json'));
  const svg = files.find((f) => f.endsWith('.svg'));
  const summary = JSON.parse(readFileSync(join(outDir, json!), 'utf8')) as {
    requests: { sent: number };
    lost: number;
    undrained: unknown[];
    deadLetteredOrders: string[];
    scaling: { mode: string; minReplicas: number; peakReplicas: number };
    samples: { replicas: number; replicasReady: number }[];
    seconds: unknown[];
  };
  expect(summary.requests.sent).toBe(sent);
  expect(summary.lost).toBe(0);
  expect(summary.undrained).toEqual([]);
  // Every accepted order was handled by all its handlers, or dead-lettered with its reason.
  expect(handled + summary.deadLetteredOrders.length).toBe(accepted);
  expect(summary.seconds.length).toBeGreaterThanOrEqual(11);
  expect(summary.samples.length).toBeGreaterThan(5);
  // The scaling reaction: no consumer before the orders came (minReplicaCount 0), then replicas that
  // the controllers set and that consumed.
  expect(summary.scaling.mode).toBe('keda-hpa-simulated');
  expect(summary.samples[0]?.replicas).toBe(0);
  expect(summary.scaling.peakReplicas).toBeGreaterThan(0);
  expect(Math.max(...summary.samples.map((s) => s.replicasReady))).toBeGreaterThan(0);
  const chart = readFileSync(join(outDir, svg!), 'utf8');
  expect(chart).toMatch(/^<svg [^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  expect(chart).toContain('Consumer replicas');
}, 240_000);
