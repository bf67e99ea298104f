/**
 * The orders demo's API tier for a load run: its built `main.js` (as `npm start` runs it) with
 * `ORDERS_CONSUME=0`, on free loopback ports, taking orders and publishing them; the consumers run
 * apart, scaled (see `consumers.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sluice/testing';

const demoMain = fileURLToPath(new URL('../../examples/orders/dist/main.js', import.meta.url));
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 60_000;

export interface OrdersApi {
  /** `http://127.0.0.1:<port>`: `POST /orders`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`: `/readyz` and `/metrics`. */
  readonly ops: string;
  /** Its output, appended. */
  readonly log: string;
  /** SIGTERM (the demo drains), SIGKILL after 60 s; resolves with the exit code. Idempotent. */
  stop(): Promise<number | null>;
}

async function isReady(ops: string): Promise<boolean> {
  try {
    return (await fetch(`${ops}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

/**
 * Starts the API on `amqpUrl`, its output in `dir`/api.log. Resolves once it answers `/readyz`;
 * stops it and rejects when it is not ready within 60 s.
 */
export async function startOrdersApi(amqpUrl: string, dir: string): Promise<OrdersApi> {
  const [port, opsPort] = [await freePort(), await freePort()];
  const log = join(dir, 'api.log');
  const output = openSync(log, 'a');
  const child: ChildProcess = spawn(process.execPath, [demoMain], {
    env: {
      ...process.env,
      AMQP_URL: amqpUrl,
      PORT: String(port),
      METRICS_PORT: String(opsPort),
      ORDERS_CONSUME: '0',
      SEED_ORDERS: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', output, output],
  });
  closeSync(output);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const api: OrdersApi = {
    url: `http://127.0.0.1:${port}`,
    ops: `http://127.0.0.1:${opsPort}`,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  while (!(await isReady(api.ops))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await api.stop();
      throw new Error(`the orders API was not ready within ${readyTimeoutMs} ms (see ${log})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return api;
}
