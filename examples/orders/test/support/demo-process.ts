/**
 * The orders demo as `npm start` runs it (its built output) in a child process on free loopback ports,
 * with its log lines collected, for tests that run it as a user would.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChangeSignal, freePort } from '@sluice/testing';

const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));

export interface LogLine {
  msg: string;
  [field: string]: unknown;
}

/**
 * The demo as `npm start` runs it (built output), with its JSON log lines collected. `viaNpm` runs the
 * root `npm start` itself (npm's own banner lines are not JSON and are skipped).
 */
export async function startDemo(env: Record<string, string> = {}, { viaNpm = false } = {}) {
  const port = await freePort();
  const metricsPort = await freePort();
  const started = Date.now();
  const child = viaNpm
    ? spawn('npm', ['start', '--silent'], {
        cwd: repositoryRoot,
        env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(process.execPath, [main], {
        env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  const logs: LogLine[] = [];
  const output: string[] = [];
  const changed = new ChangeSignal();
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      output.push(line);
      if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
    }
    changed.notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output.push(...chunk.split('\n').filter((line) => line !== ''));
    changed.notify();
  });
  // 'close', not 'exit': by then stdout has been read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitForLog = (predicate: (line: LogLine) => boolean, what: string, timeoutMs = 10_000) =>
    changed.until(() => logs.find(predicate), timeoutMs, what);
  return {
    child,
    logs,
    output,
    waitForLog,
    exited,
    started,
    port,
    api: `http://127.0.0.1:${port}`,
    ops: `http://127.0.0.1:${metricsPort}`,
  };
}

/** The time of a log line (ISO 8601) in epoch ms. */
export const timeOf = (line: LogLine | undefined) => Date.parse(String(line?.time));

/** A valid order body for `POST /orders`. */
export const order = (totalAmount: number, cardToken = 'tok_visa') => ({
  customerEmail: 'test@example.com',
  items: [{ sku: 'thing', quantity: 1, unitPrice: totalAmount }],
  totalAmount,
  cardToken,
});

/** POSTs `body` as JSON. */
export const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
