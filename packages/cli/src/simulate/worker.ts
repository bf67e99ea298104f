/**
 * One replica of `sluice simulate` (and of the load test): the application's consumer host on
 * RabbitMQ, started from the application module's `hostOptions` export, as its container would run it.
 * It reports to the simulator over IPC: `{ type: 'ready', opsPort }` once consuming,
 * `{ type: 'settled', handled, deadLettered }` with the ids of the messages its handlers completed and
 * of those it dead-lettered. SIGTERM drains it (the host's own signal handling and stop deadline).
 *
 * Environment: SLUICE_SIM_MODULE (the application module), AMQP_URL, SLUICE_SIM_WORK_MS (time each
 * handler call also spends, standing in for real work; default 0), SLUICE_SIM_OPS (`1`: `/healthz`,
 * `/readyz` and `/metrics` on a free 127.0.0.1 port, reported as `opsPort`; default none).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsumerHost, type Middleware } from '@sluice/core';
import { loadApplication } from '@sluice/kube';
import { RabbitMqTransport } from '@sluice/rabbitmq';

type Report =
  | { type: 'ready'; opsPort: number | undefined }
  | { type: 'settled'; handled: string[]; deadLettered: string[] };

function report(message: Report): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

const env = process.env;
const app = await loadApplication(env.SLUICE_SIM_MODULE ?? '');
const workMs = Number(env.SLUICE_SIM_WORK_MS ?? 0);
const options = app.hostOptions(new RabbitMqTransport({ url: env.AMQP_URL }));

let handled: string[] = [];
let deadLettered: string[] = [];
const flush = async () => {
  if (handled.length === 0 && deadLettered.length === 0) return;
  const message: Report = { type: 'settled', handled, deadLettered };
  handled = [];
  deadLettered = [];
  await report(message);
};
const work: Middleware = async (invocation, next) => {
  if (workMs > 0) await sleep(workMs, undefined, { signal: invocation.signal }).catch(() => undefined);
  await next();
};

const host = new ConsumerHost({
  ...options,
  http: env.SLUICE_SIM_OPS === '1' ? { port: 0, host: '127.0.0.1' } : false,
  handleSignals: true,
  middleware: [...(options.middleware ?? []), work],
  // Reported before the process exits: nothing handled goes uncounted.
  shutdownHooks: [...(options.shutdownHooks ?? []), flush],
});
host.on('settled', (event) => {
  if (event.outcome === 'handled') handled.push(event.messageId);
  else if (event.outcome === 'dead-lettered') deadLettered.push(event.messageId);
});
setInterval(() => void flush(), 200).unref();
await host.start();
await report({ type: 'ready', opsPort: host.httpPort });
