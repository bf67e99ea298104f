/**
 * Replicas of the orders demo (its built `main.js`, as `npm start` runs it) on RabbitMQ, each on free
 * loopback ports with its own handled record, for a load run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@sluice/testing';

const demoMain = fileURLToPath(new URL('../../examples/orders/dist/main.js', import.meta.url));
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 60_000;

export interface DemoReplica {
  /** `http://127.0.0.1:<port>`: the orders API. */
  readonly api: string;
  /** `http://127.0.0.1:<port>`: `/readyz` and `/metrics`. */
  readonly ops: string;
  /** The file its handlers append `<consumer> <orderId>` lines to (`HANDLED_RECORD`). */
  readonly handledRecord: string;
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

function startReplica(index: number, amqpUrl: string, dir: string, api: number, ops: number): DemoReplica {
  const handledRecord = join(dir, `handled-${index}.log`);
  const output = openSync(join(dir, `demo-${index}.log`), 'a');
  const child: ChildProcess = spawn(process.execPath, [demoMain], {
    env: {
      ...process.env,
      AMQP_URL: amqpUrl,
      PORT: String(api),
      METRICS_PORT: String(ops),
      SEED_ORDERS: '0',
      LOG_LEVEL: 'warn',
      HANDLED_RECORD: handledRecord,
    },
    stdio: ['ignore', output, output],
  });
  closeSync(output);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    api: `http://127.0.0.1:${api}`,
    ops: `http://127.0.0.1:${ops}`,
    handledRecord,
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
}

/**
 * Starts `count` replicas on `amqpUrl`, their logs and handled records in `dir`. Resolves once every
 * one answers `/readyz`; stops them all and rejects when one is not ready within 60 s.
 */
export async function startDemoReplicas(count: number, amqpUrl: string, dir: string): Promise<DemoReplica[]> {
  const replicas: DemoReplica[] = [];
  for (let i = 0; i < count; i++)
    replicas.push(startReplica(i, amqpUrl, dir, await freePort(), await freePort()));
  const deadline = Date.now() + readyTimeoutMs;
  for (const [i, replica] of replicas.entries()) {
    while (!(await isReady(replica.ops))) {
      if (Date.now() > deadline) {
        await Promise.all(replicas.map((r) => r.stop()));
        throw new Error(
          `demo replica ${i} not ready within ${readyTimeoutMs} ms (see ${join(dir, `demo-${i}.log`)})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return replicas;
}

/** Whether each replica answers `/readyz` now. */
export async function readyCount(replicas: readonly DemoReplica[]): Promise<number> {
  const ready = await Promise.all(replicas.map((replica) => isReady(replica.ops)));
  return ready.filter(Boolean).length;
}
