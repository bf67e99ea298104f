/**
 * The orders demo as `npm start` runs it (its built output) in a child process on free loopback ports,
 * with its JSON log lines collected, for tests that run it like a user would.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ChangeSignal, freePort } from '@sluice/testing';

const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface LogLine {
  msg: string;
  [field: string]: unknown;
}

/** Starts the demo with `env` added to this process's environment (PORT and METRICS_PORT are free ports). */
export async function startDemo(env: Record<string, string> = {}) {
  const port = await freePort();
  const metricsPort = await freePort();
  const started = Date.now();
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: LogLine[] = [];
  const changed = new ChangeSignal();
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) logs.push(JSON.parse(line) as LogLine);
    changed.notify();
  });
  // 'close', not 'exit': by then stdout has been read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitForLog = (predicate: (line: LogLine) => boolean, what: string, timeoutMs = 10_000) =>
    changed.until(() => logs.find(predicate), timeoutMs, what);
  return {
    child,
    logs,
    waitForLog,
    exited,
    started,
    api: `http://127.0.0.1:${port}`,
    ops: `http://127.0.0.1:${metricsPort}`,
  };
}

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
