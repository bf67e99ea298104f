/**
 * Everything in one process: the consumer host and the HTTP API on one transport. This is how it runs
 * on the in-memory transport; on RabbitMQ (AMQP_URL) the two can run apart (`worker.ts`, `api.ts`).
 */
import { createApi } from './http-api.js';
import { logger, startOrExit, transportFromEnv } from './setup.js';
import { createWorkerHost } from './worker-host.js';

await startOrExit('starter', async () => {
  const host = createWorkerHost(transportFromEnv());
  const api = createApi(host.bus);
  host.on('stopping', () => api.close());
  await host.start();
  api.listen(Number(process.env.PORT ?? 3000), () =>
    logger.info({ port: process.env.PORT ?? 3000 }, 'API listening'),
  );
});
